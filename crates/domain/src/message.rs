use crate::{MessageContent, MessageId, Metadata, Role, Sources, ThreadId, Timestamp, Version};

/// One message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The thread it belongs to (and through it, its owner).
    pub thread_id: ThreadId,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: MessageContent,
    /// Retrieval citations, `[]` by default.
    pub sources: Sources,
    /// Client data, `{}` by default.
    pub metadata: Metadata,
    /// When it was appended. Within a thread, `(created_at, id)` orders messages.
    pub created_at: Timestamp,
    /// Last edit.
    pub updated_at: Timestamp,
    /// Grows on every change; the basis of the `ETag`.
    pub version: Version,
}

/// What a client asks for when appending a message, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// The client's own id, for idempotent retries; generated when `None`.
    pub id: Option<MessageId>,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: MessageContent,
    /// Citations (`[]` when the client sent none).
    pub sources: Sources,
    /// Client data (`{}` when the client sent none).
    pub metadata: Metadata,
}

impl NewMessage {
    /// True when a stored message says the same as this request, defaults applied: the
    /// test for an idempotent replay.
    pub fn matches(&self, stored: &Message) -> bool {
        self.role == stored.role
            && self.content == stored.content
            && self.sources == stored.sources
            && self.metadata == stored.metadata
    }
}

/// A partial edit of a message: each `Some` field replaces the stored one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessagePatch {
    /// New text.
    pub content: Option<MessageContent>,
    /// New citations.
    pub sources: Option<Sources>,
    /// New metadata, replacing the whole object.
    pub metadata: Option<Metadata>,
}

impl MessagePatch {
    /// True when the patch names no field.
    pub fn is_empty(&self) -> bool {
        self.content.is_none() && self.sources.is_none() && self.metadata.is_none()
    }
}
