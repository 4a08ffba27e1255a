//! The executor: every statement of the repositories runs through [`Db`] (one statement)
//! or [`Txn`] (a transaction), which hand back rows as [`Row`] and errors as
//! [`StoreError`], converted once, here. On PostgreSQL they run on the process's one
//! [`PgPool`]; on SQLite on SeaORM's connection. Statements arrive built by SeaORM or
//! sea-query (`QueryTrait`, `StatementBuilder`) or, where those cannot express them, as a
//! [`Statement`] of SQL text with bound values.

use chrono::{DateTime, Utc};
use domain::{StoreError, ThreadId, Timestamp, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query, Value};
use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::{Decode, Row as _, Type};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult, QueryTrait,
    SqliteTransactionMode, Statement, StatementBuilder, TransactionOptions, TransactionTrait,
    TryGetable,
};
use serde_json::value::RawValue;

use crate::entity::thread;
use crate::error::{Misuse, store_error};
use crate::pool::{PgPool, PgTransaction, Priority};

/// Where statements run: PostgreSQL's pool or SeaORM's SQLite connection. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Postgres(PgPool),
    Sqlite(DatabaseConnection),
}

/// One row of a result, read by position or by name. PostgreSQL rows are decoded by sqlx
/// directly (the hot path of every list); SQLite rows through SeaORM, which knows how each
/// type is stored there.
#[derive(Debug)]
pub(crate) enum Row {
    Postgres(PgRow),
    Sqlite(QueryResult),
}

impl Row {
    /// The value at `index`.
    pub(crate) fn get<'r, T>(&'r self, index: usize) -> Result<T, StoreError>
    where
        T: TryGetable + Type<Postgres> + Decode<'r, Postgres>,
    {
        match self {
            Self::Postgres(row) => row.try_get(index).map_err(StoreError::unexpected),
            Self::Sqlite(row) => row.try_get_by_index(index).map_err(store_error),
        }
    }

    /// The value of the column named `name`.
    pub(crate) fn get_named<'r, T>(&'r self, name: &str) -> Result<T, StoreError>
    where
        T: TryGetable + Type<Postgres> + Decode<'r, Postgres>,
    {
        match self {
            Self::Postgres(row) => row.try_get(name).map_err(StoreError::unexpected),
            Self::Sqlite(row) => row.try_get("", name).map_err(store_error),
        }
    }

    /// A timestamp (`timestamptz` on PostgreSQL, RFC 3339 text on SQLite).
    pub(crate) fn timestamp(&self, index: usize) -> Result<Timestamp, StoreError> {
        self.get::<DateTime<Utc>>(index)
            .map(Timestamp::from_datetime)
    }

    /// A nullable timestamp.
    pub(crate) fn optional_timestamp(&self, index: usize) -> Result<Option<Timestamp>, StoreError> {
        self.get::<Option<DateTime<Utc>>>(index)
            .map(|t| t.map(Timestamp::from_datetime))
    }

    /// JSON text, borrowed from the row (`jsonb` on PostgreSQL, text on SQLite).
    pub(crate) fn json(&self, index: usize) -> Result<&RawValue, StoreError> {
        self.optional_json(index)?
            .ok_or_else(|| StoreError::unexpected(Misuse("a JSON column that must not be NULL is")))
    }

    /// Nullable JSON text, borrowed from the row.
    pub(crate) fn optional_json(&self, index: usize) -> Result<Option<&RawValue>, StoreError> {
        match self {
            Self::Postgres(row) => row.try_get(index).map_err(StoreError::unexpected),
            Self::Sqlite(row) => {
                let Some(row) = row.try_as_sqlite_row() else {
                    return Err(StoreError::unexpected(Misuse(
                        "a row from a backend this adapter does not serve",
                    )));
                };
                let text = row
                    .try_get_unchecked::<Option<&str>, _>(index)
                    .map_err(StoreError::unexpected)?;
                text.map(serde_json::from_str)
                    .transpose()
                    .map_err(StoreError::unexpected)
            }
        }
    }
}

impl Db {
    pub(crate) fn backend(&self) -> DbBackend {
        match self {
            Self::Postgres(_) => DbBackend::Postgres,
            Self::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    /// The rows a query returns.
    pub(crate) async fn rows(&self, query: &impl QueryTrait) -> Result<Vec<Row>, StoreError> {
        self.statement_rows(query.build(self.backend())).await
    }

    /// The first row a query returns, if any.
    pub(crate) async fn row(&self, query: &impl QueryTrait) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(query).await?.into_iter().next())
    }

    /// The rows one statement returns.
    pub(crate) async fn statement_rows(
        &self,
        statement: Statement,
    ) -> Result<Vec<Row>, StoreError> {
        self.statement_rows_as(statement, Priority::Normal).await
    }

