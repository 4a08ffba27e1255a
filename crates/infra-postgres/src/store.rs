//! Connecting, migrating and handing out the repositories.

use std::num::NonZeroUsize;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use domain::{MessageRepository, SearchRepository, StoreError, ThreadRepository};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::db::Db;
use crate::direct::{DirectOptions, DirectPool};
use crate::error::{CreateDirectory, UnsupportedUrl, store_error};
use crate::{SeaOrmMessageRepository, SeaOrmSearchRepository, SeaOrmThreadRepository};

/// A pooled connection idle for at least this long is pinged before it is handed out.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

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
    /// Most connections the store opens. On PostgreSQL they are split between the pool of
    /// single statements (every read, the append, most writes; see
    /// [`StoreOptions::statement_connections`]) and the pool of transactions
    /// ([`StoreOptions::transaction_connections`]). At least 1 per pool is used.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing with
    /// [`StoreError::Unavailable`]. On SQLite this is also the busy timeout: how long a
    /// writer waits for another writer's lock.
    pub acquire_timeout: Duration,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// PostgreSQL only: the longest one statement may run (its `statement_timeout`),
    /// waiting for locks included; a statement cancelled by it fails with
    /// [`StoreError::Unavailable`]. `None`: no limit (what migrations need). SQLite's
    /// waits are bounded by the busy timeout instead.
    pub statement_timeout: Option<Duration>,
}

impl StoreOptions {
    /// Cap of the default pool size; beyond it more connections rarely help one instance.
    pub const MAX_DEFAULT_CONNECTIONS: u32 = 32;

    /// `3 * cores + 2`, at most [`StoreOptions::MAX_DEFAULT_CONNECTIONS`]: on PostgreSQL
    /// `2 * cores + 2` of them for single statements, enough to keep every core busy while
    /// other statements wait on the network or on locks, and a quarter for transactions.
    pub fn default_max_connections() -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let cores = u32::try_from(cores).unwrap_or(u32::MAX);
        cores
            .saturating_mul(3)
            .saturating_add(2)
            .min(Self::MAX_DEFAULT_CONNECTIONS)
    }

    /// PostgreSQL: the connections of the pool that runs transactions (message edits and
    /// deletes, batches of more than 1,000 messages) and migrations: a quarter of
    /// `max_connections`, at least 1.
    pub fn transaction_connections(&self) -> u32 {
        (self.max_connections / 4).max(1)
    }

    /// PostgreSQL: the connections of the pool that runs single statements (see
    /// `Store`): `max_connections` less [`StoreOptions::transaction_connections`], at
    /// least 1.
    pub fn statement_connections(&self) -> u32 {
        self.max_connections
            .saturating_sub(self.transaction_connections())
            .max(1)
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: Self::default_max_connections(),
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// Numbers about connection pools at one moment; pools' numbers add up with `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool will open.
    pub max: u32,
}

impl std::ops::Add for PoolStats {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            size: self.size + other.size,
            idle: self.idle + other.idle,
            max: self.max + other.max,
        }
    }
}

impl std::iter::Sum for PoolStats {
    fn sum<I: Iterator<Item = Self>>(pools: I) -> Self {
        pools.fold(Self::default(), std::ops::Add::add)
    }
}

/// Connection pools to PostgreSQL or SQLite and the repositories over them.
///
/// On PostgreSQL, statements that stand alone (every read, the append, thread writes) run
/// on a pool that hands connections back without a round trip to the database, and
/// transactions on SeaORM's pool; SQLite has SeaORM's pool only. Cheap to clone (the pools
/// are shared). The repositories it hands out keep the pools alive; [`Store::close`] closes
/// them for all of them.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// How the statement pool's connections are opened (PostgreSQL), for
    /// [`Store::lazy_pool`].
    direct: Option<DirectOptions>,
}

