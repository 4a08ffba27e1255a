use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    DomainError, FeedbackInput, Limits, Message, MessageContent, MessageId, MessageParts,
    MessageStatus, Metadata, Rating, Role, SourceConversation, SourceMessage, Sources, StoreError,
    Thread, ThreadId, ThreadRepository, ThreadTitle, Timestamp, UserId, Version, text_and_parts,
};

/// What importing one conversation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored now, as a thread holding this many messages.
    Created {
        /// Messages stored.
        messages: u64,
    },
    /// Already imported before (or a temporary chat that has expired): nothing stored.
    Skipped,
}

/// Imports conversations from export files into a user's history. Cheap to clone.
///
/// Each conversation becomes one thread, all or none. Its ids are derived from the
/// source's ids and the user (UUIDv5 under a namespace of the user's own), so importing
/// the same file again creates nothing twice, and two users importing the same file never
/// collide. Timestamps are the source's; a message the source dates at or before its
/// parent is moved to 1 µs after it (a child always sorts after its parent here).
#[derive(Clone)]
pub struct ImportService {
    repo: Arc<dyn ThreadRepository>,
    limits: Limits,
}

impl std::fmt::Debug for ImportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportService").finish_non_exhaustive()
    }
}

/// The namespace under which each user's import namespace is derived.
const IMPORT_NAMESPACE: Uuid = Uuid::from_u128(0x6a8f_0f5e_2c4b_4d7e_9b1a_3e5c_7d9f_1b2c);

impl ImportService {
    /// A service storing through `repo`, holding messages to `limits`.
    pub fn new(repo: Arc<dyn ThreadRepository>, limits: Limits) -> Self {
        Self { repo, limits }
    }

    /// The id the thread of conversation `source_id` of a `format` file gets for `user`.
    pub fn thread_id(user: &UserId, format: &str, source_id: &str) -> ThreadId {
        ThreadId::from_uuid(derived(user, &["thread", format, source_id]))
    }

    /// The id message `message` of conversation `conversation` gets for `user`.
    pub fn message_id(user: &UserId, format: &str, conversation: &str, message: &str) -> MessageId {
        MessageId::from_uuid(derived(user, &["message", format, conversation, message]))
    }

    /// Imports one conversation of a `format` file for `user`.
    ///
    /// Errors: [`DomainError::Invalid`] when the conversation breaks a rule of the service
    /// (the field names the message by its source id); [`DomainError::IdConflict`] when a
    /// derived id is taken (never by chance); `Unavailable`/`Unexpected` from storage.
    /// Nothing is stored on error.
    pub async fn import(
        &self,
        user: &UserId,
        format: &str,
        conversation: SourceConversation,
    ) -> Result<Imported, DomainError> {
        let now = Timestamp::now();
        let Some((thread, messages)) = build(user, format, conversation, &self.limits, now)? else {
            return Ok(Imported::Skipped);
        };
        let count = messages.len() as u64;
        match self.repo.import_thread(&thread, &messages).await {
            Ok(true) => Ok(Imported::Created { messages: count }),
            Ok(false) => Ok(Imported::Skipped),
            // A concurrent import of the same conversation won the race: it is there.
            Err(StoreError::AlreadyExists) => match self.repo.get_thread(user, thread.id).await {
                Ok(_) => Ok(Imported::Skipped),
                Err(StoreError::NotFound) => Err(DomainError::IdConflict),
                Err(other) => Err(other.into()),
            },
            Err(other) => Err(other.into()),
        }
    }
}

/// A UUIDv5 of `parts` (NUL-separated, so no two lists collide) under `user`'s namespace.
fn derived(user: &UserId, parts: &[&str]) -> Uuid {
    let namespace = Uuid::new_v5(&IMPORT_NAMESPACE, user.as_str().as_bytes());
    Uuid::new_v5(&namespace, parts.join("\0").as_bytes())
}

/// A source timestamp, truncated to microseconds.
fn at(time: Option<chrono::DateTime<chrono::Utc>>) -> Option<Timestamp> {
    time.map(Timestamp::from_datetime)
}

/// A rule broken by message `source_id`: the field names it.
fn in_message(source_id: &str, err: DomainError) -> DomainError {
    match err {
        DomainError::Invalid { field, reason } => DomainError::Invalid {
            field: format!("messages[{source_id}].{field}"),
            reason,
        },
        other => other,
    }
}

/// The title, without U+0000 and cut to the longest a title may be.
fn title(text: &str) -> Result<ThreadTitle, DomainError> {
    let clean: String = text
        .chars()
        .filter(|c| *c != '\0')
        .take(ThreadTitle::MAX_CHARS)
        .collect();
    ThreadTitle::parse(clean)
}

/// Metadata as the source gives it; when it breaks the size rule, a note saying so instead
/// (metadata is the source's bookkeeping, not the conversation).
fn metadata(map: serde_json::Map<String, Value>) -> Metadata {
    Metadata::parse(Value::Object(map)).unwrap_or_else(|_| {
        let note = serde_json::json!({"import": {"metadata_dropped": "larger than 16 KiB"}});
        Metadata::parse(note).unwrap_or_default()
    })
}

