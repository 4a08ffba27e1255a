//! PostgreSQL connections for single statements, pooled without a round trip on release.
//!
//! sqlx's pool tests every connection when it goes back to the pool: it sends `Sync` and
//! waits for PostgreSQL's `ReadyForQuery` (there is no setting for it). For a request that
//! runs one statement that is a second round trip, a second wake-up of the PostgreSQL
//! backend and of the worker thread, and a connection held busy meanwhile: about 7 % of
//! the append throughput on two cores (docs/benchmarks.md). Single statements outside a
//! transaction therefore run on connections pooled by deadpool, which hands a connection
//! back without any I/O. Transactions keep SeaORM's pool: a transaction dropped half-way
//! must be rolled back before its connection is reused, which is what sqlx's release test
//! does.
//!
//! A connection is tested (the same `Sync` round trip) before it is handed out again only
//! when that can matter: after a statement that did not finish (an error, or a request
//! cancelled while waiting for PostgreSQL's answer; the test also reads what was left
//! unread), or after it sat idle for [`PING_IF_IDLE_FOR`] (a restart, a proxy or a firewall
//! may have cut it). A test that fails drops the connection and another one is opened.
//! A connection older than [`MAX_LIFETIME`] is closed instead of being reused (as sqlx's
//! pool does), so that a backend's caches do not grow for ever and a server moved behind
//! the same name is reached again. A connection unused for [`IDLE_TIMEOUT`] is closed by
//! a background task of the pool (as sqlx's pool does), so that a burst does not keep its
//! connections open.

use std::str::FromStr;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Pool, PoolError, RecycleError, RecycleResult, TimeoutType};
use domain::StoreError;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, Postgres};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{DbErr, QueryResult, RuntimeErr, Statement, Values};
use sea_query_sqlx::SqlxValues;

use crate::error::store_error;
use crate::store::{PING_IF_IDLE_FOR, PoolStats};

