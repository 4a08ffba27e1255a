//! The connection handle shared by the repositories, and the SQL pieces that differ by
//! backend or repeat across statements.

use domain::{StoreError, ThreadId, Timestamp, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, Value};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, SqliteTransactionMode, Statement, StatementBuilder,
    TransactionOptions, TransactionTrait,
};

use crate::direct::DirectPool;
use crate::entity::thread;
use crate::error::store_error;

/// The connections to one database, with its backend: SeaORM's pool, and on PostgreSQL the
/// pool that single statements run on (see [`crate::direct`]).
#[derive(Debug, Clone)]
pub(crate) struct Db {
    conn: DatabaseConnection,
    backend: DbBackend,
    direct: Option<DirectPool>,
}

impl Db {
    pub(crate) fn new(conn: DatabaseConnection, direct: Option<DirectPool>) -> Self {
        let backend = conn.get_database_backend();
        Self {
            conn,
            backend,
            direct,
        }
    }

    /// SeaORM's pool: transactions, and statements that need SeaORM's executor. Never
    /// handed out of the crate.
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The pool of single statements (PostgreSQL only).
    pub(crate) fn direct(&self) -> Option<&DirectPool> {
        self.direct.as_ref()
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The rows a query returns, as they are (read by position in `convert`).
    pub(crate) async fn rows(
        &self,
        query: &impl QueryTrait,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.statement_rows(query.build(self.backend)).await
    }

    /// The rows one statement returns; on PostgreSQL it runs on the statement pool.
    pub(crate) async fn statement_rows(
        &self,
        statement: Statement,
    ) -> Result<Vec<QueryResult>, StoreError> {
        match &self.direct {
            Some(direct) => direct.rows(statement).await,
            None => self
                .conn
                .query_all_raw(statement)
                .await
                .map_err(store_error),
        }
    }

    /// The first row a query returns, if any.
    pub(crate) async fn row(
        &self,
        query: &impl QueryTrait,
    ) -> Result<Option<QueryResult>, StoreError> {
        Ok(self.rows(query).await?.into_iter().next())
    }

    /// Runs one statement and returns how many rows it changed; on PostgreSQL it runs on
    /// the statement pool.
    pub(crate) async fn execute(&self, query: &impl StatementBuilder) -> Result<u64, StoreError> {
        let statement = self.backend.build(query);
        match &self.direct {
            Some(direct) => direct.execute(statement).await,
            None => self
                .conn
                .execute_raw(statement)
                .await
                .map(|done| done.rows_affected())
                .map_err(store_error),
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
        match self.backend {
            DbBackend::Sqlite => Value::String(Some(at.to_rfc3339())),
            _ => Value::ChronoDateTimeUtc(Some(at.as_datetime())),
        }
    }

    /// An optional timestamp as a bind value; `None` is a NULL of the right type.
    pub(crate) fn timestamp_or_null(&self, at: Option<Timestamp>) -> Value {
        match (at, self.backend) {
            (Some(at), _) => self.timestamp(at),
            (None, DbBackend::Sqlite) => Value::String(None),
            (None, _) => Value::ChronoDateTimeUtc(None),
        }
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes
    /// the write lock at once (waiting up to the busy timeout) instead of at the first write,
    /// so a transaction never has to upgrade a read snapshot that another writer has made
    /// stale. On PostgreSQL it is a plain `BEGIN` (read committed): row locks taken by the
    /// first `UPDATE` serialize writers of one thread.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.conn
            .begin_with_options(options)
            .await
            .map_err(store_error)
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

/// `SELECT id FROM chat_threads WHERE id = $thread AND user_id = $user`: the ownership
/// scope of every statement on messages (`thread_id IN (...)`).
pub(crate) fn owned_thread(user: &UserId, thread: ThreadId) -> SelectStatement {
    Query::select()
        .column((thread::Entity, thread::Column::Id))
        .from(thread::Entity)
        .and_where(Expr::col((thread::Entity, thread::Column::Id)).eq(*thread.as_uuid()))
        .and_where(Expr::col((thread::Entity, thread::Column::UserId)).eq(user.as_str()))
        .to_owned()
}

/// Whether the user has this thread.
pub(crate) async fn thread_exists(
    db: &Db,
    user: &UserId,
    thread: ThreadId,
) -> Result<bool, StoreError> {
    let select = thread::Entity::find()
        .select_only()
        .column(thread::Column::Id)
        .filter(Expr::col((thread::Entity, thread::Column::Id)).eq(*thread.as_uuid()))
        .filter(Expr::col((thread::Entity, thread::Column::UserId)).eq(user.as_str()));
    Ok(db.row(&select).await?.is_some())
}

/// A page size as SQL can bind it (sea-query binds `LIMIT` as a signed 64-bit integer).
pub(crate) fn sql_limit(limit: u64) -> u64 {
    Ord::min(limit, i64::MAX.unsigned_abs())
}
