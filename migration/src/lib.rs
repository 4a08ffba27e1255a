//! The chat-history database schema as sea-orm-migration migrations, for PostgreSQL and
//! SQLite alike.
//!
//! [`Migrator`] lists the migrations in order; [`up_locked`] applies the pending ones and is
//! what the service calls at start: on PostgreSQL it first takes an advisory lock so that
//! several instances starting at once migrate one after the other. The binary of this crate
//! (`cargo run -p migration -- up`) is the sea-orm-migration CLI over the same migrations.
//!
//! Architecture invariant: migrations declare their own identifiers (`DeriveIden` enums)
//! and never import the storage adapter's entities; a migration that has landed is never
//! edited. This crate depends on nothing of ours.

use sea_orm_migration::sea_orm::sqlx::postgres::PgConnection;
use sea_orm_migration::sea_orm::sqlx::{self, Connection as _};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbBackend, RuntimeErr};
use std::sync::Arc;

pub use sea_orm_migration::{DbErr, MigrationName, MigrationTrait, MigratorTrait};

mod m20261124_000001_create_chat_tables;
mod m20261126_000001_create_message_search;
mod m20261201_000001_message_owner;
mod m20261201_000002_search_by_owner;
mod m20261202_000001_message_tree;
mod m20261206_000001_message_parts;
mod m20261207_000001_events;
mod m20261208_000001_thread_expiry;
mod m20261209_000001_search_keys;
mod m20261210_000001_message_storage;

/// All migrations of the chat-history schema, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_chat_tables::Migration),
            Box::new(m20261126_000001_create_message_search::Migration),
            Box::new(m20261201_000001_message_owner::Migration),
            Box::new(m20261201_000002_search_by_owner::Migration),
            Box::new(m20261202_000001_message_tree::Migration),
            Box::new(m20261206_000001_message_parts::Migration),
            Box::new(m20261207_000001_events::Migration),
            Box::new(m20261208_000001_thread_expiry::Migration),
            Box::new(m20261209_000001_search_keys::Migration),
            Box::new(m20261210_000001_message_storage::MIGRATION),
        ]
    }
}

/// The PostgreSQL advisory lock key under which [`up_locked`] migrates ("chathist" in
/// ASCII). Advisory locks are scoped to one database, so the key only has to be unique
/// among the advisory locks taken in the service's own database.
pub const MIGRATION_LOCK_KEY: i64 = 0x6368_6174_6869_7374;

/// Applies all pending migrations.
///
/// On PostgreSQL the migrations run while a session-level advisory lock
/// (`pg_advisory_lock(MIGRATION_LOCK_KEY)`) is held on a dedicated connection opened for
/// that purpose, outside the pool: a second instance starting at the same time waits for
/// the first to finish and then finds nothing pending. If the process dies, its session
/// ends and PostgreSQL releases the lock. Each migration still runs in its own transaction,
/// as sea-orm-migration does it. SQLite needs no lock: its writers are serialized by the
/// database file lock, and the embedded mode runs one process per file.
///
/// # Errors
/// The [`DbErr`] of the failing connection, lock or migration.
pub async fn up_locked(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let mut lock_conn = PgConnection::connect_with(&options)
        .await
        .map_err(conn_err)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut lock_conn)
        .await
        .map_err(conn_err)?;
    let migrated = Migrator::up(db, None).await;
    // Closing the session would release the lock too; unlocking first is merely explicit.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut lock_conn)
        .await;
    let closed = lock_conn.close().await;
    migrated?;
    unlocked.map_err(conn_err)?;
    closed.map_err(conn_err)
}

/// Runs `statements` one after the other on a migration's connection: the body of the
/// migrations written as SQL text for each backend.
pub(crate) async fn execute_all(
    manager: &sea_orm_migration::SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait as _;
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// A migration written as SQL text for each backend, both ways.
pub(crate) struct BackendSql {
    pub(crate) postgres_up: &'static [&'static str],
    pub(crate) postgres_down: &'static [&'static str],
    pub(crate) sqlite_up: &'static [&'static str],
    pub(crate) sqlite_down: &'static [&'static str],
}

impl BackendSql {
    /// Runs this backend's statements for `up` (else down); other backends are an error.
    pub(crate) async fn run(
        &self,
        manager: &sea_orm_migration::SchemaManager<'_>,
        up: bool,
    ) -> Result<(), DbErr> {
        use sea_orm_migration::sea_orm::DbBackend;
        let statements = match (manager.get_database_backend(), up) {
            (DbBackend::Postgres, true) => self.postgres_up,
            (DbBackend::Postgres, false) => self.postgres_down,
            (DbBackend::Sqlite, true) => self.sqlite_up,
            (DbBackend::Sqlite, false) => self.sqlite_down,
            (other, _) => {
                return Err(DbErr::Migration(format!(
                    "chat-history supports PostgreSQL and SQLite, not {other:?}"
                )));
            }
        };
        execute_all(manager, statements).await
    }
}

/// A [`BackendSql`] migration named after the module that declares it (the module's file
/// name, as `DeriveMigrationName` names a migration): `module: module_path!()`.
pub(crate) struct SqlMigration {
    pub(crate) module: &'static str,
    pub(crate) sql: BackendSql,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.module.rsplit("::").next().unwrap_or(self.module)
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        self.sql.run(manager, true).await
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        self.sql.run(manager, false).await
    }
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_named_by_timestamp_in_order() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "m20261124_000001_create_chat_tables",
                "m20261126_000001_create_message_search",
                "m20261201_000001_message_owner",
                "m20261201_000002_search_by_owner",
                "m20261202_000001_message_tree",
                "m20261206_000001_message_parts",
                "m20261207_000001_events",
                "m20261208_000001_thread_expiry",
                "m20261209_000001_search_keys",
                "m20261210_000001_message_storage",
            ]
        );
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}