/// Feedback as the service exports it: `{"rating", "comment", "tags", "updated_at"}`.
fn feedback(value: &Value, fallback: Timestamp) -> Result<crate::Feedback, DomainError> {
    let rating = value
        .get("rating")
        .and_then(Value::as_str)
        .ok_or_else(|| DomainError::invalid("feedback", "rating must be up or down"))?;
    let comment = value
        .get("comment")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let tags = value
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()))
        .ok_or_else(|| DomainError::invalid("feedback", "tags must be strings"))?;
    let updated_at = value
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339)
        .unwrap_or(fallback);
    Ok(FeedbackInput::parse(Rating::parse(rating)?, comment, tags)?.at(updated_at))
}

/// The thread and messages a conversation becomes; `None` for a temporary chat that has
/// expired already.
fn build(
    user: &UserId,
    format: &str,
    conversation: SourceConversation,
    limits: &Limits,
    now: Timestamp,
) -> Result<Option<(Thread, Vec<Message>)>, DomainError> {
    let expires_at = at(conversation.expires_at);
    if expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let thread_id = ImportService::thread_id(user, format, &conversation.source_id);
    let started = at(conversation.created_at)
        .or_else(|| {
            conversation
                .messages
                .iter()
                .filter_map(|m| at(m.created_at))
                .min()
        })
        .unwrap_or(now);
    let version = Version::new(now.as_micros());
    let mut ids: HashMap<&str, (MessageId, Timestamp)> = HashMap::new();
    let mut messages = Vec::with_capacity(conversation.messages.len());
    for source in &conversation.messages {
        let parent = match &source.parent {
            Some(parent) => Some(*ids.get(parent.as_str()).ok_or_else(|| {
                DomainError::invalid(
                    format!("messages[{}].parent", source.source_id),
                    "names no earlier message of the conversation",
                )
            })?),
            None => None,
        };
        let message = message(
            user,
            format,
            &conversation.source_id,
            thread_id,
            source,
            parent,
            (started, version),
            limits,
        )
        .map_err(|e| in_message(&source.source_id, e))?;
        ids.insert(&source.source_id, (message.id, message.created_at));
        messages.push(message);
    }
    let last_message_at = messages.iter().map(|m| m.created_at).max();
    let updated_at = [at(conversation.updated_at), last_message_at]
        .into_iter()
        .flatten()
        .fold(started, Ord::max);
    let active_leaf_id = match &conversation.active_leaf {
        Some(leaf) => ids.get(leaf.as_str()).map(|(id, _)| *id),
        None => None,
    }
    .or_else(|| messages.last().map(|m| m.id));
    let thread = Thread {
        id: thread_id,
        user_id: user.clone(),
        title: title(&conversation.title)?,
        metadata: Metadata::parse(Value::Object(conversation.metadata))?,
        archived_at: conversation.archived.then_some(updated_at),
        pinned_at: conversation.pinned.then_some(updated_at),
        message_count: i64::try_from(messages.len())
            .map_err(|_| DomainError::invalid("messages", "too many"))?,
        last_message_at,
        created_at: started,
        updated_at,
        version,
        active_leaf_id,
        active_stream_id: None,
        expires_at,
    };
    Ok(Some((thread, messages)))
}

/// One message, checked like a client's; `parent` its parent's id and time.
#[allow(clippy::too_many_arguments)]
fn message(
    user: &UserId,
    format: &str,
    conversation: &str,
    thread: ThreadId,
    source: &SourceMessage,
    parent: Option<(MessageId, Timestamp)>,
    (started, version): (Timestamp, Version),
    limits: &Limits,
) -> Result<Message, DomainError> {
    let content = source
        .content
        .clone()
        .map(|c| MessageContent::parse(c, limits))
        .transpose()?;
    let parts = source
        .parts
        .clone()
        .map(|p| MessageParts::parse(Value::Array(p), limits))
        .transpose()?;
    let (content, parts) = match text_and_parts(content, parts, limits)? {
        Some(pair) => pair,
        None => {
            let empty = MessageContent::parse("", limits)?;
            let parts = MessageParts::from_content(&empty);
            (empty, parts)
        }
    };
    // Dated by the source, else right after its parent, else when the conversation began;
    // never at or before its parent.
    let parent_at = parent.map(|(_, t)| t);
    let mut created_at = at(source.created_at)
        .or_else(|| parent_at.map(|t| t.plus_micros(1)))
        .unwrap_or(started);
    if let Some(parent_at) = parent_at.filter(|p| created_at <= *p) {
        created_at = parent_at.plus_micros(1);
    }
    let updated_at = at(source.updated_at).map_or(created_at, |t| t.max(created_at));
    Ok(Message {
        id: ImportService::message_id(user, format, conversation, &source.source_id),
        thread_id: thread,
        parent_id: parent.map(|(id, _)| id),
        role: Role::parse(&source.role)?,
        content,
        parts,
        status: source
            .status
            .as_deref()
            .map(MessageStatus::parse)
            .transpose()?
            .unwrap_or_default(),
        feedback: source
            .feedback
            .as_ref()
            .map(|f| feedback(f, updated_at))
            .transpose()?,
        sources: Sources::parse(Value::Array(source.sources.clone()))?,
        metadata: metadata(source.metadata.clone()),
        created_at,
        updated_at,
        version,
    })
}
