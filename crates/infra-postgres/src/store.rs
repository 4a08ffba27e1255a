//! Connecting, migrating and handing out the repositories.

use std::num::NonZeroUsize;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use domain::{EventLog, MessageRepository, SearchRepository, StoreError, ThreadRepository};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::better_auth::{BetterAuthNames, BetterAuthSessionStore};
use crate::db::Db;
use crate::error::{CreateDirectory, UnsupportedUrl, store_error};
use crate::events::{EventSignals, SeaOrmEventLog};
use crate::pool::{PING_IF_IDLE_FOR, PgPool, PgPoolOptions, PoolStats, Pooler};
use crate::{SeaOrmMessageRepository, SeaOrmSearchRepository, SeaOrmThreadRepository};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (`postgres://` or `postgresql://`): production.
    Postgres,
    /// SQLite (`sqlite:`): the embedded default.
    Sqlite,
}

impl Backend {
    /// The backend a database URL names, if this adapter serves it.
    pub fn from_url(url: &str) -> Option<Self> {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if lower.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }

    /// `postgres` or `sqlite`, for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most connections the store holds at any moment, open or being opened: on
    /// PostgreSQL one pool serves every statement, every transaction and (in the same
    /// database) Better Auth session lookups; when it is 2 or more, one of them is kept
    /// for the events listener ([`Store::start_events`]) and the pool gets the rest.
    /// Migrations open their own (see [`Store::migrate`]). At least 1.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing with
    /// [`StoreError::Unavailable`]. On SQLite this is also the busy timeout: how long a
    /// writer waits for another writer's lock.
    pub acquire_timeout: Duration,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// PostgreSQL only: the longest one statement may run (its `statement_timeout`),
    /// waiting for locks included; a statement cancelled by it fails with
    /// [`StoreError::Unavailable`]. `None`: no limit. Migrations never run under it.
    /// SQLite's waits are bounded by the busy timeout instead.
    pub statement_timeout: Option<Duration>,
    /// PostgreSQL only: what sits between the service and the database; see [`Pooler`].
    pub pooler: Pooler,
}

impl StoreOptions {
    /// Cap of the default pool size; beyond it more connections rarely help one instance.
    pub const MAX_DEFAULT_CONNECTIONS: u32 = 32;

    /// `3 * cores + 2`, at most [`StoreOptions::MAX_DEFAULT_CONNECTIONS`]: enough to keep
    /// every core busy while other statements wait on the network, on locks or on a
    /// commit's flush (docs/benchmarks.md).
    pub fn default_max_connections() -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let cores = u32::try_from(cores).unwrap_or(u32::MAX);
        cores
            .saturating_mul(3)
            .saturating_add(2)
            .min(Self::MAX_DEFAULT_CONNECTIONS)
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: Self::default_max_connections(),
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: None,
            pooler: Pooler::None,
        }
    }
}

/// A database URL, which may hold a password: never printed.
#[derive(Clone)]
struct DatabaseUrl(String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl([redacted])")
    }
}

/// The database and the repositories over it.
///
/// On PostgreSQL every statement and transaction runs on one pool of at most
/// [`StoreOptions::max_connections`] (see the `pool` module); on SQLite on SeaORM's pool.
/// Cheap to clone (the pool is shared). The repositories it hands out keep the pool alive;
/// [`Store::close`] closes it for all of them.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// Which users have new events (see the `events` module).
    signals: EventSignals,
    /// PostgreSQL: whether `max_connections` left one connection for the events listener.
    events_connection: bool,
    /// Where migrations connect (PostgreSQL: a connection of their own, without the
    /// statement timeout).
    url: DatabaseUrl,
    connect_timeout: Duration,
}

