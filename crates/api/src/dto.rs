//! HTTP bodies: what clients send and receive. Converted to and from domain types once,
//! here; domain entities are never serialized directly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use domain::{
    DomainError, Feedback, FeedbackInput, Limits, Message, MessageContent, MessageId, MessageParts,
    MessagePatch, MessageStatus, Metadata, NewFork, NewMessage, NewThread, ParentChoice,
    PathMessage, Rating, Role, SearchHit, Sources, StreamId, Thread, ThreadId, ThreadPatch,
    ThreadTitle, Timestamp, text_and_parts,
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
    #[schema(nullable = false, value_type = crate::parts::JsonObject)]
    metadata: Option<Value>,
    /// When the thread expires (a temporary chat): an RFC 3339 time in the future. From
    /// that moment the thread answers exactly like a missing one, and it is deleted.
    /// Omitted: it stays until deleted.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, format = DateTime)]
    expires_at: Option<String>,
}

/// An `expires_at` given in a body.
fn expires_at(text: &str) -> Result<Timestamp, DomainError> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| DomainError::invalid("expires_at", "must be an RFC 3339 date-time"))
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
            expires_at: self.expires_at.as_deref().map(expires_at).transpose()?,
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
    #[schema(nullable = false, value_type = crate::parts::JsonObject)]
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
    /// The id of the reply stream in flight (for the AI SDK's resumable streams): 1 to 128
    /// characters of `[A-Za-z0-9._-]`, or `null` to clear it. Like `active_leaf_id` it
    /// changes the `ETag` but not `updated_at`; with `If-Match` it is a compare-and-set.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]{1,128}$")]
    active_stream_id: Option<Option<String>>,
    /// When the thread expires: an RFC 3339 time in the future (a time in the past is
    /// 422), or `null` to keep it until deleted. Bumps `updated_at`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
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
            active_stream: self
                .active_stream_id
                .map(|stream| stream.map(StreamId::parse).transpose())
                .transpose()?,
            expires_at: self
                .expires_at
                .map(|at| at.as_deref().map(expires_at).transpose())
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
    /// The text: at most 1 MiB (configurable) of JSON serialization, no U+0000. Omitted:
    /// the `text` of the `text` parts, joined with `"\n\n"`. At least one of `content`
    /// and `parts` is required (neither: 422 with `field` `content`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, pattern = "^[^\\u0000]*$")]
    content: Option<String>,
    /// The AI SDK `UIMessage` parts, stored and returned verbatim: an array of objects,
    /// each with a string `type` (any type, future ones included), at most 1 MiB
    /// (configurable) serialized. Omitted: `[{"type": "text", "text": content}]` (`[]`
    /// when `content` is `""`).
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<crate::parts::UiMessagePart>)]
    parts: Option<Value>,
    /// Where the reply stands. Default `complete`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, value_type = StatusSchema)]
    status: Option<String>,
    /// Retrieval citations: an array of objects, at most 256 KiB serialized. Default `[]`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<crate::parts::JsonObject>)]
    sources: Option<Value>,
    /// A JSON object of at most 16 KiB serialized. Default `{}`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = crate::parts::JsonObject)]
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

/// Where a message's reply stands.
#[derive(Debug, ToSchema)]
#[schema(as = MessageStatus)]
#[allow(dead_code)]
pub enum StatusSchema {
    /// Finished (the default).
    #[schema(rename = "complete")]
    Complete,
    /// Still being written; saved again as it grows.
    #[schema(rename = "streaming")]
    Streaming,
    /// Stopped before it finished; what was written is kept.
    #[schema(rename = "aborted")]
    Aborted,
    /// The model or a tool failed.
    #[schema(rename = "error")]
    Error,
}

/// `content` and `parts` of a body after the defaulting rule; `None` when neither is given.
fn text_of(
    content: Option<String>,
    parts: Option<Value>,
    limits: &Limits,
) -> Result<Option<(MessageContent, MessageParts)>, DomainError> {
    let content = content
        .map(|c| MessageContent::parse(c, limits))
        .transpose()?;
    let parts = parts.map(|p| MessageParts::parse(p, limits)).transpose()?;
    text_and_parts(content, parts, limits)
}

