//! What an import file holds, in neutral terms: the readers of each format (in the API
//! crate) produce these, and [`crate::ImportService`] validates and stores them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One conversation of an import file, in neutral terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConversation {
    /// The conversation's id in the source: ChatGPT `conversation_id` (else `id`), Claude
    /// `uuid`, chat-history `thread.id`. Never empty.
    pub source_id: String,
    /// The title as in the file; `""` when absent or `null`. Not trimmed or shortened.
    pub title: String,
    /// When the conversation was started, when the file says so.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed, when the file says so.
    pub updated_at: Option<DateTime<Utc>>,
    /// ChatGPT `is_archived`; chat-history `archived`; Claude: always `false`.
    pub archived: bool,
    /// ChatGPT and Claude `is_starred`; chat-history `pinned`.
    pub pinned: bool,
    /// chat-history only: the thread's `expires_at` (a temporary chat). Not in the brief's
    /// original list: without it a re-imported temporary chat would silently become
    /// permanent. Always `None` for the other formats.
    pub expires_at: Option<DateTime<Utc>>,
    /// chat-history: the thread's `metadata` as exported. ChatGPT and Claude:
    /// `{"import": {"format": ..., "source_id": ..., ...}}` with a few fields worth keeping
    /// (see each format's module).
    pub metadata: Map<String, Value>,
    /// The source id of the message the user was looking at, always one of `messages`
    /// (or `None`): ChatGPT `current_node` (resolved to its nearest kept ancestor), Claude
    /// `current_leaf_message_uuid` else the last message, chat-history `active_leaf_id`.
    pub active_leaf: Option<String>,
    /// Every message on every branch, each parent before its children.
    pub messages: Vec<SourceMessage>,
}

/// One message of a [`SourceConversation`].
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMessage {
    /// The message's id in the source, unique within its conversation.
    pub source_id: String,
    /// The `source_id` of its parent, an earlier element of `messages`; `None` for a root.
    pub parent: Option<String>,
    /// Exactly `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text as the source gives it; `None` lets the importer derive it from the `text`
    /// parts (joined with `"\n\n"`, as the API does). Only chat-history sets it.
    pub content: Option<String>,
    /// AI SDK `UIMessage` parts: JSON objects, each with a string `type`. `None` only for a
    /// chat-history message exported without parts (then `content` is set).
    pub parts: Option<Vec<Value>>,
    /// Retrieval citations: chat-history only, else empty.
    pub sources: Vec<Value>,
    /// The message's metadata (chat-history: as exported; others: see each module).
    pub metadata: Map<String, Value>,
    /// `complete`, `streaming`, `aborted` or `error`; `None` when the source does not say.
    pub status: Option<String>,
    /// chat-history only: the exported feedback object (`{"rating", "comment", "tags",
    /// "updated_at"}`), as it is.
    pub feedback: Option<Value>,
    /// When the message was written, when the file says so.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed, when the file says so.
    pub updated_at: Option<DateTime<Utc>>,
}
