//! The one pool of PostgreSQL connections of a process: every statement, every
//! transaction and (when they live in the same database) Better Auth session lookups run
//! on it, and it never holds more than its maximum of connections, open or being opened.
//!
//! Why a pool of its own rather than sqlx's:
//! - **No round trip on release.** sqlx's pool tests every connection as it goes back
//!   (`Sync`, then wait for `ReadyForQuery`); for a request that runs one statement that is
//!   a second round trip and a second wake-up of the backend and of the worker thread. This
//!   pool hands a connection back with no I/O. It tests a connection (the same round trip)
//!   before handing it out again only when that can matter: after a statement that did not
//!   finish (an error, or a request dropped while PostgreSQL was answering; the test reads
//!   what was left unread), or after [`PING_IF_IDLE_FOR`] idle (a restart, a proxy or a
//!   firewall may have cut it).
//! - **Connections stay with the thread that opened them.** actix-web runs one
//!   single-threaded event loop per core, and a connection is driven by the loop that
//!   opened it: used from another thread, every statement wakes both threads
//!   (docs/benchmarks.md measured half the context switches per read, and 1.6x the reads,
//!   with connections kept per thread). A request therefore takes an idle connection of its
//!   own thread first, opens a new one while the pool is below its maximum, and only then
//!   borrows an idle connection of another thread. No request waits while a connection of
//!   the process sits idle, and the maximum holds for the whole process.
//! - **Transactions dropped half-way are rolled back before reuse.** A [`PgTransaction`]
//!   that is dropped without `commit` (a request cancelled by its client) rolls back at
//!   once on a task of its own, and a connection still marked as inside a transaction is
//!   rolled back before it is handed out again, whatever happened in between.
//!
//! - **Urgent statements go first.** A statement run with [`Priority::Urgent`] (the
//!   events feed's reads, whose delay is every subscriber's) takes the next connection
//!   handed back, ahead of requests already waiting: under a full load the feed does not
//!   queue behind the writes it reports.
//!
//! Connections older than [`MAX_LIFETIME`] are replaced when next needed, and a background
//! task closes those unused for [`IDLE_TIMEOUT`] (both sqlx's defaults), so that a burst
//! does not keep its connections open and backends' caches do not grow for ever.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use domain::StoreError;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, Postgres};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{Statement, Values};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, oneshot};

use crate::error::{PoolClosed, PoolTimedOut, sqlx_error};

/// A pooled connection idle for at least this long is tested before it is handed out.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connections older than this are replaced when they are next needed (sqlx's default).
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Connections unused for this long are closed (sqlx's default).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How often a pool looks for connections idle for longer than its idle timeout.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// Numbers about a connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections open (idle or in use) or being opened.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool will hold at once.
    pub max: u32,
    /// Requests waiting for a connection.
    pub waiting: u32,
}