impl CreateMessageBody {
    /// Validates into the domain request.
    pub fn try_into_domain(self, limits: &Limits) -> Result<NewMessage, DomainError> {
        let id = self.id.as_deref().map(MessageId::parse).transpose()?;
        let role = Role::parse(&self.role)?;
        let (content, parts) = text_of(self.content, self.parts, limits)?.ok_or_else(|| {
            DomainError::invalid("content", "is required when `parts` is not given")
        })?;
        Ok(NewMessage {
            id,
            role,
            content,
            parts,
            status: self
                .status
                .as_deref()
                .map(MessageStatus::parse)
                .transpose()?
                .unwrap_or_default(),
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

/// `PUT /api/v1/threads/{thread_id}/messages/{message_id}`: the create body; an `id` in
/// it must be the path's.
pub type PutMessageBody = CreateMessageBody;

impl CreateMessageBody {
    /// Validates a `PUT` body for the message `path_id`.
    pub fn try_into_put(
        self,
        path_id: MessageId,
        limits: &Limits,
    ) -> Result<NewMessage, DomainError> {
        let message = self.try_into_domain(limits)?;
        match message.id {
            Some(id) if id != path_id => Err(DomainError::invalid(
                "id",
                "must equal the message id in the path",
            )),
            _ => Ok(message),
        }
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
    /// New text. Sent without `parts`, the parts become `[{"type": "text", "text":
    /// content}]` (`[]` for `""`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, pattern = "^[^\\u0000]*$")]
    content: Option<String>,
    /// New parts, verbatim. Sent without `content`, the content becomes the `text` of the
    /// `text` parts joined with `"\n\n"`.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<crate::parts::UiMessagePart>)]
    parts: Option<Value>,
    /// New status.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, value_type = StatusSchema)]
    status: Option<String>,
    /// New citations (an array of objects).
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = Vec<crate::parts::JsonObject>)]
    sources: Option<Value>,
    /// New metadata, replacing the whole object.
    #[serde(default, deserialize_with = "non_null_value")]
    #[schema(nullable = false, value_type = crate::parts::JsonObject)]
    metadata: Option<Value>,
}

impl UpdateMessageBody {
    /// Validates into the domain patch.
    pub fn try_into_domain(self, limits: &Limits) -> Result<MessagePatch, DomainError> {
        Ok(MessagePatch {
            text: text_of(self.content, self.parts, limits)?,
            sources: self.sources.map(Sources::parse).transpose()?,
            metadata: self.metadata.map(Metadata::parse).transpose()?,
            status: self
                .status
                .as_deref()
                .map(MessageStatus::parse)
                .transpose()?,
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
    #[schema(value_type = crate::parts::JsonObject)]
    metadata: Box<RawValue>,
    archived: bool,
    pinned: bool,
    #[schema(minimum = 0)]
    message_count: i64,
    /// `created_at` of the newest message; `null` when the thread is empty.
    #[serde(serialize_with = "rfc3339_or_null")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
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
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    active_leaf_id: Option<uuid::Uuid>,
    /// The id of the reply stream in flight, as an app set it; `null` when none.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9._-]{1,128}$", required = true)]
    active_stream_id: Option<String>,
    /// When the thread expires (a temporary chat); `null` when it stays until deleted.
    #[serde(serialize_with = "rfc3339_or_null")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    expires_at: Option<Timestamp>,
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
            active_stream_id: t.active_stream_id.map(StreamId::into_inner),
            expires_at: t.expires_at,
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
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    parent_id: Option<uuid::Uuid>,
    #[schema(value_type = RoleSchema)]
    role: &'static str,
    /// The text: what search and the markdown export read.
    content: String,
    /// The AI SDK `UIMessage` parts, as stored: `{id, role, parts, metadata}` of a message
    /// is a `UIMessage`.
    #[schema(value_type = Vec<crate::parts::UiMessagePart>)]
    parts: Box<RawValue>,
    #[schema(value_type = StatusSchema)]
    status: &'static str,
    #[schema(value_type = Vec<crate::parts::JsonObject>)]
    sources: Box<RawValue>,
    #[schema(value_type = crate::parts::JsonObject)]
    metadata: Box<RawValue>,
    /// The user's rating; `null` when none was given.
    #[schema(required = true)]
    feedback: Option<FeedbackResponse>,
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
    #[schema(value_type = Option<Vec<uuid::Uuid>>, nullable = false)]
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
            parts: m.parts.into_raw(),
            status: m.status.as_str(),
            sources: m.sources.into_raw(),
            metadata: m.metadata.into_raw(),
            feedback: m.feedback.map(FeedbackResponse::from),
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
            + self.parts.get().len()
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

/// `PUT /api/v1/threads/{thread_id}/messages/{message_id}/feedback`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FeedbackBody {
    /// Thumbs up or down.
    #[schema(value_type = RatingSchema)]
    rating: String,
    /// What the user wrote: at most 2000 characters, no U+0000.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_length = 2000, pattern = "^[^\\u0000]*$")]
    comment: Option<String>,
    /// Up to 16 labels of 1 to 64 characters each.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_items = 16, value_type = Vec<TagSchema>)]
    tags: Option<Vec<String>>,
}

/// A feedback tag: 1 to 64 characters, no U+0000.
#[derive(Debug)]
pub struct TagSchema;

impl utoipa::PartialSchema for TagSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some("^[^\\u0000]*$"))
            .description(Some("A label: 1 to 64 characters."))
            .into()
    }
}

impl ToSchema for TagSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("FeedbackTag")
    }
}

impl FeedbackBody {
    /// Validates into the domain value.
    pub fn try_into_domain(self) -> Result<FeedbackInput, DomainError> {
        FeedbackInput::parse(
            Rating::parse(&self.rating)?,
            self.comment,
            self.tags.unwrap_or_default(),
        )
    }
}

/// A rating.
#[derive(Debug, ToSchema)]
#[schema(as = Rating)]
#[allow(dead_code)]
pub enum RatingSchema {
    /// Thumbs up.
    #[schema(rename = "up")]
    Up,
    /// Thumbs down.
    #[schema(rename = "down")]
    Down,
}

/// A user's feedback on a message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Feedback)]
pub struct FeedbackResponse {
    #[schema(value_type = RatingSchema)]
    rating: &'static str,
    /// `null` when the user wrote none.
    #[schema(required = true)]
    comment: Option<String>,
    /// `[]` when the user picked none.
    tags: Vec<String>,
    /// When it was last given.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<Feedback> for FeedbackResponse {
    fn from(f: Feedback) -> Self {
        Self {
            rating: f.rating.as_str(),
            comment: f.comment,
            tags: f.tags,
            updated_at: f.updated_at,
        }
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
    #[schema(required = true)]
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
    #[schema(value_type = AuthMethodSchema)]
    pub auth: &'static str,
}

/// How the caller authenticated, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = AuthMethod)]
#[allow(dead_code)]
pub enum AuthMethodSchema {
    /// A JWT (Better Auth's `jwt` plugin, or a configured key).
    #[schema(rename = "jwt")]
    Jwt,
    /// A Better Auth session (cookie or session token).
    #[schema(rename = "session")]
    Session,
}

/// `archived` of `GET /api/v1/threads`, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = ArchivedFilter)]
#[allow(dead_code)]
pub enum ArchivedSchema {
    /// Threads that are not archived (the default).
    #[schema(rename = "false")]
    False,
    /// Archived threads only.
    #[schema(rename = "true")]
    True,
    /// Both.
    #[schema(rename = "all")]
    All,
}

/// `order` of a message listing, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = Order)]
#[allow(dead_code)]
pub enum OrderSchema {
    /// Root first, oldest first (the default).
    #[schema(rename = "asc")]
    Asc,
    /// Leaf first, newest first.
    #[schema(rename = "desc")]
    Desc,
}

/// `branch` of a message listing, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = Branch)]
#[allow(dead_code)]
pub enum BranchSchema {
    /// The path from the root to the active leaf (the default).
    #[schema(rename = "active")]
    Active,
    /// Every message on every branch.
    #[schema(rename = "all")]
    All,
}

/// `format` of a thread export, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = ExportFormat)]
#[allow(dead_code)]
pub enum ExportFormatSchema {
    /// `{"thread", "messages"}` (the default).
    #[schema(rename = "json")]
    Json,
    /// The active path as Markdown.
    #[schema(rename = "markdown")]
    Markdown,
}

/// `format` of `POST /api/v1/me/import`, for the OpenAPI document.
#[derive(Debug, ToSchema)]
#[schema(as = ImportFormat)]
#[allow(dead_code)]
pub enum ImportFormatSchema {
    /// This service's NDJSON export (the default).
    #[schema(rename = "chat-history")]
    ChatHistory,
    /// ChatGPT's `conversations.json`.
    #[schema(rename = "chatgpt")]
    Chatgpt,
    /// Claude's `conversations.json`.
    #[schema(rename = "claude")]
    Claude,
}