    /// The one row of a statement that always returns one (an aggregate without
    /// `GROUP BY`).
    pub(crate) async fn statement_one_row(&self, statement: Statement) -> Result<Row, StoreError> {
        self.statement_rows(statement)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::unexpected(Misuse("an aggregate returned no row")))
    }

    /// The rows one statement returns, its PostgreSQL connection waited for with
    /// `priority` when none is free (SQLite has one connection and no queue of its own).
    pub(crate) async fn statement_rows_as(
        &self,
        statement: Statement,
        priority: Priority,
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Self::Postgres(pool) => {
                Ok(postgres_rows(pool.fetch_all_as(statement, priority).await?))
            }
            Self::Sqlite(conn) => sqlite_rows(conn, statement).await,
        }
    }

    /// The rows one statement returns, the statement planned for the values bound to it
    /// on PostgreSQL (no cached generic plan; see `Prepare::Unnamed`).
    pub(crate) async fn statement_rows_planned_for_values(
        &self,
        statement: Statement,
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Self::Postgres(pool) => Ok(postgres_rows(
                pool.fetch_all_planned_for_values(statement).await?,
            )),
            Self::Sqlite(_) => self.statement_rows(statement).await,
        }
    }

    /// Runs one statement built by sea-query and returns how many rows it changed.
    pub(crate) async fn execute(&self, query: &impl StatementBuilder) -> Result<u64, StoreError> {
        let statement = self.backend().build(query);
        match self {
            Self::Postgres(pool) => pool.execute(statement).await,
            Self::Sqlite(conn) => sqlite_execute(conn, statement).await,
        }
    }

    /// A timestamp as a bind value.
    ///
    /// PostgreSQL gets a `timestamptz`. SQLite has no time type: sqlx would write
    /// `DateTime<Utc>` with as many fractional digits as needed (none, 3, 6 or 9), and such
    /// text only sorts chronologically by accident. We therefore write every timestamp as
    /// fixed-width RFC 3339 text with exactly six fractional digits and a `Z`
    /// (`2026-11-24T10:15:30.123456Z`), which compares correctly as text in `ORDER BY`,
    /// `MAX()` and keyset comparisons, and which sqlx reads back as `DateTime<Utc>`.
    pub(crate) fn timestamp(&self, at: Timestamp) -> Value {
        timestamp_value(self.backend(), at)
    }

    /// An optional timestamp as a bind value; `None` is a NULL of the right type.
    pub(crate) fn timestamp_or_null(&self, at: Option<Timestamp>) -> Value {
        match (at, self.backend()) {
            (Some(at), backend) => timestamp_value(backend, at),
            (None, DbBackend::Sqlite) => Value::String(None),
            (None, _) => Value::ChronoDateTimeUtc(None),
        }
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes
    /// the write lock at once (waiting up to the busy timeout) instead of at the first write,
    /// so a transaction never has to upgrade a read snapshot that another writer has made
    /// stale. On PostgreSQL it is a plain `BEGIN` (read committed): row locks taken by the
    /// first `UPDATE` serialize writers of one thread. Dropped without
    /// [`Txn::commit`], the transaction is rolled back.
    pub(crate) async fn begin_write(&self) -> Result<Txn, StoreError> {
        match self {
            Self::Postgres(pool) => Ok(Txn::Postgres(pool.begin().await?)),
            Self::Sqlite(conn) => {
                let options = TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                };
                let txn = conn
                    .begin_with_options(options)
                    .await
                    .map_err(store_error)?;
                Ok(Txn::Sqlite(txn))
            }
        }
    }
}

/// PostgreSQL rows as [`Row`]s.
fn postgres_rows(rows: Vec<PgRow>) -> Vec<Row> {
    rows.into_iter().map(Row::Postgres).collect()
}

/// One statement's rows on SeaORM's SQLite connection or transaction.
async fn sqlite_rows(
    conn: &impl ConnectionTrait,
    statement: Statement,
) -> Result<Vec<Row>, StoreError> {
    let rows = conn.query_all_raw(statement).await.map_err(store_error)?;
    Ok(rows.into_iter().map(Row::Sqlite).collect())
}

/// One statement on SeaORM's SQLite connection or transaction; the rows it changed.
async fn sqlite_execute(
    conn: &impl ConnectionTrait,
    statement: Statement,
) -> Result<u64, StoreError> {
    conn.execute_raw(statement)
        .await
        .map(|done| done.rows_affected())
        .map_err(store_error)
}

pub(crate) fn timestamp_value(backend: DbBackend, at: Timestamp) -> Value {
    match backend {
        DbBackend::Sqlite => Value::String(Some(at.to_rfc3339())),
        _ => Value::ChronoDateTimeUtc(Some(at.as_datetime())),
    }
}

/// A transaction of [`Db::begin_write`]: the same statements as [`Db`], on one connection.
#[derive(Debug)]
pub(crate) enum Txn {
    Postgres(PgTransaction),
    Sqlite(DatabaseTransaction),
}

