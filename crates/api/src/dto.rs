//! HTTP bodies: what clients send and receive. Converted to and from domain types once,
//! here; domain entities are never serialized directly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use domain::{
    DomainError, Limits, Message, MessageContent, MessageId, MessagePatch, Metadata, NewMessage,
    NewThread, Role, SearchHit, Sources, Thread, ThreadId, ThreadPatch, ThreadTitle, Timestamp,
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
}

impl UpdateThreadBody {
    /// Validates into the domain patch.
    pub fn try_into_domain(self) -> Result<ThreadPatch, DomainError> {
        Ok(ThreadPatch {
            title: self.title.map(ThreadTitle::parse).transpose()?,
            metadata: self.metadata.map(Metadata::parse).transpose()?,
            archived: self.archived,
            pinned: self.pinned,
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
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> Self {
        Self {
            id: *m.id.as_uuid(),
            thread_id: *m.thread_id.as_uuid(),
            role: m.role.as_str(),
            content: m.content.into_inner(),
            sources: m.sources.into_raw(),
            metadata: m.metadata.into_raw(),
            created_at: m.created_at,
            updated_at: m.updated_at,
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
