//! HTTP bodies: what clients send and receive. Converted to and from domain types once,
//! here; domain entities are never serialized directly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use domain::{
    DomainError, Limits, Message, MessageContent, MessageId, MessagePatch, Metadata, NewFork,
    NewMessage, NewThread, ParentChoice, PathMessage, Role, SearchHit, Sources, Thread, ThreadId,
    ThreadPatch, ThreadTitle, Timestamp,
};

/// Present fields must not be `null`: absent means "not given", `null` is a 422.
fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Like [`non_null`] for fields that take any JSON value (objects, arrays).
fn non_null_value<'de, D>(deserializer: D) -> Result<Option<Value>, D::Error>
where
    D: Deserializer<'de>,
{
    match Value::deserialize(deserializer)? {
        Value::Null => Err(serde::de::Error::custom("invalid type: null")),
        value => Ok(Some(value)),
    }
}

/// For fields where `null` means something: absent is `None`, `null` is `Some(None)`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A message id given in a body under `field`.
fn message_id(text: &str, field: &str) -> Result<MessageId, DomainError> {
    MessageId::parse(text).map_err(|_| DomainError::invalid(field, "must be a UUID"))
}

/// `POST /api/v1/threads`. Every field is optional; none may be `null`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateThreadBody {
    /// The client's own id (a UUID), for idempotent retries; generated when omitted.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, format = Uuid)]
    id: Option<String>,
    /// At most 512 characters, no U+0000. Default `""`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_length = 512, pattern = "^[^\\u0000]*$")]
    title: Option<String>,
    /// A JSON object of at most 16 KiB serialized. Default `{}`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Object)]
    metadata: Option<Value>,
}

impl CreateThreadBody {
    /// Validates into the domain request.
    pub fn try_into_domain(self) -> Result<NewThread, DomainError> {
        Ok(NewThread {
            id: self.id.as_deref().map(ThreadId::parse).transpose()?,
            title: self
                .title
                .map(ThreadTitle::parse)
                .transpose()?
                .unwrap_or_default(),
            metadata: self
                .metadata
                .map(Metadata::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// `PATCH /api/v1/threads/{thread_id}`: each field given replaces the stored one; `null`
/// is rejected.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateThreadBody {
    /// New title, at most 512 characters.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_length = 512, pattern = "^[^\\u0000]*$")]
    title: Option<String>,
    /// New metadata, replacing the whole object (at most 16 KiB).
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Object)]
    metadata: Option<Value>,
    /// Archive (`true`) or unarchive (`false`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    archived: Option<bool>,
    /// Pin (`true`) or unpin (`false`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pinned: Option<bool>,
    /// Switch the version shown: any message of the thread becomes the active leaf,
    /// exactly (no descent); `null` makes the active path the one through the newest root.
    /// Does not change `updated_at` (the thread keeps its place in the list) but does
    /// change the `ETag`. Another id is 422 `unknown_message`.
    #[serde(default, deserialize_with = "nullable")]
    // The pattern as well as the format: JSON Schema applies `format` to strings only, and
    // generators of a `["string", "null"]` field do not always honour it.
    #[schema(value_type = Option<String>, format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    active_leaf_id: Option<Option<String>>,
}

impl UpdateThreadBody {
    /// Validates into the domain patch.
    pub fn try_into_domain(self) -> Result<ThreadPatch, DomainError> {
        Ok(ThreadPatch {
            title: self.title.map(ThreadTitle::parse).transpose()?,
            metadata: self.metadata.map(Metadata::parse).transpose()?,
            archived: self.archived,
            pinned: self.pinned,
            active_leaf: self
                .active_leaf_id
                .map(|leaf| {
                    leaf.as_deref()
                        .map(|id| message_id(id, "active_leaf_id"))
                        .transpose()
                })
                .transpose()?,
        })
    }
}

/// `POST /api/v1/threads/{thread_id}/fork`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ForkBody {
    /// The message whose path from the root is copied into the new thread.
    #[schema(format = Uuid)]
    message_id: String,
    /// The client's own id for the new thread (a UUID), for idempotent retries.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, format = Uuid)]
    id: Option<String>,
    /// The new thread's title; the source thread's when omitted.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_length = 512, pattern = "^[^\\u0000]*$")]
    title: Option<String>,
}

impl ForkBody {
    /// Validates into the domain request.
    pub fn try_into_domain(self) -> Result<NewFork, DomainError> {
        Ok(NewFork {
            message_id: message_id(&self.message_id, "message_id")?,
            id: self.id.as_deref().map(ThreadId::parse).transpose()?,
            title: self.title.map(ThreadTitle::parse).transpose()?,
        })
    }
}

/// `POST /api/v1/threads/{thread_id}/messages` and each item of a batch.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateMessageBody {
    /// The client's own id (a UUID), for idempotent retries; generated when omitted.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, format = Uuid)]
    id: Option<String>,
    /// Who wrote it.
    #[schema(value_type = RoleSchema)]
    role: String,
    /// The text: at most 1 MiB (configurable) of JSON serialization, no U+0000.
    #[schema(pattern = "^[^\\u0000]*$")]
    content: String,
    /// Retrieval citations: an array of objects, at most 256 KiB serialized. Default `[]`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<Object>)]
    sources: Option<Value>,
    /// A JSON object of at most 16 KiB serialized. Default `{}`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Object)]
    metadata: Option<Value>,
    /// Where the message goes in the conversation tree. Omitted: after the thread's active
    /// leaf (in a batch, after the message before it), so a client that never sends it
    /// gets a linear thread; `null`: a new root; an id: a message of this thread (in a
    /// batch, also an earlier message of the same batch), else 422 `unknown_message`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    parent_id: Option<Option<String>>,
}

