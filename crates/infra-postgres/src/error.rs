//! Translation of SeaORM/sqlx errors into [`StoreError`] at the crate boundary.
//!
//! The backend error travels only as the `source` of the [`StoreError`] (for the logs); the
//! `Display` of what goes upward is the domain's fixed text, never SQL or driver detail.

use std::ops::Deref;

use domain::{DomainError, StoreError};
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};
use uuid::Uuid;

/// Classifies an error of SeaORM's executor (SQLite, and migrations).
pub(crate) fn store_error(err: DbErr) -> StoreError {
    if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
        return StoreError::AlreadyExists;
    }
    let transient = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            is_transient(e)
        }
        _ => false,
    };
    if transient {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Unexpected(Box::new(err))
    }
}

/// Classifies an error of the PostgreSQL pool's connections, by the same rules as
/// [`store_error`].
pub(crate) fn sqlx_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && matches!(
            db.constraint(),
            Some("chat_messages_parent_branch_key" | "chat_messages_parent_fkey")
        )
    {
        return StoreError::unexpected(TreeRace);
    }
    if let sqlx::Error::Database(db) = &err
        && db.kind() == sqlx::error::ErrorKind::UniqueViolation
    {
        return StoreError::AlreadyExists;
    }
    if is_transient(&err) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Unexpected(Box::new(err))
    }
}

/// Errors after which retrying later may succeed: the database is unreachable, shutting
/// down, out of connections, too slow (a statement cancelled by `statement_timeout`, a
/// lock not granted within `lock_timeout`), or (SQLite) still locked by another writer
/// after the busy timeout. PostgreSQL serialization failures and deadlocks are retryable
/// too.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            let code = code.deref();
            // PostgreSQL SQLSTATE classes 08 (connection exception) and 53 (insufficient
            // resources), operator intervention (57014 is a statement cancelled by
            // statement_timeout), lock not available, serialization failure, deadlock.
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code,
                    "57014" | "57P01" | "57P02" | "57P03" | "55P03" | "40001" | "40P01"
                )
                // SQLite: SQLITE_BUSY and SQLITE_LOCKED with their extended codes.
                || matches!(code, "5" | "6" | "261" | "262" | "517" | "773")
        }),
        _ => false,
    }
}

/// A row that the domain refuses: a broken invariant in storage, reported as
/// [`StoreError::Unexpected`]. Carries the table, the row id and the rule that failed,
/// never the offending content.
#[derive(Debug, thiserror::Error)]
#[error("stored {table} row {id} is invalid: {reason}")]
pub(crate) struct InvalidRow {
    table: &'static str,
    id: Uuid,
    reason: String,
}

impl InvalidRow {
    pub(crate) fn store_error(table: &'static str, id: Uuid, err: &DomainError) -> StoreError {
        StoreError::unexpected(Self {
            table,
            id,
            reason: err.to_string(),
        })
    }
}

/// No connection could be had within the acquire timeout.
/// A tree write lost a race with another writer of the same thread: two messages took the
/// same place in a branch (`chat_messages_parent_branch_key`), or a parent was deleted
/// before the write committed (`chat_messages_parent_fkey`). The write changed nothing;
/// done again it sees the other writer's result.
#[derive(Debug, thiserror::Error)]
#[error("a concurrent change of the same conversation tree")]
pub(crate) struct TreeRace;

impl TreeRace {
    /// Whether `err` is this race.
    pub(crate) fn is(err: &StoreError) -> bool {
        matches!(err, StoreError::Unexpected(cause) if cause.is::<Self>())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("timed out waiting for a database connection")]
pub(crate) struct PoolTimedOut;

/// The pool was closed (the service is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the database pool is closed")]
pub(crate) struct PoolClosed;

/// A caller broke a precondition of a port method that the types cannot express.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Misuse(pub(crate) &'static str);

/// A URL that names no backend this adapter serves.
#[derive(Debug, thiserror::Error)]
#[error("unsupported database URL: expected postgres://, postgresql:// or sqlite:")]
pub(crate) struct UnsupportedUrl;

/// The SQLite database file's directory could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the directory of the SQLite database")]
pub(crate) struct CreateDirectory(#[source] pub(crate) std::io::Error);
