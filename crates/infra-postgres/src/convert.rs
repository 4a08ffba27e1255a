//! Rows to domain values, through the domain's checking constructors: a row that breaks a
//! rule is reported as [`StoreError::Unexpected`], never handed on.

use domain::{
    DomainError, Limits, Message, MessageContent, MessageId, Metadata, Role, Sources, StoreError,
    Thread, ThreadId, ThreadTitle, Timestamp, UserId, Version,
};

use crate::entity::{message, thread};
use crate::error::InvalidRow;

/// Content read back is not held to the configurable request limit: the limit may have been
/// lowered since the message was stored, and it still has to be readable.
const STORED_LIMITS: Limits = Limits {
    max_content_bytes: usize::MAX,
};

pub(crate) fn thread_from_row(row: thread::Model) -> Result<Thread, StoreError> {
    let id = row.id;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_threads", id, &err);
    Ok(Thread {
        id: ThreadId::from_uuid(row.id),
        user_id: UserId::parse(row.user_id).map_err(invalid)?,
        title: ThreadTitle::parse(row.title).map_err(invalid)?,
        metadata: Metadata::parse(row.metadata).map_err(invalid)?,
        archived_at: row.archived_at.map(Timestamp::from_datetime),
        pinned_at: row.pinned_at.map(Timestamp::from_datetime),
        message_count: row.message_count,
        last_message_at: row.last_message_at.map(Timestamp::from_datetime),
        created_at: Timestamp::from_datetime(row.created_at),
        updated_at: Timestamp::from_datetime(row.updated_at),
        version: Version::new(row.version),
    })
}

pub(crate) fn message_from_row(row: message::Model) -> Result<Message, StoreError> {
    let id = row.id;
    let invalid = move |err: DomainError| InvalidRow::store_error("chat_messages", id, &err);
    Ok(Message {
        id: MessageId::from_uuid(row.id),
        thread_id: ThreadId::from_uuid(row.thread_id),
        role: Role::parse(&row.role).map_err(invalid)?,
        content: MessageContent::parse(row.content, &STORED_LIMITS).map_err(invalid)?,
        sources: Sources::parse(row.sources).map_err(invalid)?,
        metadata: Metadata::parse(row.metadata).map_err(invalid)?,
        created_at: Timestamp::from_datetime(row.created_at),
        updated_at: Timestamp::from_datetime(row.updated_at),
        version: Version::new(row.version),
    })
}

pub(crate) fn threads_from_rows(rows: Vec<thread::Model>) -> Result<Vec<Thread>, StoreError> {
    rows.into_iter().map(thread_from_row).collect()
}

pub(crate) fn messages_from_rows(rows: Vec<message::Model>) -> Result<Vec<Message>, StoreError> {
    rows.into_iter().map(message_from_row).collect()
}
