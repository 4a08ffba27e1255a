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
    DomainError, Feedback, Limits, Message, MessageContent, MessageId, MessageParts, MessageStatus,
    Metadata, Rating, Role, Sources, StoreError, StreamId, Thread, ThreadId, ThreadTitle,
    Timestamp, UserId, Version,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Content read back is not held to the configurable request limit: the limit may have been
/// lowered since the message was stored, and it still has to be readable.
pub(crate) const STORED_LIMITS: Limits = Limits {
    max_content_bytes: usize::MAX,
};

/// The columns of `chat_messages` that [`message_from_row`] reads, in order.
pub(crate) const MESSAGE_COLUMNS: [message::Column; 13] = [
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
    message::Column::Parts,
    message::Column::Status,
    message::Column::Feedback,
];

/// The columns of `chat_threads` that [`thread_from_row`] reads, in order.
pub(crate) const THREAD_COLUMNS: [thread::Column; 14] = [
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
    thread::Column::ActiveStreamId,
    thread::Column::ExpiresAt,
];

/// The message in the first [`MESSAGE_COLUMNS`] of `row`.
pub(crate) fn message_from_row(row: &Row) -> Result<Message, StoreError> {
    let id: uuid::Uuid = row.get(0)?;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_messages", id, &err);
    let content = MessageContent::parse(row.get::<String>(3)?, &STORED_LIMITS).map_err(invalid)?;
    let parts = match row.optional_json(10)? {
        Some(raw) => MessageParts::from_json(raw).map_err(invalid)?,
        None => MessageParts::from_content(&content),
    };
    Ok(Message {
        id: MessageId::from_uuid(id),
        thread_id: ThreadId::from_uuid(row.get(1)?),
        role: Role::parse(&row.get::<String>(2)?).map_err(invalid)?,
        content,
        parts,
        status: MessageStatus::parse(&row.get::<String>(11)?).map_err(invalid)?,
        feedback: row
            .optional_json(12)?
            .map(|raw| feedback_from_json(raw).map_err(invalid))
            .transpose()?,
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
        active_stream_id: row
            .get::<Option<String>>(12)?
            .map(StreamId::parse)
            .transpose()
            .map_err(invalid)?,
        expires_at: row.optional_timestamp(13)?,
    })
}

/// Feedback as the `feedback` column stores it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredFeedback {
    rating: String,
    comment: Option<String>,
    tags: Vec<String>,
    /// Microseconds since the Unix epoch.
    updated_at: i64,
}

/// The `feedback` column's JSON text for `feedback`.
pub(crate) fn feedback_json(feedback: &Feedback) -> Result<String, StoreError> {
    serde_json::to_string(&StoredFeedback {
        rating: feedback.rating.as_str().to_owned(),
        comment: feedback.comment.clone(),
        tags: feedback.tags.clone(),
        updated_at: feedback.updated_at.as_micros(),
    })
    .map_err(StoreError::unexpected)
}

/// Feedback read back from the `feedback` column, under the rules of a request.
pub(crate) fn feedback_from_json(raw: &RawValue) -> Result<Feedback, DomainError> {
    let stored: StoredFeedback = serde_json::from_str(raw.get())
        .map_err(|e| DomainError::invalid("feedback", e.to_string()))?;
    let updated_at = Timestamp::from_micros(stored.updated_at)
        .ok_or_else(|| DomainError::invalid("feedback", "updated_at out of range"))?;
    Ok(
        domain::FeedbackInput::parse(Rating::parse(&stored.rating)?, stored.comment, stored.tags)?
            .at(updated_at),
    )
}

/// Every row, as messages.
pub(crate) fn messages_from_rows(rows: &[Row]) -> Result<Vec<Message>, StoreError> {
    rows.iter().map(message_from_row).collect()
}

/// Every row, as threads.
pub(crate) fn threads_from_rows(rows: &[Row]) -> Result<Vec<Thread>, StoreError> {
    rows.iter().map(thread_from_row).collect()
}
