//! Shared by the `api` and `chaos` test binaries (each includes this file with `#[path]`).

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// A connection of the test's own to the database at `url`, beside the service's: one
/// connection, and no sqlx maintenance task, whose sweep can spin for ever and hang the
/// test's runtime at shutdown (see `connect_sqlite` in the store).
pub async fn connect(url: impl Into<String>) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .sqlx_logging(false);
    Database::connect(options).await
}
