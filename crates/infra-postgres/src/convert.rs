//! Rows to domain values, through the domain's checking constructors: a row that breaks a
//! rule is reported as [`StoreError::Unexpected`], never handed on.
//!
//! Rows are read by position (the statements select [`MESSAGE_COLUMNS`] or
//! [`THREAD_COLUMNS`] in that order, from a known first position), and JSON columns are
//! borrowed from the row as text and checked without being parsed into a tree: this is
//! the hot path of every list.

use domain::{
    DomainError, Limits, Message, MessageContent, MessageId, Metadata, Role, Sources, StoreError,
    Thread, ThreadId, ThreadTitle, Timestamp, UserId, Version,
};
use sea_orm::sqlx::Row as _;
use sea_orm::{QueryResult, TryGetable};
use serde_json::value::RawValue;

use crate::entity::{message, thread};
use crate::error::{InvalidRow, Misuse, store_error};

/// Content read back is not held to the configurable request limit: the limit may have been
/// lowered since the message was stored, and it still has to be readable.
const STORED_LIMITS: Limits = Limits {
    max_content_bytes: usize::MAX,
};

/// The columns of `chat_messages` that [`message_at`] reads, in order.
pub(crate) const MESSAGE_COLUMNS: [message::Column; 9] = [
    message::Column::Id,
    message::Column::ThreadId,
    message::Column::Role,
    message::Column::Content,
    message::Column::Sources,
    message::Column::Metadata,
    message::Column::CreatedAt,
    message::Column::UpdatedAt,
    message::Column::Version,
];

/// The columns of `chat_threads` that [`thread_at`] reads, in order.
pub(crate) const THREAD_COLUMNS: [thread::Column; 11] = [
    thread::Column::Id,
    thread::Column::UserId,
    thread::Column::Title,
    thread::Column::Metadata,
    thread::Column::ArchivedAt,
    thread::Column::PinnedAt,
    thread::Column::MessageCount,
    thread::Column::LastMessageAt,
    thread::Column::CreatedAt,
    thread::Column::UpdatedAt,
    thread::Column::Version,
];

/// The value at `index`.
fn get<T: TryGetable>(row: &QueryResult, index: usize) -> Result<T, StoreError> {
    row.try_get_by_index(index).map_err(store_error)
}

/// A timestamp at `index` (`timestamptz` on PostgreSQL, RFC 3339 text on SQLite).
fn timestamp_at(row: &QueryResult, index: usize) -> Result<Timestamp, StoreError> {
    get::<chrono::DateTime<chrono::Utc>>(row, index).map(Timestamp::from_datetime)
}

/// A nullable timestamp at `index`.
fn optional_timestamp_at(row: &QueryResult, index: usize) -> Result<Option<Timestamp>, StoreError> {
    get::<Option<chrono::DateTime<chrono::Utc>>>(row, index)
        .map(|t| t.map(Timestamp::from_datetime))
}

/// The JSON text at `index`, borrowed from the row (`jsonb` on PostgreSQL, text on SQLite).
fn json_at(row: &QueryResult, index: usize) -> Result<&RawValue, StoreError> {
    if let Some(row) = row.try_as_pg_row() {
        return row
            .try_get::<&RawValue, _>(index)
            .map_err(StoreError::unexpected);
    }
    if let Some(row) = row.try_as_sqlite_row() {
        // SQLite columns carry no JSON type; the text is parsed as JSON here.
        let text = row
            .try_get_unchecked::<&str, _>(index)
            .map_err(StoreError::unexpected)?;
        return serde_json::from_str(text).map_err(StoreError::unexpected);
    }
    Err(StoreError::unexpected(Misuse(
        "a row from a backend this adapter does not serve",
    )))
}

/// The message whose [`MESSAGE_COLUMNS`] start at position `first` of `row`.
pub(crate) fn message_at(row: &QueryResult, first: usize) -> Result<Message, StoreError> {
    let id: uuid::Uuid = get(row, first)?;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_messages", id, &err);
    let role: String = get(row, first + 2)?;
    Ok(Message {
        id: MessageId::from_uuid(id),
        thread_id: ThreadId::from_uuid(get(row, first + 1)?),
        role: Role::parse(&role).map_err(invalid)?,
        content: MessageContent::parse(get::<String>(row, first + 3)?, &STORED_LIMITS)
            .map_err(invalid)?,
        sources: Sources::from_json(json_at(row, first + 4)?).map_err(invalid)?,
        metadata: Metadata::from_json(json_at(row, first + 5)?).map_err(invalid)?,
        created_at: timestamp_at(row, first + 6)?,
        updated_at: timestamp_at(row, first + 7)?,
        version: Version::new(get(row, first + 8)?),
    })
}

/// The thread whose [`THREAD_COLUMNS`] start at position `first` of `row`.
pub(crate) fn thread_at(row: &QueryResult, first: usize) -> Result<Thread, StoreError> {
    let id: uuid::Uuid = get(row, first)?;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_threads", id, &err);
    Ok(Thread {
        id: ThreadId::from_uuid(id),
        user_id: UserId::parse(get::<String>(row, first + 1)?).map_err(invalid)?,
        title: ThreadTitle::parse(get::<String>(row, first + 2)?).map_err(invalid)?,
        metadata: Metadata::from_json(json_at(row, first + 3)?).map_err(invalid)?,
        archived_at: optional_timestamp_at(row, first + 4)?,
        pinned_at: optional_timestamp_at(row, first + 5)?,
        message_count: get(row, first + 6)?,
        last_message_at: optional_timestamp_at(row, first + 7)?,
        created_at: timestamp_at(row, first + 8)?,
        updated_at: timestamp_at(row, first + 9)?,
        version: Version::new(get(row, first + 10)?),
    })
}

/// Every row, as messages.
pub(crate) fn messages_from_rows(rows: &[QueryResult]) -> Result<Vec<Message>, StoreError> {
    rows.iter().map(|row| message_at(row, 0)).collect()
}

/// Every row, as threads.
pub(crate) fn threads_from_rows(rows: &[QueryResult]) -> Result<Vec<Thread>, StoreError> {
    rows.iter().map(|row| thread_at(row, 0)).collect()
}
