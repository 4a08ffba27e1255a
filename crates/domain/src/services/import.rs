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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockThreadRepository;
    use chrono::{DateTime, Utc};
    use mockall::predicate::eq;
    use serde_json::{Map, json};
    use std::sync::Mutex;

    fn alice() -> UserId {
        UserId::parse("alice").expect("valid")
    }

    fn bob() -> UserId {
        UserId::parse("bob").expect("valid")
    }

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    fn ts(text: &str) -> Timestamp {
        Timestamp::from_datetime(time(text))
    }

    /// A user's message with one text part, dated `created` when given.
    fn said(id: &str, parent: Option<&str>, created: Option<&str>) -> SourceMessage {
        SourceMessage {
            source_id: id.to_owned(),
            parent: parent.map(str::to_owned),
            role: "user".to_owned(),
            content: None,
            parts: Some(vec![
                json!({"type": "text", "text": format!("text of {id}")}),
            ]),
            sources: Vec::new(),
            metadata: Map::new(),
            status: None,
            feedback: None,
            created_at: created.map(time),
            updated_at: None,
        }
    }

    /// Conversation `conv-1`, started 2024-03-01T10:00Z and changed 2024-03-02T10:00Z.
    fn conversation(messages: Vec<SourceMessage>) -> SourceConversation {
        SourceConversation {
            source_id: "conv-1".to_owned(),
            title: "Trip".to_owned(),
            created_at: Some(time("2024-03-01T10:00:00Z")),
            updated_at: Some(time("2024-03-02T10:00:00Z")),
            archived: false,
            pinned: false,
            expires_at: None,
            metadata: Map::new(),
            active_leaf: None,
            messages,
        }
    }

    fn service(repo: MockThreadRepository) -> ImportService {
        ImportService::new(Arc::new(repo), Limits::default())
    }

    fn message_id(source_id: &str) -> MessageId {
        ImportService::message_id(&alice(), "chatgpt", "conv-1", source_id)
    }

    /// What a store was handed: the thread and its messages.
    type Handed = Arc<Mutex<Option<(Thread, Vec<Message>)>>>;

    /// Imports `conversation` for alice as a ChatGPT file into a store that takes it;
    /// returns what the store was handed.
    async fn imported(conversation: SourceConversation) -> (Thread, Vec<Message>) {
        let handed = Handed::default();
        let mut repo = MockThreadRepository::new();
        let keep = Arc::clone(&handed);
        repo.expect_import_thread()
            .times(1)
            .returning(move |thread, messages| {
                *keep.lock().expect("lock") = Some((thread.clone(), messages.to_vec()));
                Ok(true)
            });
        let count = conversation.messages.len() as u64;
        let outcome = service(repo)
            .import(&alice(), "chatgpt", conversation)
            .await
            .expect("imported");
        assert_eq!(outcome, Imported::Created { messages: count });
        let stored = handed.lock().expect("lock").take();
        stored.expect("import_thread was called")
    }

    /// A store that must not be written to.
    fn untouched() -> MockThreadRepository {
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread().never();
        repo.expect_get_thread().never();
        repo
    }

    #[test]
    fn ids_are_uuid_v5_stable_for_the_same_user_format_and_source_id() {
        let thread = ImportService::thread_id(&alice(), "chatgpt", "conv-1");
        assert_eq!(thread.as_uuid().get_version_num(), 5);
        assert_eq!(
            thread,
            ImportService::thread_id(&alice(), "chatgpt", "conv-1")
        );
        let message = ImportService::message_id(&alice(), "chatgpt", "conv-1", "m-1");
        assert_eq!(message.as_uuid().get_version_num(), 5);
        assert_eq!(
            message,
            ImportService::message_id(&alice(), "chatgpt", "conv-1", "m-1")
        );
        assert_ne!(thread.as_uuid(), message.as_uuid());
    }

    #[test]
    fn ids_differ_for_another_user_another_format_or_another_source_id() {
        let thread = ImportService::thread_id(&alice(), "chatgpt", "conv-1");
        for other in [
            ImportService::thread_id(&bob(), "chatgpt", "conv-1"),
            ImportService::thread_id(&alice(), "claude", "conv-1"),
            ImportService::thread_id(&alice(), "chatgpt", "conv-2"),
        ] {
            assert_ne!(thread, other);
        }
        let message = ImportService::message_id(&alice(), "chatgpt", "conv-1", "m-1");
        for other in [
            ImportService::message_id(&bob(), "chatgpt", "conv-1", "m-1"),
            ImportService::message_id(&alice(), "claude", "conv-1", "m-1"),
            ImportService::message_id(&alice(), "chatgpt", "conv-2", "m-1"),
            ImportService::message_id(&alice(), "chatgpt", "conv-1", "m-2"),
        ] {
            assert_ne!(message, other);
        }
    }

    #[tokio::test]
    async fn the_thread_and_its_messages_carry_the_sources_ids_and_timestamps() {
        let mut answer = said("m-2", Some("m-1"), Some("2024-03-01T10:00:05.123456789Z"));
        answer.role = "assistant".to_owned();
        answer.updated_at = Some(time("2024-03-01T11:00:00Z"));
        let source = conversation(vec![
            said("m-1", None, Some("2024-03-01T10:00:01Z")),
            answer,
        ]);
        let (thread, messages) = imported(source).await;

        assert_eq!(
            thread.id,
            ImportService::thread_id(&alice(), "chatgpt", "conv-1")
        );
        assert_eq!(thread.user_id, alice());
        assert_eq!(thread.title.as_str(), "Trip");
        assert_eq!(thread.created_at, ts("2024-03-01T10:00:00Z"));
        assert_eq!(thread.updated_at, ts("2024-03-02T10:00:00Z"));
        assert_eq!(thread.expires_at, None);
        assert_eq!(thread.active_stream_id, None);

        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].id, message_id("m-1"));
        assert_eq!(messages[0].parent_id, None);
        assert_eq!(messages[0].role, Role::User);
        assert_eq!(messages[0].content.as_str(), "text of m-1");
        assert_eq!(messages[0].created_at, ts("2024-03-01T10:00:01Z"));
        assert_eq!(messages[0].updated_at, ts("2024-03-01T10:00:01Z"));
        assert_eq!(messages[1].id, message_id("m-2"));
        assert_eq!(messages[1].parent_id, Some(message_id("m-1")));
        assert_eq!(messages[1].role, Role::Assistant);
        // Truncated to the microsecond, like every timestamp here.
        assert_eq!(messages[1].created_at, ts("2024-03-01T10:00:05.123456Z"));
        assert_eq!(messages[1].updated_at, ts("2024-03-01T11:00:00Z"));
        for message in &messages {
            assert_eq!(message.thread_id, thread.id);
            assert_eq!(message.version, thread.version);
            assert_eq!(message.status, MessageStatus::Complete);
        }
    }

    #[tokio::test]
    async fn a_message_dated_at_or_before_its_parent_or_undated_is_stored_a_microsecond_after_it() {
        let root_at = "2024-03-01T10:00:00Z";
        let source = conversation(vec![
            said("root", None, Some(root_at)),
            said("same", Some("root"), Some(root_at)),
            said("earlier", Some("same"), Some("2024-02-01T00:00:00Z")),
            said("undated", Some("earlier"), None),
            said("sibling", Some("root"), Some("2024-03-01T09:00:00Z")),
            said("later", Some("root"), Some("2024-03-01T10:05:00Z")),
        ]);
        let (_, messages) = imported(source).await;
        let root = ts(root_at);
        let created: Vec<Timestamp> = messages.iter().map(|m| m.created_at).collect();
        assert_eq!(
            created,
            [
                root,
                root.plus_micros(1),
                root.plus_micros(2),
                root.plus_micros(3),
                root.plus_micros(1),
                ts("2024-03-01T10:05:00Z"),
            ]
        );
        for message in &messages {
            assert!(message.updated_at >= message.created_at, "{message:?}");
        }
    }

    #[tokio::test]
    async fn an_undated_first_message_gets_the_conversations_created_at() {
        let source = conversation(vec![
            said("m-1", None, None),
            said("m-2", Some("m-1"), None),
        ]);
        let (thread, messages) = imported(source).await;
        let started = ts("2024-03-01T10:00:00Z");
        assert_eq!(thread.created_at, started);
        assert_eq!(messages[0].created_at, started);
        assert_eq!(messages[1].created_at, started.plus_micros(1));
    }

    #[tokio::test]
    async fn an_undated_conversation_starts_at_its_earliest_message() {
        let mut source = conversation(vec![
            said("m-1", None, Some("2024-03-01T12:00:00Z")),
            said("m-2", None, Some("2024-03-01T11:00:00Z")),
        ]);
        source.created_at = None;
        source.updated_at = None;
        let (thread, _) = imported(source).await;
        assert_eq!(thread.created_at, ts("2024-03-01T11:00:00Z"));
        assert_eq!(thread.updated_at, ts("2024-03-01T12:00:00Z"));
    }

    #[tokio::test]
    async fn counters_follow_the_messages_and_the_mapped_active_leaf_is_active() {
        let mut source = conversation(vec![
            said("root", None, Some("2024-03-01T10:00:00Z")),
            said("newest", Some("root"), Some("2024-03-01T10:10:00Z")),
            said("chosen", Some("root"), Some("2024-03-01T10:05:00Z")),
            said("last", Some("newest"), Some("2024-03-01T10:01:00Z")),
        ]);
        source.active_leaf = Some("chosen".to_owned());
        let (thread, messages) = imported(source).await;
        assert_eq!(thread.message_count, 4);
        // The newest message, wherever it is in the file (the last one was moved to 1 µs
        // after its parent).
        assert_eq!(
            thread.last_message_at,
            Some(ts("2024-03-01T10:10:00.000001Z"))
        );
        assert_eq!(messages[3].created_at, ts("2024-03-01T10:10:00.000001Z"));
        assert_eq!(thread.active_leaf_id, Some(message_id("chosen")));
    }

    #[tokio::test]
    async fn without_a_mapped_active_leaf_the_last_message_is_active() {
        for leaf in [None, Some("not-a-message")] {
            let mut source = conversation(vec![
                said("root", None, Some("2024-03-01T10:00:00Z")),
                said("a", Some("root"), Some("2024-03-01T10:01:00Z")),
                said("b", Some("root"), Some("2024-03-01T10:02:00Z")),
            ]);
            source.active_leaf = leaf.map(str::to_owned);
            let (thread, _) = imported(source).await;
            assert_eq!(thread.active_leaf_id, Some(message_id("b")), "{leaf:?}");
        }
    }

    #[tokio::test]
    async fn an_empty_conversation_is_an_empty_thread() {
        let (thread, messages) = imported(conversation(Vec::new())).await;
        assert!(messages.is_empty());
        assert_eq!(thread.message_count, 0);
        assert_eq!(thread.last_message_at, None);
        assert_eq!(thread.active_leaf_id, None);
    }

    #[tokio::test]
    async fn archived_and_pinned_are_archived_and_pinned_at_the_threads_updated_at() {
        let mut source = conversation(vec![said("m-1", None, Some("2024-03-01T10:00:00Z"))]);
        source.archived = true;
        source.pinned = true;
        let (thread, _) = imported(source.clone()).await;
        let updated = ts("2024-03-02T10:00:00Z");
        assert_eq!(thread.updated_at, updated);
        assert_eq!(thread.archived_at, Some(updated));
        assert_eq!(thread.pinned_at, Some(updated));

        // A conversation whose last message is newer than its own date was changed then.
        source
            .messages
            .push(said("m-2", Some("m-1"), Some("2024-03-05T00:00:00Z")));
        let (thread, _) = imported(source.clone()).await;
        let updated = ts("2024-03-05T00:00:00Z");
        assert_eq!(thread.updated_at, updated);
        assert_eq!(thread.archived_at, Some(updated));
        assert_eq!(thread.pinned_at, Some(updated));

        source.archived = false;
        source.pinned = false;
        let (thread, _) = imported(source).await;
        assert_eq!(thread.archived_at, None);
        assert_eq!(thread.pinned_at, None);
    }

    #[tokio::test]
    async fn a_title_too_long_or_holding_nul_is_cleaned_not_refused() {
        let mut source = conversation(Vec::new());
        source.title = format!("a\0b{}", "é".repeat(600));
        let (thread, _) = imported(source).await;
        let title = thread.title.as_str();
        assert_eq!(title.chars().count(), ThreadTitle::MAX_CHARS);
        assert!(title.starts_with("abéé"), "{title}");
        assert!(!title.contains('\0'));

        let mut source = conversation(Vec::new());
        source.title = "\0Plans\0".to_owned();
        let (thread, _) = imported(source).await;
        assert_eq!(thread.title.as_str(), "Plans");
    }

    #[tokio::test]
    async fn oversized_message_metadata_becomes_a_note_that_it_was_dropped() {
        let mut big = said("big", None, Some("2024-03-01T10:00:00Z"));
        big.metadata
            .insert("blob".to_owned(), json!("x".repeat(Metadata::MAX_BYTES)));
        let mut small = said("small", Some("big"), Some("2024-03-01T10:01:00Z"));
        small.metadata.insert("model".to_owned(), json!("gpt-4o"));
        let (_, messages) = imported(conversation(vec![big, small])).await;
        assert_eq!(
            messages[0].metadata.to_value(),
            json!({"import": {"metadata_dropped": "larger than 16 KiB"}})
        );
        assert_eq!(messages[1].metadata.to_value(), json!({"model": "gpt-4o"}));
    }

    #[tokio::test]
    async fn a_message_with_an_unknown_role_is_invalid_naming_it_and_nothing_is_stored() {
        let mut odd = said("m-2", Some("m-1"), None);
        odd.role = "narrator".to_owned();
        let source = conversation(vec![said("m-1", None, None), odd, said("m-3", None, None)]);
        let err = service(untouched())
            .import(&alice(), "chatgpt", source)
            .await
            .expect_err("refused");
        match err {
            DomainError::Invalid { field, .. } => assert_eq!(field, "messages[m-2].role"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_expired_temporary_chat_is_skipped_without_storing_anything() {
        let mut source = conversation(vec![said("m-1", None, None)]);
        source.expires_at = Some(time("2024-03-03T00:00:00Z"));
        let outcome = service(untouched())
            .import(&alice(), "chat-history", source)
            .await
            .expect("skipped");
        assert_eq!(outcome, Imported::Skipped);
    }

    #[tokio::test]
    async fn a_temporary_chat_that_has_not_expired_keeps_its_expiry() {
        let later = Timestamp::now().plus_micros(3_600_000_000);
        let mut source = conversation(vec![said("m-1", None, None)]);
        source.expires_at = Some(later.as_datetime());
        let (thread, _) = imported(source).await;
        assert_eq!(thread.expires_at, Some(later));
    }

    #[tokio::test]
    async fn a_conversation_the_store_already_holds_is_skipped() {
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread()
            .times(1)
            .returning(|_, _| Ok(false));
        repo.expect_get_thread().never();
        let outcome = service(repo)
            .import(
                &alice(),
                "chatgpt",
                conversation(vec![said("m-1", None, None)]),
            )
            .await
            .expect("skipped");
        assert_eq!(outcome, Imported::Skipped);
    }

    #[tokio::test]
    async fn losing_the_race_to_a_concurrent_import_of_the_same_conversation_is_a_skip() {
        let id = ImportService::thread_id(&alice(), "chatgpt", "conv-1");
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .with(eq(alice()), eq(id))
            .times(1)
            .returning(|_, _| {
                let (thread, _) = build(
                    &alice(),
                    "chatgpt",
                    conversation(Vec::new()),
                    &Limits::default(),
                    Timestamp::now(),
                )
                .expect("valid")
                .expect("not expired");
                Ok(thread)
            });
        let outcome = service(repo)
            .import(
                &alice(),
                "chatgpt",
                conversation(vec![said("m-1", None, None)]),
            )
            .await
            .expect("skipped");
        assert_eq!(outcome, Imported::Skipped);
    }

    #[tokio::test]
    async fn a_derived_id_taken_by_no_thread_of_the_user_is_an_id_conflict() {
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::NotFound));
        let err = service(repo)
            .import(
                &alice(),
                "chatgpt",
                conversation(vec![said("m-1", None, None)]),
            )
            .await
            .expect_err("conflict");
        assert!(matches!(err, DomainError::IdConflict), "{err:?}");
    }

    #[tokio::test]
    async fn an_unavailable_store_is_unavailable() {
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::Unavailable("down".into())));
        repo.expect_get_thread().never();
        let err = service(repo)
            .import(&alice(), "chatgpt", conversation(Vec::new()))
            .await
            .expect_err("unavailable");
        assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");

        // Also when the store goes away while checking whose the taken id is.
        let mut repo = MockThreadRepository::new();
        repo.expect_import_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .times(1)
            .returning(|_, _| Err(StoreError::Unavailable("down".into())));
        let err = service(repo)
            .import(&alice(), "chatgpt", conversation(Vec::new()))
            .await
            .expect_err("unavailable");
        assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
    }
}