impl Store {
    /// Opens the database at `url` (`postgres://...`, `postgresql://...` or `sqlite:...`)
    /// and checks that it answers.
    ///
    /// SQLite connections use WAL journaling, `synchronous = FULL` (a 201 survives a power
    /// loss, not only a crash), foreign keys ON (required by `ON DELETE CASCADE`) and a
    /// busy timeout of `options.acquire_timeout`; the directory of the database file is
    /// created when missing. Whether a missing file is created is up to the URL
    /// (`?mode=rwc` creates it). Does not migrate: see [`Store::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached;
    /// [`StoreError::Unexpected`] for an unsupported or malformed URL or a directory that
    /// cannot be created.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let url = url.trim_start();
        let backend =
            Backend::from_url(url).ok_or_else(|| StoreError::unexpected(UnsupportedUrl))?;
        let mut events_connection = false;
        let db = match backend {
            Backend::Postgres => {
                // One connection of the budget listens for other processes' events.
                events_connection = options.max_connections >= 2;
                let pool = PgPool::new(PgPoolOptions::new(
                    url,
                    options.max_connections - u32::from(events_connection),
                    options.statement_timeout,
                    options.acquire_timeout,
                    options.connect_timeout,
                    options.pooler,
                )?);
                // Fail at start, not at the first request, when the database is not there.
                pool.check_reachable().await?;
                Db::Postgres(pool)
            }
            Backend::Sqlite => Db::Sqlite(connect_sqlite(url, &options).await?),
        };
        tracing::debug!(backend = backend.as_str(), "connected to the database");
        Ok(Self {
            signals: EventSignals::new(&db),
            events_connection,
            db,
            url: DatabaseUrl(url.to_owned()),
            connect_timeout: options.connect_timeout,
        })
    }

    /// Migrations connect to `url` instead of the URL the store serves from (PostgreSQL: a
    /// direct connection when the service's goes through a transaction pooler, where the
    /// migrations' advisory lock and prepared statements would not hold).
    pub fn migrate_through(mut self, url: &str) -> Self {
        self.url = DatabaseUrl(url.trim_start().to_owned());
        self
    }

    /// Applies pending migrations. On PostgreSQL this happens on connections of its own
    /// (one for the migrations, one holding an advisory lock, both closed afterwards) and
    /// without the statement timeout, so several instances may call it at once (see
    /// [`migration::up_locked`]) and a long migration is not cut short.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached, `Unexpected` when a migration
    /// fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            // An in-memory database exists on the pool's connection only.
            Db::Sqlite(conn) if sqlite_in_memory(&self.url.0) => {
                migration::up_locked(conn).await.map_err(store_error)
            }
            Db::Sqlite(_) => {
                // On one connection of its own, closed afterwards, like on PostgreSQL:
                // every statement of a migration then sees the ones before it, whatever
                // the pool's connections were doing.
                let options = StoreOptions {
                    max_connections: 1,
                    ..StoreOptions::default()
                };
                let conn = connect_sqlite(&self.url.0, &options).await?;
                let migrated = migration::up_locked(&conn).await.map_err(store_error);
                if let Err(err) = conn.close().await {
                    tracing::warn!(error = %err, "closing the migration connection failed");
                }
                migrated
            }
            Db::Postgres(_) => {
                let mut connect = ConnectOptions::new(self.url.0.clone());
                connect
                    .max_connections(1)
                    .connect_timeout(self.connect_timeout)
                    // No maintenance task (see `connect_sqlite`): one connection, closed
                    // right after the migrations.
                    .idle_timeout(None::<Duration>)
                    .max_lifetime(None::<Duration>)
                    .sqlx_logging(false);
                connect.set_application_name("chat-history migrate");
                let conn = Database::connect(connect).await.map_err(store_error)?;
                let migrated = migration::up_locked(&conn).await.map_err(store_error);
                if let Err(err) = conn.close().await {
                    tracing::warn!(error = %err, "closing the migration connection failed");
                }
                migrated
            }
        }
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The thread repository over this store's pool.
    pub fn thread_repository(&self) -> Arc<dyn ThreadRepository> {
        Arc::new(SeaOrmThreadRepository::new(
            self.db.clone(),
            self.signals.clone(),
        ))
    }

    /// The message repository over this store's pool.
    pub fn message_repository(&self) -> Arc<dyn MessageRepository> {
        Arc::new(SeaOrmMessageRepository::new(
            self.db.clone(),
            self.signals.clone(),
        ))
    }

    /// The full-text search repository over this store's pool.
    pub fn search_repository(&self) -> Arc<dyn SearchRepository> {
        Arc::new(SeaOrmSearchRepository::new(self.db.clone()))
    }

    /// The events feed's outbox over this store's pool.
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        Arc::new(SeaOrmEventLog::new(self.db.clone()))
    }

    /// Which users have new events: signalled by this store's repositories after each
    /// write commits and, once [`Store::start_events`] ran on PostgreSQL, by every process
    /// sharing the database.
    pub fn event_signals(&self) -> EventSignals {
        self.signals.clone()
    }

    /// PostgreSQL: starts listening for other processes' writes, on one connection of
    /// [`StoreOptions::max_connections`] to the migrations' URL (a direct connection when
    /// the service's goes through a transaction pooler, where `LISTEN` does not hold).
    /// SQLite: nothing to do (one process per file).
    ///
    /// # Errors
    /// `Unexpected` when `max_connections` is 1 on PostgreSQL (no connection is left to
    /// listen on); `Unavailable` when the connection fails.
    pub async fn start_events(&self) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres && !self.events_connection {
            return Err(StoreError::unexpected(NoEventsConnection));
        }
        self.signals.start(&self.url.0).await
    }

    /// Better Auth's sessions read from this store's database, on its pool (PostgreSQL).
    ///
    /// # Errors
    /// `Unexpected` ([`crate::better_auth::UnsupportedDatabase`]) on SQLite, or for names
    /// that are not plain identifiers.
    pub fn better_auth_sessions(
        &self,
        names: BetterAuthNames,
    ) -> Result<BetterAuthSessionStore, StoreError> {
        BetterAuthSessionStore::over(self.db.clone(), names)
    }

    /// Closes the pool: waiters and later statements fail with `Unavailable`, idle
    /// connections are closed at once and those in use when they are handed back.
    pub async fn close(self) {
        match self.db {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(conn) => {
                if let Err(err) = conn.close().await {
                    tracing::warn!(error = %err, "closing the database pool failed");
                }
            }
        }
    }

    /// The pool's numbers now, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        match &self.db {
            Db::Postgres(pool) => pool.stats(),
            Db::Sqlite(conn) => {
                let pool = conn.get_sqlite_connection_pool();
                PoolStats {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                    waiting: 0,
                }
            }
        }
    }
}