impl Txn {
    pub(crate) fn backend(&self) -> DbBackend {
        match self {
            Self::Postgres(_) => DbBackend::Postgres,
            Self::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    /// The rows a query returns.
    pub(crate) async fn rows(&mut self, query: &impl QueryTrait) -> Result<Vec<Row>, StoreError> {
        let statement = query.build(self.backend());
        self.statement_rows(statement).await
    }

    /// The first row a query returns, if any.
    pub(crate) async fn row(&mut self, query: &impl QueryTrait) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(query).await?.into_iter().next())
    }

    /// The rows one statement returns.
    pub(crate) async fn statement_rows(
        &mut self,
        statement: Statement,
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Self::Postgres(txn) => Ok(postgres_rows(txn.fetch_all(statement).await?)),
            Self::Sqlite(txn) => sqlite_rows(txn, statement).await,
        }
    }

    /// The first row one sea-query statement (with `RETURNING`) returns, if any.
    pub(crate) async fn returning(
        &mut self,
        query: &impl StatementBuilder,
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.backend().build(query);
        Ok(self.statement_rows(statement).await?.into_iter().next())
    }

    /// Runs one statement built by sea-query and returns how many rows it changed.
    pub(crate) async fn execute(
        &mut self,
        query: &impl StatementBuilder,
    ) -> Result<u64, StoreError> {
        let statement = self.backend().build(query);
        self.execute_statement(statement).await
    }

    /// Runs one statement and returns how many rows it changed.
    pub(crate) async fn execute_statement(
        &mut self,
        statement: Statement,
    ) -> Result<u64, StoreError> {
        match self {
            Self::Postgres(txn) => txn.execute(statement).await,
            Self::Sqlite(txn) => sqlite_execute(txn, statement).await,
        }
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(txn) => txn.commit().await,
            Self::Sqlite(txn) => txn.commit().await.map_err(store_error),
        }
    }
}

/// `max(version + 1, now in microseconds)` in portable SQL: the rule of
/// [`domain::Version`], applied in the same statement as the write.
pub(crate) fn next_version<C>(column: C, now: Timestamp) -> Expr
where
    C: sea_orm::sea_query::IntoColumnRef,
{
    let now = now.as_micros();
    let incremented = Expr::col(column).add(1i64);
    Expr::case(incremented.clone().gt(now), incremented)
        .finally(now)
        .into()
}

/// `expires_at IS NULL OR expires_at > $now` on `chat_threads`: the thread has not
/// expired at `now`. Every statement that finds a thread by its id or lists threads
/// carries it, so an expired thread behaves exactly like a missing one from the moment it
/// expires, whether or not the sweeper has deleted it yet.
pub(crate) fn thread_alive(backend: DbBackend, now: Timestamp) -> Expr {
    let expires_at = Expr::col((thread::Entity, thread::Column::ExpiresAt));
    expires_at
        .clone()
        .is_null()
        .or(expires_at.gt(timestamp_value(backend, now)))
}

/// The same condition as [`thread_alive`] in SQL text, for the statements written as
/// text: `("{alias}"."expires_at" IS NULL OR "{alias}"."expires_at" > {now})`, where `now`
/// is the placeholder of the bound time (`$3`, `?3`).
pub(crate) fn thread_alive_sql(alias: &str, now: &str) -> String {
    format!(r#"("{alias}"."expires_at" IS NULL OR "{alias}"."expires_at" > {now})"#)
}

/// `id = $thread AND user_id = $user AND <thread_alive>` on `chat_threads`: the user's
/// thread, if it has not expired at `now`.
pub(crate) fn users_thread(
    backend: DbBackend,
    user: &UserId,
    thread: ThreadId,
    now: Timestamp,
) -> Expr {
    Expr::col((thread::Entity, thread::Column::Id))
        .eq(*thread.as_uuid())
        .and(Expr::col((thread::Entity, thread::Column::UserId)).eq(user.as_str()))
        .and(thread_alive(backend, now))
}

/// Locks the user's thread row until the transaction ends (on SQLite `BEGIN IMMEDIATE`
/// already holds the database's write lock) and checks that the user owns it, without
/// changing it: a write's last statement on the thread is the one that grows its version,
/// so the thread's event shows the thread as the write left it.
///
/// Errors: `NotFound` when the thread is missing, expired or another user's.
pub(crate) async fn lock_thread(
    txn: &mut Txn,
    user: &UserId,
    thread: ThreadId,
) -> Result<(), StoreError> {
    let mut select = Query::select();
    select
        .column(thread::Column::Id)
        .from(thread::Entity)
        .and_where(users_thread(txn.backend(), user, thread, Timestamp::now()));
    if txn.backend() == DbBackend::Postgres {
        select.lock(LockType::Update);
    }
    let statement = txn.backend().build(&select);
    if txn.statement_rows(statement).await?.is_empty() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A page size as SQL can bind it (sea-query binds `LIMIT` as a signed 64-bit integer).
pub(crate) fn sql_limit(limit: u64) -> u64 {
    Ord::min(limit, i64::MAX.unsigned_abs())
}