/// A message's author.
#[derive(Debug, ToSchema)]
#[schema(as = Role)]
#[allow(dead_code)]
pub enum RoleSchema {
    /// Instructions to the model.
    #[schema(rename = "system")]
    System,
    /// The person chatting.
    #[schema(rename = "user")]
    User,
    /// The model.
    #[schema(rename = "assistant")]
    Assistant,
    /// A tool's output.
    #[schema(rename = "tool")]
    Tool,
}

impl CreateMessageBody {
    /// Validates into the domain request.
    pub fn try_into_domain(self, limits: &Limits) -> Result<NewMessage, DomainError> {
        Ok(NewMessage {
            id: self.id.as_deref().map(MessageId::parse).transpose()?,
            role: Role::parse(&self.role)?,
            content: MessageContent::parse(self.content, limits)?,
            sources: self
                .sources
                .map(Sources::parse)
                .transpose()?
                .unwrap_or_default(),
            metadata: self
                .metadata
                .map(Metadata::parse)
                .transpose()?
                .unwrap_or_default(),
            parent: match self.parent_id {
                None => ParentChoice::Omitted,
                Some(None) => ParentChoice::Root,
                Some(Some(id)) => ParentChoice::Message(message_id(&id, "parent_id")?),
            },
        })
    }
}

/// `POST /api/v1/threads/{thread_id}/messages/batch`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchBody {
    /// 1 to 100 messages, stored in this order, all or none.
    #[schema(min_items = 1, max_items = 100)]
    messages: Vec<CreateMessageBody>,
}

impl BatchBody {
    /// Validates every message; the error names the item (`messages[3].role`).
    pub fn try_into_domain(self, limits: &Limits) -> Result<Vec<NewMessage>, DomainError> {
        self.messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                m.try_into_domain(limits)
                    .map_err(|e| e.within(&format!("messages[{i}]")))
            })
            .collect()
    }
}

/// `PATCH /api/v1/threads/{thread_id}/messages/{message_id}`: each field given replaces
/// the stored one; `null` is rejected.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMessageBody {
    /// New text.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, pattern = "^[^\\u0000]*$")]
    content: Option<String>,
    /// New citations (an array of objects).
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<Object>)]
    sources: Option<Value>,
    /// New metadata, replacing the whole object.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Object)]
    metadata: Option<Value>,
}

impl UpdateMessageBody {
    /// Validates into the domain patch.
    pub fn try_into_domain(self, limits: &Limits) -> Result<MessagePatch, DomainError> {
        Ok(MessagePatch {
            content: self
                .content
                .map(|c| MessageContent::parse(c, limits))
                .transpose()?,
            sources: self.sources.map(Sources::parse).transpose()?,
            metadata: self.metadata.map(Metadata::parse).transpose()?,
        })
    }
}

/// Writes a timestamp as RFC 3339 text without an intermediate string.
fn rfc3339<S: Serializer>(t: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(t)
}

/// [`rfc3339`] or `null`.
fn rfc3339_or_null<S: Serializer>(t: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.collect_str(t),
        None => serializer.serialize_none(),
    }
}