/// Connections older than this are replaced when they are next needed (sqlx's default).
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Connections unused for this long are closed (sqlx's default).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How often a pool looks for connections idle for longer than its idle timeout.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// How the connections of a [`DirectPool`] are opened.
#[derive(Debug, Clone)]
pub(crate) struct DirectOptions {
    connect: PgConnectOptions,
    acquire_timeout: Duration,
    connect_timeout: Duration,
    max_lifetime: Duration,
    idle_timeout: Duration,
}

impl DirectOptions {
    /// The options of `url` with the service's application name and, when given, the
    /// `statement_timeout` every statement runs under.
    pub(crate) fn new(
        url: &str,
        statement_timeout: Option<Duration>,
        acquire_timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(StoreError::unexpected)?
            .application_name("chat-history")
            // Statements are traced by the repositories' callers; sqlx would log each one.
            .disable_statement_logging();
        if let Some(timeout) = statement_timeout {
            let millis = timeout.as_millis().max(1);
            connect = connect.options([("statement_timeout", format!("{millis}ms"))]);
        }
        Ok(Self {
            connect,
            acquire_timeout,
            connect_timeout,
            max_lifetime: MAX_LIFETIME,
            idle_timeout: IDLE_TIMEOUT,
        })
    }
}

/// One pooled connection and whether its last statement ran to the end.
#[derive(Debug)]
pub(crate) struct DirectConnection {
    conn: PgConnection,
    /// False from the moment a statement is sent until its last row has been read.
    settled: bool,
}

/// Opens and tests the connections of a [`DirectPool`].
#[derive(Debug)]
pub(crate) struct Manager {
    connect: PgConnectOptions,
    max_lifetime: Duration,
}

impl managed::Manager for Manager {
    type Type = DirectConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<DirectConnection, sqlx::Error> {
        let conn = PgConnection::connect_with(&self.connect).await?;
        Ok(DirectConnection {
            conn,
            settled: true,
        })
    }

    async fn recycle(
        &self,
        conn: &mut DirectConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.age() >= self.max_lifetime {
            return Err(RecycleError::message(
                "the connection reached its maximum lifetime",
            ));
        }
        if !conn.settled || metrics.last_used() >= PING_IF_IDLE_FOR {
            conn.conn.ping().await?;
            conn.settled = true;
        }
        Ok(())
    }
}

/// A pool of PostgreSQL connections for single statements; see the module documentation.
/// Cheap to clone (the pool is shared). Opens its connections on first use.
#[derive(Clone)]
pub(crate) struct DirectPool {
    pool: Pool<Manager>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPool")
            .field("status", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl DirectPool {
    /// A pool of at most `max_connections` (at least 1); no connection is opened yet. When
    /// called from a Tokio runtime (always, in the service), a task on that runtime closes
    /// idle connections until the pool is dropped or closed.
    pub(crate) fn new(options: &DirectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let max = usize::try_from(max_connections.max(1)).unwrap_or(usize::MAX);
        let pool = Pool::builder(Manager {
            connect: options.connect.clone(),
            max_lifetime: options.max_lifetime,
        })
        .max_size(max)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .build()
        .map_err(StoreError::unexpected)?;
        let direct = Self {
            pool,
            idle_timeout: options.idle_timeout,
        };
        direct.reap_in_background();
        Ok(direct)
    }

    fn reap_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The task holds the pool weakly: dropping the last handle ends it.
        let weak = self.pool.weak();
        let idle_timeout = self.idle_timeout;
        runtime.spawn(async move {
            let mut every = tokio::time::interval(REAP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(pool) = weak.upgrade() else { break };
                if pool.is_closed() {
                    break;
                }
                Self { pool, idle_timeout }.close_idle().await;
            }
        });
    }

    /// Closes the connections not in use that have been idle for the idle timeout or
    /// longer, and returns how many.
    pub(crate) async fn close_idle(&self) -> usize {
        let idle_timeout = self.idle_timeout;
        let removed = self
            .pool
            .retain(|_, metrics| metrics.last_used() < idle_timeout)
            .removed;
        let closed = removed.len();
        for conn in removed {
            // A polite goodbye (Terminate), so that PostgreSQL does not log a lost client.
            if let Err(err) = conn.conn.close().await {
                tracing::debug!(error = %err, "closing an idle connection failed");
            }
        }
        closed
    }

    /// Runs one statement and returns its rows.
    ///
    /// # Errors
    /// As [`store_error`] classifies them: `Unavailable` when no connection could be had
    /// within the acquire timeout or PostgreSQL cannot be reached, `AlreadyExists` for a
    /// unique violation, `Unexpected` otherwise.
    pub(crate) async fn rows(&self, statement: Statement) -> Result<Vec<QueryResult>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.settled = false;
        let rows: Vec<PgRow> = bind(statement)
            .fetch_all(&mut conn.conn)
            .await
            .map_err(|err| store_error(DbErr::Query(RuntimeErr::SqlxError(err.into()))))?;
        conn.settled = true;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// Runs one statement and returns how many rows it changed.
    ///
    /// # Errors
    /// As for [`DirectPool::rows`].
    pub(crate) async fn execute(&self, statement: Statement) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.settled = false;
        let done = bind(statement)
            .execute(&mut conn.conn)
            .await
            .map_err(|err| store_error(DbErr::Exec(RuntimeErr::SqlxError(err.into()))))?;
        conn.settled = true;
        Ok(done.rows_affected())
    }

    /// Connections open, connections not in use, most connections.
    pub(crate) fn stats(&self) -> PoolStats {
        let status = self.pool.status();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PoolStats {
            size: count(status.size),
            idle: count(status.available),
            max: count(status.max_size),
        }
    }

    /// Refuses new statements and closes the connections not in use; those in use close
    /// when their statement ends.
    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

/// A SeaORM statement as a sqlx query, with its values bound (prepared and cached per
/// connection by sqlx).
fn bind(statement: Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = statement.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
}

/// A failure to get a connection: waiting too long, a connection that cannot be opened or
/// a closed pool all mean "try again later".
fn pool_error(err: PoolError<sqlx::Error>) -> StoreError {
    match err {
        PoolError::Backend(err) => store_error(DbErr::Conn(RuntimeErr::SqlxError(err.into()))),
        PoolError::Timeout(TimeoutType::Wait) => {
            store_error(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
        }
        PoolError::Timeout(_) | PoolError::Closed => store_error(DbErr::ConnectionAcquire(
            sea_orm::ConnAcquireErr::ConnectionClosed,
        )),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            StoreError::unexpected(DirectPoolMisconfigured)
        }
    }
}

/// The pool was built without what it needs (a programming error).
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL statement pool is misconfigured")]
struct DirectPoolMisconfigured;

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, TryGetable as _};

    /// The PostgreSQL server of the tests (no database of its own is needed here).
    fn url() -> String {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    fn new_pool(max: u32) -> DirectPool {
        DirectPool::new(&options(), max).expect("pool")
    }

    fn options() -> DirectOptions {
        DirectOptions::new(
            &url(),
            None,
            Duration::from_secs(30),
            Duration::from_secs(30),
        )
        .expect("options")
    }

    fn stats(size: u32, idle: u32, max: u32) -> PoolStats {
        PoolStats { size, idle, max }
    }

    fn statement(sql: &str) -> Statement {
        Statement::from_string(DbBackend::Postgres, sql)
    }

    async fn number(pool: &DirectPool, sql: &str) -> i32 {
        let rows = pool.rows(statement(sql)).await.expect("rows");
        assert_eq!(rows.len(), 1, "{sql}");
        i32::try_get_by(&rows[0], 0).expect("an int")
    }

    async fn backend_pid(pool: &DirectPool) -> i32 {
        number(pool, "SELECT pg_backend_pid()").await
    }

    #[tokio::test]
    async fn a_connection_goes_back_to_the_pool_and_is_used_again() {
        let pool = new_pool(1);
        let first = backend_pid(&pool).await;
        assert_eq!(backend_pid(&pool).await, first);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn a_connection_past_its_lifetime_is_replaced_when_next_needed() {
        let options = DirectOptions {
            max_lifetime: Duration::ZERO,
            ..options()
        };
        let pool = DirectPool::new(&options, 1).expect("pool");
        let first = backend_pid(&pool).await;
        assert_ne!(backend_pid(&pool).await, first);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn idle_connections_are_closed_and_opened_again_when_needed() {
        let options = DirectOptions {
            idle_timeout: Duration::ZERO,
            ..options()
        };
        let pool = DirectPool::new(&options, 2).expect("pool");
        let first = backend_pid(&pool).await;
        assert_eq!(pool.stats(), stats(1, 1, 2));
        assert_eq!(pool.close_idle().await, 1);
        assert_eq!(pool.stats(), stats(0, 0, 2));
        assert_ne!(backend_pid(&pool).await, first);
        // A connection in use is never closed under its statement.
        let held = pool.pool.get().await.expect("a connection");
        assert_eq!(pool.close_idle().await, 0);
        drop(held);
        assert_eq!(pool.close_idle().await, 1);
    }

    #[tokio::test]
    async fn a_statement_abandoned_while_running_does_not_leak_into_the_next() {
        let pool = new_pool(1);
        let pid = backend_pid(&pool).await;
        // The request is dropped while PostgreSQL still runs its statement (a client that
        // went away): the connection goes back to the pool with an answer still to come.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(100),
            pool.rows(statement("SELECT 41 AS n FROM pg_sleep(1)")),
        )
        .await;
        assert!(
            abandoned.is_err(),
            "the statement was expected to be cut short"
        );
        // The same connection answers the next statement with that statement's rows.
        assert_eq!(number(&pool, "SELECT 42").await, 42);
        assert_eq!(backend_pid(&pool).await, pid);
    }

    #[tokio::test]
    async fn a_failed_statement_leaves_the_connection_usable() {
        let pool = new_pool(1);
        let err = pool
            .rows(statement("SELECT 1 / 0"))
            .await
            .expect_err("division by zero");
        assert!(matches!(err, StoreError::Unexpected(_)), "{err:?}");
        assert_eq!(number(&pool, "SELECT 7").await, 7);
        let changed = pool
            .execute(statement("SELECT 1 UNION ALL SELECT 2"))
            .await
            .expect("execute");
        assert_eq!(changed, 2);
    }

    #[tokio::test]
    async fn a_connection_closed_by_the_server_is_replaced() {
        let pool = new_pool(1);
        let pid = backend_pid(&pool).await;
        // Another session ends this connection's backend and waits until it is gone.
        new_pool(1)
            .rows(statement(&format!(
                "SELECT pg_terminate_backend({pid}, 30000)"
            )))
            .await
            .expect("terminate");
        // The first statement after the cut may fail (the pool learns of it then), never
        // more than that one, and it fails as "unavailable" (503), not as a bug.
        match pool.rows(statement("SELECT 1")).await {
            Ok(_) => {}
            Err(err) => assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}"),
        }
        let replaced = backend_pid(&pool).await;
        assert_ne!(replaced, pid);
    }

    #[tokio::test]
    async fn a_closed_pool_answers_unavailable() {
        let pool = new_pool(1);
        backend_pid(&pool).await;
        pool.close();
        let err = pool.rows(statement("SELECT 1")).await.expect_err("closed");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