/// SeaORM's pool over the SQLite file (or memory) of `url`.
async fn connect_sqlite(
    url: &str,
    options: &StoreOptions,
) -> Result<DatabaseConnection, StoreError> {
    create_sqlite_directory(url)?;
    let mut connect = ConnectOptions::new(url);
    let busy_timeout = options.acquire_timeout;
    connect
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_timeout(options.connect_timeout)
        // sqlx pings every connection it hands out by default: one more round trip per
        // query. Only connections idle for a while are pinged.
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        // Neither an idle timeout nor a maximum lifetime (sqlx's defaults are 10 and 30
        // minutes): with either set, sqlx 0.9 spawns a maintenance task whose sweep,
        // `for _ in 0..num_idle()`, runs without an await point, and `num_idle` can read
        // `usize::MAX` for a moment when a connection handed back is taken again before
        // it was counted; the task then spins for ever, and the runtime's drop waits for
        // it (launchbadge/sqlx#3645). With neither set and `min_connections` at 0, sqlx
        // spawns no maintenance task at all. A SQLite connection holds no server session:
        // idle ones (at most `max_connections`) stay open until the store closes.
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        // Statements are traced by SeaORM's spans; sqlx's own log would repeat each one.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy_timeout)
        });
    Database::connect(connect).await.map_err(store_error)
}

/// Whether a SQLite URL names an in-memory database.
fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Creates the directory that will hold the SQLite database file, unless the database lives
/// in memory.
fn create_sqlite_directory(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(StoreError::unexpected)?;
    let file = options.get_filename();
    if sqlite_in_memory(url) || file.as_os_str().is_empty() {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if dir != Path::new("") && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|err| StoreError::unexpected(CreateDirectory(err)))
        }
        _ => Ok(()),
    }
}

/// `DB_MAX_CONNECTIONS` of 1 on PostgreSQL leaves no connection to listen for events on.
#[derive(Debug, thiserror::Error)]
#[error(
    "one connection (DB_MAX_CONNECTIONS=1) leaves none for live events: on PostgreSQL one \
     connection of the budget listens for other processes' writes; allow at least 2"
)]
struct NoEventsConnection;

#[cfg(test)]
mod tests {
    use super::*;

    /// With an idle timeout or a maximum lifetime, sqlx 0.9 runs a maintenance task per
    /// pool whose sweep can spin for ever (see `connect_sqlite`); with neither, and no
    /// minimum of connections, it starts none.
    #[tokio::test]
    async fn sqlite_pools_run_no_maintenance_task() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        for options in [
            StoreOptions::default(),
            StoreOptions {
                max_connections: 1,
                ..StoreOptions::default()
            },
        ] {
            let conn = connect_sqlite(&url, &options).await.expect("connect");
            let pool = conn.get_sqlite_connection_pool().options();
            assert_eq!(pool.get_idle_timeout(), None);
            assert_eq!(pool.get_max_lifetime(), None);
            assert_eq!(pool.get_min_connections(), 0);
            conn.close().await.expect("close");
        }
    }
}