/// A thread. Built from the domain value by moving its parts (no copies), and serialized
/// straight from them: ids and timestamps are printed into the output, stored JSON is
/// written as the text it is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Thread)]
pub struct ThreadResponse {
    #[schema(value_type = String, format = Uuid)]
    id: uuid::Uuid,
    title: String,
    #[schema(value_type = Object)]
    metadata: Box<RawValue>,
    archived: bool,
    pinned: bool,
    #[schema(minimum = 0)]
    message_count: i64,
    /// `created_at` of the newest message; `null` when the thread is empty.
    #[serde(serialize_with = "rfc3339_or_null")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_message_at: Option<Timestamp>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// Last change of the thread or of any of its messages.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
    /// The message the user is looking at: its path from the root is the conversation
    /// (`branch=active`). `null` for an empty thread, or after it was set to `null`.
    #[schema(value_type = Option<String>, format = Uuid)]
    active_leaf_id: Option<uuid::Uuid>,
}

impl From<Thread> for ThreadResponse {
    fn from(t: Thread) -> Self {
        Self {
            id: *t.id.as_uuid(),
            archived: t.archived(),
            pinned: t.pinned(),
            title: t.title.into_inner(),
            metadata: t.metadata.into_raw(),
            message_count: t.message_count,
            last_message_at: t.last_message_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
            active_leaf_id: t.active_leaf_id.map(|id| *id.as_uuid()),
        }
    }
}

impl From<&Thread> for ThreadResponse {
    fn from(t: &Thread) -> Self {
        Self::from(t.clone())
    }
}

/// A message. Like [`ThreadResponse`], moved out of the domain value and serialized
/// without copies.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageResponse {
    #[schema(value_type = String, format = Uuid)]
    id: uuid::Uuid,
    #[schema(value_type = String, format = Uuid)]
    thread_id: uuid::Uuid,
    /// The message it follows in the conversation tree; `null` for a root.
    #[schema(value_type = Option<String>, format = Uuid)]
    parent_id: Option<uuid::Uuid>,
    #[schema(value_type = RoleSchema)]
    role: &'static str,
    content: String,
    #[schema(value_type = Vec<Object>)]
    sources: Box<RawValue>,
    #[schema(value_type = Object)]
    metadata: Box<RawValue>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
    /// Only in path listings (`branch=active` or `through`): the messages with the same
    /// parent (for a root: the thread's roots), itself included, in `created_at, id` order.
    /// A UI shows "2 / 3" from the position of `id` in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, nullable = false)]
    sibling_ids: Option<Vec<uuid::Uuid>>,
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> Self {
        Self {
            id: *m.id.as_uuid(),
            thread_id: *m.thread_id.as_uuid(),
            parent_id: m.parent_id.map(|id| *id.as_uuid()),
            role: m.role.as_str(),
            content: m.content.into_inner(),
            sources: m.sources.into_raw(),
            metadata: m.metadata.into_raw(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            sibling_ids: None,
        }
    }
}

impl MessageResponse {
    /// About how many bytes this message takes as JSON: the stored text plus the keys,
    /// ids and timestamps around it.
    pub fn size_hint(&self) -> usize {
        self.content.len()
            + self.sources.get().len()
            + self.metadata.get().len()
            + 320
            + self.sibling_ids.as_ref().map_or(0, |ids| ids.len() * 39)
    }
}

impl From<PathMessage> for MessageResponse {
    fn from(m: PathMessage) -> Self {
        Self {
            sibling_ids: Some(m.sibling_ids.iter().map(|id| *id.as_uuid()).collect()),
            ..Self::from(m.message)
        }
    }
}

impl From<&Message> for MessageResponse {
    fn from(m: &Message) -> Self {
        Self::from(m.clone())
    }
}

/// The thread of a search hit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchHitThread)]
pub struct SearchHitThreadResponse {
    #[schema(format = Uuid)]
    id: String,
    title: String,
}

/// One message that matches a search.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchHit)]
pub struct SearchHitResponse {
    /// The message, as `GET .../messages/{message_id}` returns it.
    message: MessageResponse,
    /// Its thread.
    thread: SearchHitThreadResponse,
    /// A short plain-text excerpt of the content; every match is wrapped in `⟦` (U+27E6)
    /// and `⟧` (U+27E7), which occur nowhere else in it (the content's own are shown as
    /// `[` and `]`).
    snippet: String,
}

impl From<SearchHit> for SearchHitResponse {
    fn from(hit: SearchHit) -> Self {
        Self {
            thread: SearchHitThreadResponse {
                id: hit.message.thread_id.to_string(),
                title: hit.thread_title.into_inner(),
            },
            message: MessageResponse::from(hit.message),
            snippet: hit.snippet,
        }
    }
}

/// Every list answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    /// The items.
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Pass as `cursor` to get the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The answer of a batch append.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataResponse<T> {
    /// The items.
    pub data: Vec<T>,
}

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The Better Auth user id.
    pub user_id: String,
    /// `jwt` or `session`.
    #[schema(value_type = String, pattern = "^(jwt|session)$")]
    pub auth: &'static str,
}
