use crate::{MessageContent, MessageId, Metadata, Role, Sources, ThreadId, Timestamp, Version};

/// One message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The thread it belongs to (and through it, its owner).
    pub thread_id: ThreadId,
    /// The message it answers or follows in the conversation tree; `None` for a root.
    /// Always a message of the same thread, created before this one.
    pub parent_id: Option<MessageId>,
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
    /// Where in the tree it goes.
    pub parent: ParentChoice,
}

impl NewMessage {
    /// True when a stored message says the same as this request, defaults applied: the
    /// test for an idempotent replay. An omitted parent matches whatever parent was stored.
    pub fn matches(&self, stored: &Message) -> bool {
        let parent = match self.parent {
            ParentChoice::Omitted => true,
            ParentChoice::Root => stored.parent_id.is_none(),
            ParentChoice::Message(id) => stored.parent_id == Some(id),
        };
        parent
            && self.role == stored.role
            && self.content == stored.content
            && self.sources == stored.sources
            && self.metadata == stored.metadata
    }
}

/// The parent a client chose for a new message (`parent_id` omitted, `null`, or an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParentChoice {
    /// Not given: the thread's active leaf at the moment of the write (for the first
    /// message of a batch), or the message before it in the batch.
    #[default]
    Omitted,
    /// `null`: a new root.
    Root,
    /// This message, which must be in the same thread (or earlier in the same batch).
    Message(MessageId),
}

/// A message of a path listing, with the versions a user can switch between.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMessage {
    /// The message.
    pub message: Message,
    /// The messages with the same parent (the thread's roots for a root), itself included,
    /// in `(created_at, id)` order.
    pub sibling_ids: Vec<MessageId>,
}

/// What deleting a message removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeleteScope {
    /// The message alone: its children take its parent as theirs.
    #[default]
    Message,
    /// The message and every message below it.
    Subtree,
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
