use crate::{
    DomainError, Feedback, Limits, MessageContent, MessageId, MessageParts, MessageStatus,
    Metadata, Role, Sources, ThreadId, Timestamp, Version,
};

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
    /// The text (what search and the markdown export read).
    pub content: MessageContent,
    /// The AI SDK parts, verbatim (derived from `content` when the client sent none).
    pub parts: MessageParts,
    /// Where the reply stands.
    pub status: MessageStatus,
    /// Retrieval citations, `[]` by default.
    pub sources: Sources,
    /// Client data, `{}` by default.
    pub metadata: Metadata,
    /// The user's rating, if any.
    pub feedback: Option<Feedback>,
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
    /// The text (derived from `parts` when the client sent none; see [`text_and_parts`]).
    pub content: MessageContent,
    /// The parts (derived from `content` when the client sent none).
    pub parts: MessageParts,
    /// Where the reply stands (`complete` when the client sent none).
    pub status: MessageStatus,
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
        self.parent.matches(stored.parent_id)
            && self.role == stored.role
            && self.content == stored.content
            && self.parts == stored.parts
            && self.status == stored.status
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

impl ParentChoice {
    /// Whether a stored parent is the one chosen; an omitted parent matches any.
    pub fn matches(&self, stored: Option<MessageId>) -> bool {
        match self {
            Self::Omitted => true,
            Self::Root => stored.is_none(),
            Self::Message(id) => stored == Some(*id),
        }
    }
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
    /// New text and parts, always together (see [`text_and_parts`]: sending one
    /// re-derives the other).
    pub text: Option<(MessageContent, MessageParts)>,
    /// New citations.
    pub sources: Option<Sources>,
    /// New metadata, replacing the whole object.
    pub metadata: Option<Metadata>,
    /// New status.
    pub status: Option<MessageStatus>,
}

impl MessagePatch {
    /// True when the patch names no field.
    pub fn is_empty(&self) -> bool {
        self.text.is_none()
            && self.sources.is_none()
            && self.metadata.is_none()
            && self.status.is_none()
    }

    /// The patch that replaces everything a `PUT` replaces with what `message` asks for.
    pub fn replacing_with(message: &NewMessage) -> Self {
        Self {
            text: Some((message.content.clone(), message.parts.clone())),
            sources: Some(message.sources.clone()),
            metadata: Some(message.metadata.clone()),
            status: Some(message.status),
        }
    }
}

/// The defaulting rule of `content` and `parts`, on create and on PATCH alike: `parts`
/// omitted is derived from `content` ([`MessageParts::from_content`]); `content` omitted is
/// the text of the `text` parts ([`MessageParts::text`]); both given are kept as given.
/// `None` when neither is given.
///
/// Errors: `Invalid` only when the text derived from `parts` breaks the content rules.
pub fn text_and_parts(
    content: Option<MessageContent>,
    parts: Option<MessageParts>,
    limits: &Limits,
) -> Result<Option<(MessageContent, MessageParts)>, DomainError> {
    Ok(match (content, parts) {
        (None, None) => None,
        (Some(content), None) => {
            let parts = MessageParts::from_content(&content);
            Some((content, parts))
        }
        (None, Some(parts)) => Some((parts.text(limits)?, parts)),
        (Some(content), Some(parts)) => Some((content, parts)),
    })
}
