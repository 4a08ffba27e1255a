//! Rows to domain values, through the domain's checking constructors: a row that breaks a
//! rule is reported as [`StoreError::Unexpected`], never handed on.
//!
//! Rows are read by position (the statements select [`MESSAGE_COLUMNS`] or
//! [`THREAD_COLUMNS`] first, in that order), and JSON columns are
//! borrowed from the row as text and checked without being parsed into a tree: this is
//! the hot path of every list.

use crate::db::Row;
use crate::entity::{message, thread};
use crate::error::InvalidRow;
use domain::{
    DomainError, Limits, Message, MessageContent, MessageId, Metadata, Role, Sources, StoreError,
    Thread, ThreadId, ThreadTitle, UserId, Version,
};

/// Content read back is not held to the configurable request limit: the limit may have been
/// lowered since the message was stored, and it still has to be readable.
const STORED_LIMITS: Limits = Limits {
    max_content_bytes: usize::MAX,
};

/// The columns of `chat_messages` that [`message_from_row`] reads, in order.
pub(crate) const MESSAGE_COLUMNS: [message::Column; 10] = [
    message::Column::Id,
    message::Column::ThreadId,
    message::Column::Role,
    message::Column::Content,
    message::Column::Sources,
    message::Column::Metadata,
    message::Column::CreatedAt,
    message::Column::UpdatedAt,
    message::Column::Version,
    message::Column::ParentId,
];

/// The columns of `chat_threads` that [`thread_from_row`] reads, in order.
pub(crate) const THREAD_COLUMNS: [thread::Column; 12] = [
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
    thread::Column::ActiveLeafId,
];

/// The message in the first [`MESSAGE_COLUMNS`] of `row`.
pub(crate) fn message_from_row(row: &Row) -> Result<Message, StoreError> {
    let id: uuid::Uuid = row.get(0)?;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_messages", id, &err);
    Ok(Message {
        id: MessageId::from_uuid(id),
        thread_id: ThreadId::from_uuid(row.get(1)?),
        role: Role::parse(&row.get::<String>(2)?).map_err(invalid)?,
        content: MessageContent::parse(row.get::<String>(3)?, &STORED_LIMITS).map_err(invalid)?,
        sources: Sources::from_json(row.json(4)?).map_err(invalid)?,
        metadata: Metadata::from_json(row.json(5)?).map_err(invalid)?,
        created_at: row.timestamp(6)?,
        updated_at: row.timestamp(7)?,
        version: Version::new(row.get(8)?),
        parent_id: row.get::<Option<uuid::Uuid>>(9)?.map(MessageId::from_uuid),
    })
}

/// The thread in the first [`THREAD_COLUMNS`] of `row`.
pub(crate) fn thread_from_row(row: &Row) -> Result<Thread, StoreError> {
    let id: uuid::Uuid = row.get(0)?;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_threads", id, &err);
    Ok(Thread {
        id: ThreadId::from_uuid(id),
        user_id: UserId::parse(row.get::<String>(1)?).map_err(invalid)?,
        title: ThreadTitle::parse(row.get::<String>(2)?).map_err(invalid)?,
        metadata: Metadata::from_json(row.json(3)?).map_err(invalid)?,
        archived_at: row.optional_timestamp(4)?,
        pinned_at: row.optional_timestamp(5)?,
        message_count: row.get(6)?,
        last_message_at: row.optional_timestamp(7)?,
        created_at: row.timestamp(8)?,
        updated_at: row.timestamp(9)?,
        version: Version::new(row.get(10)?),
        active_leaf_id: row.get::<Option<uuid::Uuid>>(11)?.map(MessageId::from_uuid),
    })
}

/// Every row, as messages.
pub(crate) fn messages_from_rows(rows: &[Row]) -> Result<Vec<Message>, StoreError> {
    rows.iter().map(message_from_row).collect()
}

/// Every row, as threads.
pub(crate) fn threads_from_rows(rows: &[Row]) -> Result<Vec<Thread>, StoreError> {
    rows.iter().map(thread_from_row).collect()
}