/// What sits between the service and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// Nothing, or a pooler in session mode: each connection is one server session.
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`, most hosted
    /// poolers): a server connection is this connection's only within a transaction. So
    /// every statement runs in an explicit transaction, as the unnamed prepared statement
    /// (nothing named outlives a transaction), and the statement timeout and `jit` are set
    /// with `SET LOCAL` in the same round trip as `BEGIN` (poolers refuse or drop the
    /// `options` startup parameter). A statement then costs four round trips instead of one.
    Transaction,
}

/// How the connections of a [`PgPool`] are opened and kept.
#[derive(Debug, Clone)]
pub(crate) struct PgPoolOptions {
    pub(crate) connect: PgConnectOptions,
    pub(crate) pooler: Pooler,
    /// What starts a transaction: `BEGIN`, with the `SET LOCAL`s of `jit` and the statement
    /// timeout behind a transaction pooler.
    begin: String,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) idle_timeout: Duration,
}

impl PgPoolOptions {
    /// The options of `url` with the service's application name, PostgreSQL's JIT
    /// compilation off and, when given, the `statement_timeout` every statement runs under.
    ///
    /// JIT is off because it costs a short statement more than it saves: PostgreSQL
    /// compiles a statement whose estimated cost passes `jit_above_cost` (100,000 by
    /// default), whether or not it then runs long. A search statement tried in round 11 of
    /// docs/benchmarks.md passed it for a user with a long history and spent 15 to 40 ms
    /// compiling for 2 ms of running; any statement estimated over a large user's rows can.
    pub(crate) fn new(
        url: &str,
        max_connections: u32,
        statement_timeout: Option<Duration>,
        acquire_timeout: Duration,
        connect_timeout: Duration,
        pooler: Pooler,
    ) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(StoreError::unexpected)?
            .application_name("chat-history")
            // Statements are traced by the repositories' callers; sqlx would log each one
            // (with its bound values: session tokens, message content).
            .disable_statement_logging();
        let mut settings = vec![("jit", "off".to_owned())];
        if let Some(timeout) = statement_timeout {
            let millis = timeout.as_millis().max(1);
            settings.push(("statement_timeout", format!("{millis}ms")));
        }
        let mut begin = "BEGIN".to_owned();
        match pooler {
            Pooler::None => connect = connect.options(settings),
            Pooler::Transaction => {
                for (name, value) in settings {
                    begin.push_str(&format!("; SET LOCAL {name} = '{value}'"));
                }
            }
        }
        Ok(Self {
            connect,
            pooler,
            begin,
            max_connections: max_connections.max(1),
            acquire_timeout,
            connect_timeout,
            max_lifetime: MAX_LIFETIME,
            idle_timeout: IDLE_TIMEOUT,
        })
    }
}

/// One open connection and what the pool must know about it.
#[derive(Debug)]
struct Conn {
    pg: PgConnection,
    /// The thread whose event loop opened it (and so drives its socket).
    home: ThreadId,
    opened: Instant,
    /// False from the moment a statement is sent until its last row has been read.
    settled: bool,
    /// True from `BEGIN` until `COMMIT` or `ROLLBACK` has been answered.
    in_transaction: bool,
}

impl Conn {
    /// Runs `work` on the connection, which counts as unsettled until `work` has read
    /// PostgreSQL's whole answer (a future dropped half-way leaves it unsettled, and the
    /// pool tests it before reuse).
    async fn settle<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        self.settled = false;
        let done = work(&mut self.pg).await.map_err(sqlx_error)?;
        self.settled = true;
        Ok(done)
    }

    /// Starts, commits or rolls back a transaction and records whether one is open once
    /// PostgreSQL has answered (`BEGIN` marks it open before it is sent, so that a
    /// connection dropped meanwhile is rolled back before reuse).
    async fn transaction_control(
        &mut self,
        control: Control,
        options: &PgPoolOptions,
    ) -> Result<(), StoreError> {
        let begins = control == Control::Begin;
        if begins {
            self.in_transaction = true;
        }
        let sql = match control {
            Control::Begin => options.begin.as_str(),
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        };
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        self.settle(async |pg| sqlx::raw_sql(sql).execute(pg).await.map(drop))
            .await?;
        self.in_transaction = begins;
        Ok(())
    }
}

/// The transaction control statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Begin,
    Commit,
    Rollback,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Connections open or being opened, idle or in use.
    open: usize,
    /// Idle connections, the most recently used last.
    idle: VecDeque<Idle>,
    closed: bool,
}

/// Who gets a connection first when none is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// In the order of arrival.
    Normal,
    /// Before every [`Priority::Normal`] waiter: the next connection handed back.
    Urgent,
}

#[derive(Debug)]
struct Inner {
    options: PgPoolOptions,
    max: usize,
    /// One permit per connection in use: holding one guarantees that an idle connection
    /// exists or that fewer than `max` are open.
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    waiting: AtomicUsize,
    /// Urgent waiters, oldest first: a permit given back goes to the first one still
    /// waiting instead of to the semaphore's queue.
    urgent: Mutex<VecDeque<oneshot::Sender<OwnedSemaphorePermit>>>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn urgent(&self) -> MutexGuard<'_, VecDeque<oneshot::Sender<OwnedSemaphorePermit>>> {
        self.urgent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives a permit back: to the oldest urgent waiter still waiting, else to the
    /// semaphore (and so to the oldest normal waiter).
    fn give_back(&self, mut permit: OwnedSemaphorePermit) {
        loop {
            let Some(waiter) = self.urgent().pop_front() else {
                return;
            };
            // A waiter that stopped waiting (it got a permit from the semaphore, or timed
            // out) hands the permit back here: try the next one.
            match waiter.send(permit) {
                Ok(()) => return,
                Err(back) => permit = back,
            }
        }
    }
}

/// The pool; see the module documentation. Cheap to clone (the pool is shared). Opens its
/// connections on first use.
#[derive(Debug, Clone)]
pub(crate) struct PgPool {
    inner: Arc<Inner>,
}

/// What an acquirer found under the lock.
enum Found {
    Idle(Idle),
    Room,
}

/// Counts a waiter for as long as it lives (also when its future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PgPool {
    /// A pool under `options`; no connection is opened yet. When called from a Tokio
    /// runtime (always, in the service), a task on that runtime closes idle connections
    /// until the pool is dropped or closed.
    pub(crate) fn new(options: PgPoolOptions) -> Self {
        let max = usize::try_from(options.max_connections.max(1)).unwrap_or(usize::MAX);
        let pool = Self {
            inner: Arc::new(Inner {
                options,
                max,
                permits: Arc::new(Semaphore::new(max)),
                state: Mutex::new(State::default()),
                waiting: AtomicUsize::new(0),
                urgent: Mutex::new(VecDeque::new()),
            }),
        };
        pool.reap_in_background();
        pool
    }

    fn reap_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The task holds the pool weakly: dropping the last handle ends it.
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut every = tokio::time::interval(REAP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if inner.state().closed {
                    break;
                }
                Self { inner }.close_idle().await;
            }
        });
    }

    /// A connection for one statement or one transaction.
    ///
    /// # Errors
    /// `Unavailable` when none could be had within the acquire timeout, when the pool is
    /// closed, or when PostgreSQL cannot be reached.
    pub(crate) async fn acquire(&self) -> Result<PooledConn, StoreError> {
        self.acquire_as(Priority::Normal).await
    }

    /// A connection, waited for with `priority` when none is free.
    ///
    /// # Errors
    /// As for [`PgPool::acquire`].
    pub(crate) async fn acquire_as(&self, priority: Priority) -> Result<PooledConn, StoreError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.options.acquire_timeout;
        let permit = match inner.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => {
                return Err(StoreError::Unavailable(Box::new(PoolClosed)));
            }
            Err(TryAcquireError::NoPermits) => {
                let _waiting = Waiting::new(&inner.waiting);
                let wait = self.wait_for_permit(priority);
                match tokio::time::timeout(inner.options.acquire_timeout, wait).await {
                    Ok(Some(permit)) => permit,
                    Ok(None) => return Err(StoreError::Unavailable(Box::new(PoolClosed))),
                    Err(_) => return Err(StoreError::Unavailable(Box::new(PoolTimedOut))),
                }
            }
        };
        self.acquire_with(permit, deadline).await
    }

    /// Waits for a permit: in the semaphore's queue, and when urgent also first in line
    /// for the next one given back (whichever comes first). `None`: the pool closed.
    async fn wait_for_permit(&self, priority: Priority) -> Option<OwnedSemaphorePermit> {
        let queued = self.inner.permits.clone().acquire_owned();
        if priority == Priority::Normal {
            return queued.await.ok();
        }
        let (sender, receiver) = oneshot::channel();
        self.inner.urgent().push_back(sender);
        // Given back between the failed try and the registration: the semaphore has it.
        tokio::select! {
            biased;
            Ok(permit) = receiver => Some(permit),
            permit = queued => permit.ok(),
        }
    }

    /// Opens a connection and closes it again: whether PostgreSQL can be reached (at
    /// start). The connection is not kept: it would belong to the thread that starts the
    /// service, not to a thread that serves requests.
    ///
    /// # Errors
    /// As for [`PgPool::acquire`].
    pub(crate) async fn check_reachable(&self) -> Result<(), StoreError> {
        let mut pooled = self.acquire().await?;
        if let Some(conn) = pooled.conn.take() {
            close_politely(conn);
        }
        Ok(())
    }

    /// A connection for the holder of `permit`: an idle one of this thread, else a new
    /// one while the pool is below its maximum, else an idle one of another thread (the
    /// permit guarantees there is one). A dead idle connection is dropped and the search
    /// goes on.
    async fn acquire_with(
        &self,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
    ) -> Result<PooledConn, StoreError> {
        let inner = &self.inner;
        let home = std::thread::current().id();
        let mut permit = Some(permit);
        loop {
            let found = {
                let mut state = inner.state();
                if state.closed {
                    return Err(StoreError::Unavailable(Box::new(PoolClosed)));
                }
                let own = state.idle.iter().rposition(|idle| idle.conn.home == home);
                match own {
                    Some(i) => state.idle.remove(i).map(Found::Idle),
                    None if state.open < inner.max => {
                        state.open += 1;
                        Some(Found::Room)
                    }
                    None => state.idle.pop_back().map(Found::Idle),
                }
            };
            let Some(found) = found else {
                // Cannot happen while the permits count connections in use; answered as
                // a timeout rather than trusted blindly.
                return Err(StoreError::Unavailable(Box::new(PoolTimedOut)));
            };
            // From here the slot is counted in `open`: the guard gives it back if this
            // future is dropped or the connection turns out to be dead.
            let mut slot = PooledConn {
                conn: None,
                pool: inner.clone(),
                permit: permit.take(),
            };
            match found {
                Found::Idle(idle) => {
                    if let Some(conn) = self.check(idle).await {
                        slot.conn = Some(conn);
                        return Ok(slot);
                    }
                }
                Found::Room => {
                    slot.conn = Some(self.open(home).await?);
                    return Ok(slot);
                }
            }
            permit = slot.permit.take();
            drop(slot);
            if Instant::now() >= deadline {
                return Err(StoreError::Unavailable(Box::new(PoolTimedOut)));
            }
        }
    }

    /// Opens a connection from this thread, within the connect timeout (the acquire
    /// timeout bounds the wait for a free slot, not the opening itself).
    async fn open(&self, home: ThreadId) -> Result<Conn, StoreError> {
        let options = &self.inner.options;
        let limit = options.connect_timeout;
        let pg =
            match tokio::time::timeout(limit, PgConnection::connect_with(&options.connect)).await {
                Ok(Ok(pg)) => pg,
                // Whatever the reason (refused, unknown database, authentication, too many
                // clients), a connection that cannot be opened means "try again later".
                Ok(Err(err)) => return Err(StoreError::Unavailable(Box::new(err))),
                Err(_) => return Err(StoreError::Unavailable(Box::new(PoolTimedOut))),
            };
        Ok(Conn {
            pg,
            home,
            opened: Instant::now(),
            settled: true,
            in_transaction: false,
        })
    }

    /// An idle connection made ready for reuse, or `None` when it is too old or dead.
    async fn check(&self, idle: Idle) -> Option<Conn> {
        let Idle { mut conn, since } = idle;
        if conn.opened.elapsed() >= self.inner.options.max_lifetime {
            close_politely(conn);
            return None;
        }
        let limit = self.inner.options.connect_timeout;
        let ready = if conn.in_transaction {
            // A transaction left open (its rollback could not run): end it before anyone
            // else sees this connection.
            tokio::time::timeout(
                limit,
                conn.transaction_control(Control::Rollback, &self.inner.options),
            )
            .await
        } else if !conn.settled || since.elapsed() >= PING_IF_IDLE_FOR {
            tokio::time::timeout(limit, conn.settle(async |pg| pg.ping().await)).await
        } else {
            return Some(conn);
        };
        match ready {
            Ok(Ok(())) => Some(conn),
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "a pooled connection failed its test; replacing it");
                None
            }
            Err(_) => None,
        }
    }

    /// Closes the connections not in use that have been idle for the idle timeout or
    /// longer, and returns how many.
    pub(crate) async fn close_idle(&self) -> usize {
        let idle_timeout = self.inner.options.idle_timeout;
        let removed: Vec<Conn> = {
            let mut state = self.inner.state();
            let (keep, remove): (VecDeque<Idle>, VecDeque<Idle>) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|idle| idle.since.elapsed() < idle_timeout);
            state.idle = keep;
            state.open -= remove.len();
            remove.into_iter().map(|idle| idle.conn).collect()
        };
        let closed = removed.len();
        for conn in removed {
            // A polite goodbye (Terminate), so that PostgreSQL does not log a lost client.
            if let Err(err) = conn.pg.close().await {
                tracing::debug!(error = %err, "closing an idle connection failed");
            }
        }
        closed
    }

    /// Connections open, idle, the maximum and the waiters.
    pub(crate) fn stats(&self) -> PoolStats {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let state = self.inner.state();
        PoolStats {
            size: count(state.open),
            idle: count(state.idle.len()),
            max: count(self.inner.max),
            waiting: count(self.inner.waiting.load(Ordering::Relaxed)),
        }
    }

    /// Refuses new work, wakes the waiters (with `Unavailable`) and closes the connections
    /// not in use; those in use close when they are handed back.
    pub(crate) async fn close(&self) {
        let idle: Vec<Conn> = {
            let mut state = self.inner.state();
            state.closed = true;
            let idle: Vec<Conn> = state.idle.drain(..).map(|idle| idle.conn).collect();
            state.open -= idle.len();
            idle
        };
        self.inner.permits.close();
        // Their receivers end: the waiters see the closed semaphore.
        self.inner.urgent().clear();
        for conn in idle {
            let _ = conn.pg.close().await;
        }
    }

    /// Runs one statement on a pooled connection and returns its rows.
    ///
    /// # Errors
    /// As [`sqlx_error`] classifies them; `Unavailable` also when no connection could be
    /// had.
    pub(crate) async fn fetch_all(&self, statement: Statement) -> Result<Vec<PgRow>, StoreError> {
        self.fetch_all_as(statement, Priority::Normal).await
    }

    /// Runs one statement on a pooled connection waited for with `priority`, and returns
    /// its rows.
    ///
    /// # Errors
    /// As for [`PgPool::fetch_all`].
    pub(crate) async fn fetch_all_as(
        &self,
        statement: Statement,
        priority: Priority,
    ) -> Result<Vec<PgRow>, StoreError> {
        if self.inner.options.pooler == Pooler::Transaction {
            let mut txn = self.begin_as(priority).await?;
            let rows = txn.fetch_all(statement).await?;
            txn.commit().await?;
            return Ok(rows);
        }
        self.acquire_as(priority)
            .await?
            .fetch_all(statement, Prepare::Cached)
            .await
    }

    /// Runs one statement planned for its bound values (see [`Prepare::Unnamed`]) and
    /// returns its rows.
    ///
    /// # Errors
    /// As for [`PgPool::fetch_all`].
    pub(crate) async fn fetch_all_planned_for_values(
        &self,
        statement: Statement,
    ) -> Result<Vec<PgRow>, StoreError> {
        if self.inner.options.pooler == Pooler::Transaction {
            // Unnamed anyway behind a transaction pooler.
            return self.fetch_all(statement).await;
        }
        self.acquire()
            .await?
            .fetch_all(statement, Prepare::Unnamed)
            .await
    }

    /// Runs one statement on a pooled connection and returns how many rows it changed.
    ///
    /// # Errors
    /// As for [`PgPool::fetch_all`].
    pub(crate) async fn execute(&self, statement: Statement) -> Result<u64, StoreError> {
        if self.inner.options.pooler == Pooler::Transaction {
            let mut txn = self.begin().await?;
            let changed = txn.execute(statement).await?;
            txn.commit().await?;
            return Ok(changed);
        }
        self.acquire().await?.execute(statement).await
    }

    /// Starts a transaction (`BEGIN`, read committed) on a pooled connection.
    ///
    /// # Errors
    /// As for [`PgPool::fetch_all`].
    pub(crate) async fn begin(&self) -> Result<PgTransaction, StoreError> {
        self.begin_as(Priority::Normal).await
    }

    /// Starts a transaction on a pooled connection waited for with `priority`.
    async fn begin_as(&self, priority: Priority) -> Result<PgTransaction, StoreError> {
        let mut conn = self.acquire_as(priority).await?;
        let options = &self.inner.options;
        conn.conn_mut()?
            .transaction_control(Control::Begin, options)
            .await?;
        Ok(PgTransaction { conn: Some(conn) })
    }
}

/// Closes a connection with a Terminate message, on a task of its own when there is a
/// runtime (else it is simply dropped).
fn close_politely(conn: Conn) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = conn.pg.close().await;
        });
    }
}

/// A connection taken from the pool; handed back when dropped.
#[derive(Debug)]
pub(crate) struct PooledConn {
    /// `None` while being opened or tested, and for good once it is known to be broken.
    conn: Option<Conn>,
    pool: Arc<Inner>,
    /// Given back after the connection, by `drop` (to an urgent waiter first).
    permit: Option<OwnedSemaphorePermit>,
}

impl PooledConn {
    fn conn_mut(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable(Box::new(PoolClosed)))
    }

    /// Runs one statement and returns its rows.
    pub(crate) async fn fetch_all(
        &mut self,
        statement: Statement,
        prepare: Prepare,
    ) -> Result<Vec<PgRow>, StoreError> {
        let prepare = self.prepare(prepare);
        self.conn_mut()?
            .settle(async |pg| bind(statement, prepare).fetch_all(pg).await)
            .await
    }

    /// Runs one statement and returns how many rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement) -> Result<u64, StoreError> {
        let prepare = self.prepare(Prepare::Cached);
        let done = self
            .conn_mut()?
            .settle(async |pg| bind(statement, prepare).execute(pg).await)
            .await?;
        Ok(done.rows_affected())
    }

    /// How a statement is prepared here: never named behind a transaction pooler.
    fn prepare(&self, wanted: Prepare) -> Prepare {
        match self.pool.options.pooler {
            Pooler::None => wanted,
            Pooler::Transaction => Prepare::Unnamed,
        }
    }

    /// Drops the connection instead of handing it back (it is broken).
    fn discard(&mut self) {
        self.conn = None;
    }

    /// The server process id of this connection (tests).
    #[cfg(test)]
    async fn backend_pid(&mut self) -> i32 {
        use sea_orm::sqlx::Row as _;
        let rows = self
            .fetch_all(
                Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT pg_backend_pid()"),
                Prepare::Cached,
            )
            .await
            .expect("pid");
        rows[0].try_get(0).expect("an int")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        {
            let mut state = self.pool.state();
            match self.conn.take() {
                Some(conn) if !state.closed => state.idle.push_back(Idle {
                    conn,
                    since: Instant::now(),
                }),
                Some(conn) => {
                    state.open -= 1;
                    drop(state);
                    close_politely(conn);
                }
                None => state.open -= 1,
            }
        }
        // After the connection is back (or its slot free): its permit lets the next
        // waiter find it.
        if let Some(permit) = self.permit.take() {
            self.pool.give_back(permit);
        }
    }
}

/// A transaction on a pooled connection. Dropped without [`PgTransaction::commit`], it is
/// rolled back at once on a task of its own (or, without a runtime, before the connection
/// is next handed out).
#[derive(Debug)]
pub(crate) struct PgTransaction {
    conn: Option<PooledConn>,
}

impl PgTransaction {
    fn pooled(&mut self) -> Result<&mut PooledConn, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable(Box::new(PoolClosed)))
    }

    /// Runs one statement of the transaction and returns its rows.
    pub(crate) async fn fetch_all(
        &mut self,
        statement: Statement,
    ) -> Result<Vec<PgRow>, StoreError> {
        self.pooled()?.fetch_all(statement, Prepare::Cached).await
    }

    /// Runs one statement of the transaction and returns how many rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement) -> Result<u64, StoreError> {
        self.pooled()?.execute(statement).await
    }

    /// Commits; the connection goes back to the pool.
    ///
    /// # Errors
    /// As [`sqlx_error`] classifies them (a serialization failure is `Unavailable`). The
    /// transaction is rolled back either way.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let mut pooled = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Unavailable(Box::new(PoolClosed)))?;
        let pool = Arc::clone(&pooled.pool);
        pooled
            .conn_mut()?
            .transaction_control(Control::Commit, &pool.options)
            .await
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        let Some(mut pooled) = self.conn.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // The connection keeps `in_transaction`; the pool rolls it back before reuse.
            return;
        };
        runtime.spawn(async move {
            let pool = Arc::clone(&pooled.pool);
            if let Some(conn) = pooled.conn.as_mut()
                && conn
                    .transaction_control(Control::Rollback, &pool.options)
                    .await
                    .is_err()
            {
                // A connection whose transaction could not be ended is not reused.
                pooled.discard();
            }
        });
    }
}

/// How a statement is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prepare {
    /// A named prepared statement, cached per connection by sqlx: parsed and planned
    /// once, then PostgreSQL may switch to a generic plan (one for any values). Right for
    /// statements whose best plan does not depend on the values.
    Cached,
    /// The unnamed statement: planned each time for the values bound (a custom plan).
    /// For search, whose best plan depends on how common the words are.
    Unnamed,
}

/// A SeaORM statement as a sqlx query, with its values bound.
fn bind(
    statement: Statement,
    prepare: Prepare,
) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = statement.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
        .persistent(prepare == Prepare::Cached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;
    use sea_orm::sqlx::Row as _;

    /// The PostgreSQL server of the tests (no database of its own is needed here).
    fn url() -> String {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    fn options(max: u32) -> PgPoolOptions {
        PgPoolOptions::new(
            &url(),
            max,
            None,
            Duration::from_secs(30),
            Duration::from_secs(30),
            Pooler::None,
        )
        .expect("options")
    }

    fn new_pool(max: u32) -> PgPool {
        PgPool::new(options(max))
    }

    fn stats(size: u32, idle: u32, max: u32) -> PoolStats {
        PoolStats {
            size,
            idle,
            max,
            waiting: 0,
        }
    }

    fn statement(sql: &str) -> Statement {
        Statement::from_string(DbBackend::Postgres, sql)
    }

    async fn number(pool: &PgPool, sql: &str) -> i64 {
        let rows = pool.fetch_all(statement(sql)).await.expect("rows");
        assert_eq!(rows.len(), 1, "{sql}");
        rows[0].try_get::<i64, _>(0).expect("a bigint")
    }

    async fn backend_pid(pool: &PgPool) -> i64 {
        number(pool, "SELECT pg_backend_pid()::bigint").await
    }

    #[tokio::test]
    async fn a_connection_goes_back_to_the_pool_and_is_used_again() {
        let pool = new_pool(1);
        let first = backend_pid(&pool).await;
        assert_eq!(backend_pid(&pool).await, first);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn statements_run_without_jit_compilation_behind_a_pooler_or_not() {
        for pooler in [Pooler::None, Pooler::Transaction] {
            let pool = PgPool::new(
                PgPoolOptions::new(
                    &url(),
                    1,
                    Some(Duration::from_secs(7)),
                    Duration::from_secs(30),
                    Duration::from_secs(30),
                    pooler,
                )
                .expect("options"),
            );
            let setting = "SELECT (current_setting('jit') = 'off' \
                 AND current_setting('statement_timeout') = '7s')::int::bigint";
            assert_eq!(number(&pool, setting).await, 1, "{pooler:?}");
        }
    }

    #[tokio::test]
    async fn a_connection_past_its_lifetime_is_replaced_when_next_needed() {
        let pool = PgPool::new(PgPoolOptions {
            max_lifetime: Duration::ZERO,
            ..options(1)
        });
        let first = backend_pid(&pool).await;
        assert_ne!(backend_pid(&pool).await, first);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn idle_connections_are_closed_and_opened_again_when_needed() {
        let pool = PgPool::new(PgPoolOptions {
            idle_timeout: Duration::ZERO,
            ..options(2)
        });
        let first = backend_pid(&pool).await;
        assert_eq!(pool.stats(), stats(1, 1, 2));
        assert_eq!(pool.close_idle().await, 1);
        assert_eq!(pool.stats(), stats(0, 0, 2));
        assert_ne!(backend_pid(&pool).await, first);
        // A connection in use is never closed under its statement.
        let held = pool.acquire().await.expect("a connection");
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
            pool.fetch_all(statement("SELECT 41::bigint AS n FROM pg_sleep(1)")),
        )
        .await;
        assert!(
            abandoned.is_err(),
            "the statement was expected to be cut short"
        );
        // The same connection answers the next statement with that statement's rows.
        assert_eq!(number(&pool, "SELECT 42::bigint").await, 42);
        assert_eq!(backend_pid(&pool).await, pid);
    }

    #[tokio::test]
    async fn a_failed_statement_leaves_the_connection_usable() {
        let pool = new_pool(1);
        let err = pool
            .fetch_all(statement("SELECT 1 / 0"))
            .await
            .expect_err("division by zero");
        assert!(matches!(err, StoreError::Unexpected(_)), "{err:?}");
        assert_eq!(number(&pool, "SELECT 7::bigint").await, 7);
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
            .fetch_all(statement(&format!(
                "SELECT pg_terminate_backend({pid}, 30000)"
            )))
            .await
            .expect("terminate");
        // The first statement after the cut may fail (the pool learns of it then), never
        // more than that one, and it fails as "unavailable" (503), not as a bug.
        match pool.fetch_all(statement("SELECT 1")).await {
            Ok(_) => {}
            Err(err) => assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}"),
        }
        let replaced = backend_pid(&pool).await;
        assert_ne!(replaced, pid);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn a_closed_pool_answers_unavailable() {
        let pool = new_pool(1);
        backend_pid(&pool).await;
        pool.close().await;
        let err = pool
            .fetch_all(statement("SELECT 1"))
            .await
            .expect_err("closed");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(pool.stats().size, 0);
    }

    #[tokio::test]
    async fn a_request_waits_for_a_connection_at_most_the_acquire_timeout() {
        let pool = PgPool::new(PgPoolOptions {
            acquire_timeout: Duration::from_millis(50),
            ..options(1)
        });
        let held = pool.acquire().await.expect("the only connection");
        let err = pool.acquire().await.expect_err("none left");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        drop(held);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    /// A table of its own in the server's `postgres` database, dropped by the caller.
    async fn scratch_table(pool: &PgPool) -> String {
        let table = format!("pool_test_{}", uuid::Uuid::now_v7().simple());
        pool.execute(statement(&format!("CREATE TABLE {table} (n int)")))
            .await
            .expect("table");
        table
    }

    #[tokio::test]
    async fn a_transaction_dropped_half_way_is_rolled_back_before_its_connection_is_reused() {
        let pool = new_pool(1);
        let table = scratch_table(&pool).await;
        let pid = backend_pid(&pool).await;
        {
            let mut txn = pool.begin().await.expect("begin");
            txn.execute(statement(&format!("INSERT INTO {table} VALUES (1)")))
                .await
                .expect("insert");
            // Dropped here without commit: a request cancelled half-way.
        }
        // The only connection: had the transaction stayed open on it, this statement
        // would see its own uncommitted row.
        assert_eq!(backend_pid(&pool).await, pid);
        assert_eq!(
            number(&pool, &format!("SELECT count(*) FROM {table}")).await,
            0
        );
        assert_eq!(
            number(
                &pool,
                "SELECT (pg_current_xact_id_if_assigned() IS NULL)::int::bigint"
            )
            .await,
            1
        );
        pool.execute(statement(&format!("DROP TABLE {table}")))
            .await
            .expect("drop");
    }

    #[tokio::test]
    async fn a_transaction_left_open_without_a_runtime_is_rolled_back_at_the_next_acquire() {
        let pool = new_pool(1);
        let table = scratch_table(&pool).await;
        let mut txn = pool.begin().await.expect("begin");
        txn.execute(statement(&format!("INSERT INTO {table} VALUES (1)")))
            .await
            .expect("insert");
        // The connection goes back still inside its transaction, as when the transaction
        // is dropped where no runtime can run the rollback.
        let pooled = txn.conn.take().expect("the connection");
        drop(pooled);
        drop(txn);
        assert_eq!(
            number(&pool, &format!("SELECT count(*) FROM {table}")).await,
            0
        );
        pool.execute(statement(&format!("DROP TABLE {table}")))
            .await
            .expect("drop");
    }

    #[tokio::test]
    async fn a_committed_transaction_is_kept() {
        let pool = new_pool(1);
        let table = scratch_table(&pool).await;
        let mut txn = pool.begin().await.expect("begin");
        txn.execute(statement(&format!("INSERT INTO {table} VALUES (1), (2)")))
            .await
            .expect("insert");
        txn.commit().await.expect("commit");
        assert_eq!(
            number(&pool, &format!("SELECT count(*) FROM {table}")).await,
            2
        );
        pool.execute(statement(&format!("DROP TABLE {table}")))
            .await
            .expect("drop");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_never_hold_more_connections_than_the_maximum() {
        let pool = new_pool(3);
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let mut conn = pool.acquire().await.expect("a connection");
                        assert!(pool.stats().size <= 3);
                        conn.fetch_all(statement("SELECT pg_sleep(0.001)"), Prepare::Cached)
                            .await
                            .expect("statement");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let after = pool.stats();
        assert!(after.size <= 3 && after.size == after.idle, "{after:?}");
        assert_eq!(after.waiting, 0);
    }

    /// Yields until `n` acquirers wait for a connection (they queue in spawn order).
    async fn until_waiting(pool: &PgPool, n: u32) {
        while pool.stats().waiting != n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_urgent_statement_takes_the_next_connection_before_earlier_waiters() {
        let pool = new_pool(1);
        let held = pool.acquire().await.expect("the only connection");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (n, (label, priority)) in [
            ("normal 1", Priority::Normal),
            ("normal 2", Priority::Normal),
            ("urgent", Priority::Urgent),
            ("normal 3", Priority::Normal),
        ]
        .into_iter()
        .enumerate()
        {
            let (queued, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = queued.acquire_as(priority).await.expect("a connection");
                order.lock().expect("order").push(label);
                conn.fetch_all(statement("SELECT 1"), Prepare::Cached)
                    .await
                    .expect("statement");
            }));
            until_waiting(&pool, u32::try_from(n + 1).expect("small")).await;
        }
        drop(held);
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(
            *order.lock().expect("order"),
            ["urgent", "normal 1", "normal 2", "normal 3"]
        );
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[tokio::test]
    async fn an_urgent_waiter_that_gave_up_does_not_keep_the_connection_from_others() {
        let pool = new_pool(1);
        let held = pool.acquire().await.expect("the only connection");
        // An urgent acquirer queues, then gives up (its request was dropped).
        tokio::select! {
            biased;
            _ = pool.acquire_as(Priority::Urgent) => panic!("the only connection is held"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(pool.stats().waiting, 0);
        // A normal waiter queued after it gets the connection when it comes back.
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { backend_pid(&pool).await })
        };
        until_waiting(&pool, 1).await;
        drop(held);
        assert!(waiter.await.expect("task") > 0);
        assert_eq!(pool.stats(), stats(1, 1, 1));
    }

    #[test]
    fn an_idle_connection_of_another_thread_is_borrowed_rather_than_waited_for() {
        let pool = std::thread::scope(|scope| {
            // Thread A opens the only connection its single-threaded runtime drives, and
            // keeps that runtime alive (idle, as an actix worker between requests).
            let (opened_tx, opened_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let pool = PgPool::new(PgPoolOptions {
                        acquire_timeout: Duration::from_secs(5),
                        ..options(1)
                    });
                    backend_pid(&pool).await;
                    opened_tx.send(pool).expect("send");
                    // Serve the connection's I/O until B is done.
                    loop {
                        if done_rx.try_recv().is_ok() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                });
            });
            let pool = opened_rx.recv().expect("pool");
            // Thread B: its own runtime, no connection of its own, the pool at its maximum.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let borrowed = runtime.block_on(async {
                let mut conn = pool.acquire().await.expect("the other thread's connection");
                conn.backend_pid().await
            });
            assert!(borrowed > 0);
            assert_eq!(pool.stats(), stats(1, 1, 1));
            done_tx.send(()).expect("done");
            pool
        });
        assert_eq!(pool.stats().size, 1);
    }
}