impl Store {
    /// Opens a pool to `url` (`postgres://...`, `postgresql://...` or `sqlite:...`).
    ///
    /// SQLite connections use WAL journaling, `synchronous = FULL` (a 201 survives a power
    /// loss, not only a crash), foreign keys ON
    /// (required by `ON DELETE CASCADE`) and a busy timeout of `options.acquire_timeout`;
    /// the directory of the database file is created when missing. Whether a missing file is
    /// created is up to the URL (`?mode=rwc` creates it). Does not migrate: see
    /// [`Store::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached;
    /// [`StoreError::Unexpected`] for an unsupported or malformed URL or a directory that
    /// cannot be created.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let backend =
            Backend::from_url(url).ok_or_else(|| StoreError::unexpected(UnsupportedUrl))?;
        let mut connect = ConnectOptions::new(url.trim_start());
        let seaorm_connections = match backend {
            Backend::Postgres => options.transaction_connections(),
            Backend::Sqlite => options.max_connections.max(1),
        };
        connect
            .max_connections(seaorm_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.connect_timeout)
            // sqlx pings every connection it hands out by default: one more round trip per
            // query. Only connections idle for a while (which a restart, a proxy or a
            // firewall may have cut) are pinged; a busy one is used at once.
            .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
            // Statements are traced by SeaORM's spans; sqlx's own log would repeat each one
            // at INFO.
            .sqlx_logging(false);
        match backend {
            Backend::Postgres => {
                connect.set_application_name("chat-history");
                if let Some(timeout) = options.statement_timeout {
                    // Set at connection start, so it holds for every statement of the pool.
                    let millis = timeout.as_millis().max(1);
                    connect.map_sqlx_postgres_opts(move |pg| {
                        pg.options([("statement_timeout", format!("{millis}ms"))])
                    });
                }
            }
            Backend::Sqlite => {
                create_sqlite_directory(url.trim_start())?;
                let busy_timeout = options.acquire_timeout;
                connect.map_sqlx_sqlite_opts(move |sqlite| {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .foreign_keys(true)
                        .busy_timeout(busy_timeout)
                });
            }
        }
        let conn = Database::connect(connect).await.map_err(store_error)?;
        let (direct, pool) = match backend {
            Backend::Postgres => {
                let direct = DirectOptions::new(
                    url.trim_start(),
                    options.statement_timeout,
                    options.acquire_timeout,
                    options.connect_timeout,
                )?;
                let pool = DirectPool::new(&direct, options.statement_connections())?;
                (Some(direct), Some(pool))
            }
            Backend::Sqlite => (None, None),
        };
        tracing::debug!(backend = backend.as_str(), "connected to the database");
        Ok(Self {
            db: Db::new(conn, pool),
            direct,
        })
    }

    /// The same store with a statement pool of its own, of at most `max_connections`, which
    /// opens its connections on first use, from the task that needs one; the transaction
    /// pool stays shared. The HTTP server gives each of its worker threads one, so that
    /// every connection a request uses is driven by the thread that serves the request: a
    /// connection opened on one thread's event loop and used from another's costs a
    /// wake-up of both per statement.
    ///
    /// `None` for SQLite (its connections do blocking I/O on threads of their own, and an
    /// in-memory database lives only as long as its one pool).
    pub fn lazy_pool(&self, max_connections: u32) -> Option<Self> {
        let direct = self.direct.as_ref()?;
        let pool = DirectPool::new(direct, max_connections).ok()?;
        Some(Self {
            db: Db::new(self.db.conn().clone(), Some(pool)),
            direct: Some(direct.clone()),
        })
    }

    /// Applies pending migrations. On PostgreSQL this happens under an advisory lock, so
    /// several instances may call it at once (see [`migration::up_locked`]).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached, `Unexpected` when a migration
    /// fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migration::up_locked(self.db.conn())
            .await
            .map_err(store_error)
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db.backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// The thread repository over this store's pool.
    pub fn thread_repository(&self) -> Arc<dyn ThreadRepository> {
        Arc::new(SeaOrmThreadRepository::new(self.db.clone()))
    }

    /// The message repository over this store's pool.
    pub fn message_repository(&self) -> Arc<dyn MessageRepository> {
        Arc::new(SeaOrmMessageRepository::new(self.db.clone()))
    }

    /// The full-text search repository over this store's pool.
    pub fn search_repository(&self) -> Arc<dyn SearchRepository> {
        Arc::new(SeaOrmSearchRepository::new(self.db.clone()))
    }

    /// Closes the pool, waiting for connections in use to be returned. Repositories handed
    /// out earlier fail with `Unavailable` afterwards. A failure to close cleanly is
    /// logged, not returned: there is nothing left for the caller to do about it.
    pub async fn close(self) {
        if let Some(direct) = self.db.direct() {
            direct.close();
        }
        if let Err(err) = self.db.conn().clone().close().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
    }

    /// The current numbers of this store's pools added up, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        self.transaction_pool_stats() + self.statement_pool_stats().unwrap_or_default()
    }

    /// The current numbers of the statement pool alone (PostgreSQL): the part of
    /// [`Store::pool_stats`] that a store made by [`Store::lazy_pool`] has of its own.
    pub fn statement_pool_stats(&self) -> Option<PoolStats> {
        self.db.direct().map(DirectPool::stats)
    }

    /// The current numbers of SeaORM's pool alone: on PostgreSQL the transaction pool, on
    /// SQLite the only one.
    pub fn transaction_pool_stats(&self) -> PoolStats {
        let conn = self.db.conn();
        let (size, idle, max) = match self.db.backend() {
            DbBackend::Postgres => {
                let pool = conn.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => {
                let pool = conn.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStats {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// The pool, for this crate only: SeaORM types never leave it.
    #[allow(dead_code)]
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        self.db.conn()
    }
}

/// Creates the directory that will hold the SQLite database file, unless the database lives
/// in memory.
fn create_sqlite_directory(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(StoreError::unexpected)?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let file = options.get_filename();
    if in_memory || file.as_os_str().is_empty() {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if dir != Path::new("") && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|err| StoreError::unexpected(CreateDirectory(err)))
        }
        _ => Ok(()),
    }
}
