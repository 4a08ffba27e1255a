use std::collections::HashSet;
use std::sync::Arc;

use crate::page::{CursorError, CursorScope, PathPosition};
use crate::{
    Created, DeleteScope, DomainError, Feedback, FeedbackInput, IfMatch, Message, MessageId,
    MessageKey, MessageListQuery, MessagePatch, MessageRepository, NewMessage, Page, PageLimit,
    ParentChoice, PathMessage, PathQuery, PathTarget, Resource, SortOrder, StoreError, ThreadId,
    Timestamp, Upsert, UserId, Version,
};

/// Use cases on messages. Cheap to clone.
#[derive(Clone)]
pub struct MessageService {
    repo: Arc<dyn MessageRepository>,
}

impl std::fmt::Debug for MessageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageService").finish_non_exhaustive()
    }
}

fn message_not_found(err: StoreError) -> DomainError {
    match err {
        StoreError::NotFound => DomainError::NotFound(Resource::Message),
        other => other.into(),
    }
}

fn thread_not_found(err: StoreError) -> DomainError {
    match err {
        StoreError::NotFound => DomainError::NotFound(Resource::Thread),
        other => other.into(),
    }
}

/// The 422 for the parent of `requests[index]`, which is not a message of the thread.
fn unknown_parent(requests: &[NewMessage], index: usize, batch: bool) -> DomainError {
    debug_assert!(index < requests.len().max(1));
    let field = if batch {
        format!("messages[{index}].parent_id")
    } else {
        "parent_id".to_owned()
    };
    DomainError::UnknownMessage { field }
}

fn in_thread(message: Message, thread: ThreadId) -> Result<Message, DomainError> {
    if message.thread_id == thread {
        Ok(message)
    } else {
        Err(DomainError::NotFound(Resource::Message))
    }
}

impl MessageService {
    /// Most messages one batch may append.
    pub const MAX_BATCH: usize = 100;

    /// How often a `PUT` that raced with another write of the same message looks again.
    const PUT_ATTEMPTS: usize = 8;

    /// A service over the given repository.
    pub fn new(repo: Arc<dyn MessageRepository>) -> Self {
        Self { repo }
    }

    /// Appends one message to the user's thread, updating the thread's counters in the same
    /// transaction.
    ///
    /// With a client id, repeating the same append returns the stored message with
    /// `replayed: true`. Errors: `NotFound` (thread), `IdempotencyConflict` (same id in
    /// this thread with other content), `IdConflict` (id used elsewhere).
    pub async fn append(
        &self,
        user: &UserId,
        thread: ThreadId,
        message: NewMessage,
    ) -> Result<Created<Message>, DomainError> {
        let Created { value, replayed } =
            self.append_all(user, thread, vec![message], false).await?;
        let message = value
            .into_iter()
            .next()
            .ok_or_else(|| DomainError::Unexpected("append stored no message".into()))?;
        Ok(Created {
            value: message,
            replayed,
        })
    }

    /// Appends 1 to 100 messages in the given order, all or none.
    ///
    /// A retried batch (every message with a client id, all stored in this thread with the
    /// same content) is a replay. Errors: `Invalid` for an empty or oversized batch or a
    /// repeated id; otherwise as [`MessageService::append`]; a batch mixing new and stored
    /// ids is an `IdempotencyConflict`.
    pub async fn append_batch(
        &self,
        user: &UserId,
        thread: ThreadId,
        messages: Vec<NewMessage>,
    ) -> Result<Created<Vec<Message>>, DomainError> {
        if messages.is_empty() || messages.len() > Self::MAX_BATCH {
            return Err(DomainError::invalid(
                "messages",
                "must hold 1 to 100 messages",
            ));
        }
        let mut seen = HashSet::new();
        for (i, m) in messages.iter().enumerate() {
            if let Some(id) = m.id
                && !seen.insert(id)
            {
                return Err(DomainError::invalid(
                    format!("messages[{i}].id"),
                    "repeats an id used earlier in the batch",
                ));
            }
        }
        self.append_all(user, thread, messages, true).await
    }

    async fn append_all(
        &self,
        user: &UserId,
        thread: ThreadId,
        requests: Vec<NewMessage>,
        batch: bool,
    ) -> Result<Created<Vec<Message>>, DomainError> {
        // A named parent is a message of the thread or an earlier one of the batch: the
        // message itself or a later one of the batch is not a message of the thread yet.
        for (i, m) in requests.iter().enumerate() {
            if let ParentChoice::Message(parent) = m.parent
                && requests[i..].iter().any(|later| later.id == Some(parent))
            {
                return Err(unknown_parent(&requests, i, batch));
            }
        }
        let now = Timestamp::now();
        let first_parent = requests.first().map_or(ParentChoice::Omitted, |m| m.parent);
        let mut previous: Option<MessageId> = None;
        let drafts = requests
            .iter()
            .zip(0i64..)
            .map(|(m, i)| {
                // Spacing by one microsecond keeps the given order under (created_at, id).
                let at = now.plus_micros(i);
                let id = m.id.unwrap_or_else(MessageId::generate);
                let parent_id = match m.parent {
                    // The first message's omitted parent is the active leaf, which the
                    // store resolves under the thread's lock.
                    ParentChoice::Omitted => previous,
                    ParentChoice::Root => None,
                    ParentChoice::Message(parent) => Some(parent),
                };
                previous = Some(id);
                Message {
                    id,
                    thread_id: thread,
                    parent_id,
                    role: m.role,
                    content: m.content.clone(),
                    parts: m.parts.clone(),
                    status: m.status,
                    sources: m.sources.clone(),
                    metadata: m.metadata.clone(),
                    feedback: None,
                    created_at: at,
                    updated_at: at,
                    version: Version::new(at.as_micros()),
                }
            })
            .collect();
        match self
            .repo
            .append_messages(user, thread, first_parent, drafts, now)
            .await
        {
            Ok(stored) => {
                if stored.len() != requests.len() || stored.iter().any(|m| m.thread_id != thread) {
                    return Err(DomainError::Unexpected(
                        "append returned other messages than it was given".into(),
                    ));
                }
                Ok(Created {
                    value: stored,
                    replayed: false,
                })
            }
            Err(StoreError::AlreadyExists) => self.replay(user, thread, &requests).await,
            Err(StoreError::UnknownMessage(parent)) => {
                let index = requests
                    .iter()
                    .position(|m| m.parent == ParentChoice::Message(parent))
                    .unwrap_or(0);
                Err(unknown_parent(&requests, index, batch))
            }
            Err(other) => Err(thread_not_found(other)),
        }
    }

    /// Decides what an append whose ids already exist means: a replay, or a conflict.
    async fn replay(
        &self,
        user: &UserId,
        thread: ThreadId,
        requests: &[NewMessage],
    ) -> Result<Created<Vec<Message>>, DomainError> {
        let ids: Vec<MessageId> = requests.iter().filter_map(|m| m.id).collect();
        let found = self
            .repo
            .find_messages(user, thread, ids.clone())
            .await
            .map_err(thread_not_found)?;
        if found.is_empty() {
            // The clashing ids live in another thread or belong to another user.
            return Err(DomainError::IdConflict);
        }
        if ids.len() != requests.len() || found.len() != requests.len() {
            return Err(DomainError::IdempotencyConflict);
        }
        let mut stored = Vec::with_capacity(requests.len());
        for request in requests {
            let message = found
                .iter()
                .find(|m| Some(m.id) == request.id && m.thread_id == thread)
                .filter(|m| request.matches(m))
                .ok_or(DomainError::IdempotencyConflict)?;
            stored.push(message.clone());
        }
        Ok(Created {
            value: stored,
            replayed: true,
        })
    }

    /// One message of the user's thread. Errors: `NotFound` (message).
    pub async fn get(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<Message, DomainError> {
        let message = self
            .repo
            .get_message(user, thread, id)
            .await
            .map_err(message_not_found)?;
        in_thread(message, thread)
    }

    /// One page of the thread's messages by `(created_at, id)` in `order`.
    ///
    /// Errors: `NotFound` (thread), `InvalidCursor` (a cursor of another list, or altered).
    pub async fn list(
        &self,
        user: &UserId,
        thread: ThreadId,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<&str>,
    ) -> Result<Page<Message>, DomainError> {
        let scope = CursorScope::all_messages(user, &thread, order);
        let after = match scope.position(cursor, MessageKey::from_parts) {
            // A cursor of Part 1's message list (minted before threads were trees) lists
            // the same messages in the same order.
            Err(CursorError::WrongList) => CursorScope::messages(user, &thread, order)
                .position(cursor, MessageKey::from_parts)?,
            other => other?,
        };
        let query = MessageListQuery {
            order,
            after,
            limit: limit.get() + 1,
        };
        let items = self
            .repo
            .list_messages(user, thread, query)
            .await
            .map_err(thread_not_found)?;
        if items.iter().any(|m| m.thread_id != thread) {
            return Err(DomainError::Unexpected(
                "message list returned another thread's message".into(),
            ));
        }
        Ok(scope.page(items, limit, |last| {
            MessageKey {
                created_at: last.created_at,
                id: last.id,
            }
            .to_parts()
        }))
    }

    /// One page of a path of the thread (`branch=active`, or `through` a message), each
    /// message with its `sibling_ids`. The cursor carries the position and the end of the
    /// path the walk is on, so the walk stays on that path (see [`PathQuery`]).
    ///
    /// Errors: `NotFound` (thread; or message, for a `through` that is not in the thread),
    /// `InvalidCursor` (a cursor of another list, or altered).
    pub async fn list_path(
        &self,
        user: &UserId,
        thread: ThreadId,
        target: PathTarget,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<&str>,
    ) -> Result<Page<PathMessage>, DomainError> {
        let scope = CursorScope::path(user, &thread, order, target);
        let (resume_from, after) = match scope.position(cursor, PathPosition::from_parts) {
            // A cursor of Part 1's message list (minted before threads were trees) on the
            // default listing: the walk goes on after its position on the active path,
            // found again as a first page would.
            Err(CursorError::WrongList) if target == PathTarget::Active => {
                let legacy = CursorScope::messages(user, &thread, order);
                (None, legacy.position(cursor, MessageKey::from_parts)?)
            }
            other => {
                let position = other?;
                (position.map(|p| p.end), position.map(|p| p.key))
            }
        };
        let query = PathQuery {
            target,
            resume_from,
            order,
            after,
            limit: limit.get() + 1,
        };
        let page = self
            .repo
            .list_path(user, thread, query)
            .await
            .map_err(thread_not_found)?;
        if page.messages.iter().any(|m| m.message.thread_id != thread) {
            return Err(DomainError::Unexpected(
                "path list returned another thread's message".into(),
            ));
        }
        let Some(end) = page.end else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        Ok(scope.page(page.messages, limit, |last| {
            PathPosition {
                key: MessageKey {
                    created_at: last.message.created_at,
                    id: last.message.id,
                },
                end,
            }
            .to_parts()
        }))
    }

    /// Edits a message; bumps its `updated_at` and its thread's.
    ///
    /// Errors: `NotFound` (message), `PreconditionFailed`.
    pub async fn update(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        patch: MessagePatch,
        if_match: IfMatch,
    ) -> Result<Message, DomainError> {
        let message = self
            .repo
            .update_message(
                user,
                thread,
                id,
                patch,
                if_match.into_expected(),
                Timestamp::now(),
            )
            .await
            .map_err(message_not_found)?;
        in_thread(message, thread)
    }

    /// Creates the message with this id, or replaces its content, parts, sources,
    /// metadata and status (`PUT`): the one call a streaming route handler needs.
    ///
    /// Creating follows every rule of [`MessageService::append`] (parent, active leaf,
    /// counters). Replacing keeps the message's place (role, parent, `created_at`; the
    /// active leaf does not move) and bumps its `updated_at` and its thread's. `If-Match`
    /// is checked against the stored message, atomically with the write; when the id does
    /// not exist yet any precondition fails. Writes that race (two `PUT`s of a new id, a
    /// `PUT` and a delete) are settled by looking again: the outcome is as if they ran one
    /// after the other.
    ///
    /// Errors: `NotFound` (thread), `MessageConflict` (another role, or a `parent_id`
    /// other than the stored one), `IdConflict` (the id is used in another thread or by
    /// another user), `PreconditionFailed`, `UnknownMessage` (a new message's parent).
    pub async fn put(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        message: NewMessage,
        if_match: IfMatch,
    ) -> Result<Upsert<Message>, DomainError> {
        let message = NewMessage {
            id: Some(id),
            ..message
        };
        for _ in 0..Self::PUT_ATTEMPTS {
            let stored = match self.repo.get_message(user, thread, id).await {
                Ok(stored) => in_thread(stored, thread)?,
                Err(StoreError::NotFound) => {
                    if if_match != IfMatch::Any {
                        return Err(self.precondition_on_missing(user, thread).await);
                    }
                    match self.append(user, thread, message.clone()).await {
                        Ok(created) if !created.replayed => {
                            return Ok(Upsert::Created(created.value));
                        }
                        // Created meanwhile by an identical request.
                        Ok(created) => return Ok(Upsert::Replaced(created.value)),
                        // Created meanwhile, with another body: replace it.
                        Err(DomainError::IdempotencyConflict) => continue,
                        Err(other) => return Err(other),
                    }
                }
                Err(other) => return Err(thread_not_found(other)),
            };
            if stored.role != message.role || !message.parent.matches(stored.parent_id) {
                return Err(DomainError::MessageConflict);
            }
            // Without a client precondition nothing needs the version: role and parent
            // never change under a replace (a splice delete that moves the parent
            // meanwhile commutes with it), so concurrent PUTs simply follow each other.
            let expected = match &if_match {
                IfMatch::OneOf(versions) if !versions.contains(&stored.version) => {
                    return Err(DomainError::PreconditionFailed);
                }
                IfMatch::OneOf(versions) => Some(versions.clone()),
                IfMatch::Any | IfMatch::Exists => None,
            };
            match self
                .repo
                .update_message(
                    user,
                    thread,
                    id,
                    MessagePatch::replacing_with(&message),
                    expected,
                    Timestamp::now(),
                )
                .await
            {
                Ok(replaced) => return Ok(Upsert::Replaced(in_thread(replaced, thread)?)),
                Err(StoreError::VersionMismatch) => return Err(DomainError::PreconditionFailed),
                // Deleted since it was read: look again.
                Err(StoreError::NotFound) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(DomainError::Unexpected(
            "a PUT kept racing with other writes of the same message".into(),
        ))
    }

    /// The error of a precondition on a message that does not exist: `NotFound` for a
    /// missing thread, else `PreconditionFailed`.
    async fn precondition_on_missing(&self, user: &UserId, thread: ThreadId) -> DomainError {
        let probe = MessageListQuery {
            order: SortOrder::Asc,
            after: None,
            limit: 1,
        };
        match self.repo.list_messages(user, thread, probe).await {
            Ok(_) => DomainError::PreconditionFailed,
            Err(err) => thread_not_found(err),
        }
    }

    /// Sets the user's feedback on a message (replacing any earlier one); the message's
    /// `updated_at` and its thread's do not move. Errors: `NotFound` (message).
    pub async fn set_feedback(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        feedback: FeedbackInput,
    ) -> Result<Feedback, DomainError> {
        let now = Timestamp::now();
        let message = self
            .repo
            .set_feedback(user, thread, id, Some(feedback.at(now)), now)
            .await
            .map_err(message_not_found)?;
        in_thread(message, thread)?
            .feedback
            .ok_or_else(|| DomainError::Unexpected("feedback was not stored".into()))
    }

    /// Removes the user's feedback on a message (nothing to remove is fine).
    /// Errors: `NotFound` (message).
    pub async fn clear_feedback(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<(), DomainError> {
        let message = self
            .repo
            .set_feedback(user, thread, id, None, Timestamp::now())
            .await
            .map_err(message_not_found)?;
        in_thread(message, thread).map(drop)
    }

    /// Deletes a message (alone, its children moving up to its parent; or with its whole
    /// subtree); the thread's counters and active leaf are recomputed. Errors: `NotFound`.
    pub async fn delete(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        scope: DeleteScope,
    ) -> Result<(), DomainError> {
        self.repo
            .delete_message(user, thread, id, scope, Timestamp::now())
            .await
            .map_err(message_not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Limits, MessageContent, MessageParts, MessageStatus, Metadata, MockMessageRepository,
        PathPage, Role, Sources,
    };
    use serde_json::json;

    fn alice() -> UserId {
        UserId::parse("alice").expect("valid")
    }

    fn request(id: Option<MessageId>, text: &str) -> NewMessage {
        let content = MessageContent::parse(text, &Limits::default()).expect("valid");
        NewMessage {
            id,
            role: Role::User,
            parts: MessageParts::from_content(&content),
            content,
            status: MessageStatus::Complete,
            sources: Sources::default(),
            metadata: Metadata::default(),
            parent: ParentChoice::Omitted,
        }
    }

    fn as_stored(thread: ThreadId, id: MessageId, text: &str) -> Message {
        let now = Timestamp::now();
        Message {
            id,
            thread_id: thread,
            parent_id: None,
            role: Role::User,
            content: MessageContent::parse(text, &Limits::default()).expect("valid"),
            parts: MessageParts::from_content(
                &MessageContent::parse(text, &Limits::default()).expect("valid"),
            ),
            status: MessageStatus::Complete,
            sources: Sources::default(),
            metadata: Metadata::default(),
            feedback: None,
            created_at: now,
            updated_at: now,
            version: Version::new(now.as_micros()),
        }
    }

    fn service(repo: MockMessageRepository) -> MessageService {
        MessageService::new(Arc::new(repo))
    }

    #[tokio::test]
    async fn a_batch_goes_to_storage_in_one_call_in_the_given_order() {
        let thread = ThreadId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .withf(move |u, t, _, msgs, _| {
                u.as_str() == "alice"
                    && *t == thread
                    && msgs.len() == 3
                    && msgs.windows(2).all(|w| w[0].created_at < w[1].created_at)
                    && msgs[0].content.as_str() == "a"
                    && msgs[2].content.as_str() == "c"
            })
            .times(1)
            .returning(|_, _, _, msgs, _| Ok(msgs));
        let created = service(repo)
            .append_batch(
                &alice(),
                thread,
                vec![request(None, "a"), request(None, "b"), request(None, "c")],
            )
            .await
            .expect("created");
        assert!(!created.replayed);
        assert_eq!(created.value.len(), 3);
    }

    #[tokio::test]
    async fn empty_oversized_and_self_repeating_batches_are_invalid_and_store_nothing() {
        let id = MessageId::generate();
        let repo = MockMessageRepository::new();
        let service = service(repo);
        let cases = [
            vec![],
            (0..101).map(|_| request(None, "x")).collect(),
            vec![request(Some(id), "a"), request(Some(id), "b")],
        ];
        for batch in cases {
            let err = service
                .append_batch(&alice(), ThreadId::generate(), batch)
                .await
                .expect_err("invalid");
            assert!(matches!(err, DomainError::Invalid { .. }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn appending_to_a_missing_thread_is_thread_not_found() {
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .append(&alice(), ThreadId::generate(), request(None, "hi"))
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn a_retried_append_with_the_same_id_and_content_is_a_replay() {
        let thread = ThreadId::generate();
        let id = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages()
            .withf(move |_, t, ids| *t == thread && ids == &[id])
            .returning(move |_, t, _| Ok(vec![as_stored(t, id, "hello")]));
        let created = service(repo)
            .append(&alice(), thread, request(Some(id), "hello"))
            .await
            .expect("replay");
        assert!(created.replayed);
        assert_eq!(created.value.id, id);
    }

    #[tokio::test]
    async fn a_retried_append_with_other_content_is_an_idempotency_conflict() {
        let thread = ThreadId::generate();
        let id = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages()
            .returning(move |_, t, _| Ok(vec![as_stored(t, id, "hello")]));
        let err = service(repo)
            .append(&alice(), thread, request(Some(id), "changed"))
            .await
            .expect_err("409");
        assert!(matches!(err, DomainError::IdempotencyConflict));
    }

    #[tokio::test]
    async fn omitted_sources_equal_stored_empty_sources_but_other_sources_do_not() {
        let thread = ThreadId::generate();
        let id = MessageId::generate();
        let stored = as_stored(thread, id, "x");
        assert!(request(Some(id), "x").matches(&stored));
        let mut other = request(Some(id), "x");
        other.sources = Sources::parse(json!([{"url": "u"}])).expect("valid");
        assert!(!other.matches(&stored));
        let mut role = request(Some(id), "x");
        role.role = Role::Assistant;
        assert!(!role.matches(&stored));
    }

    #[tokio::test]
    async fn an_id_used_in_another_thread_or_by_another_user_is_an_id_conflict() {
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages().returning(|_, _, _| Ok(vec![]));
        let err = service(repo)
            .append(
                &alice(),
                ThreadId::generate(),
                request(Some(MessageId::generate()), "x"),
            )
            .await
            .expect_err("409");
        assert!(matches!(err, DomainError::IdConflict));
    }

    #[tokio::test]
    async fn a_whole_batch_retried_is_replayed_in_request_order() {
        let thread = ThreadId::generate();
        let ids = [MessageId::generate(), MessageId::generate()];
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages().returning(move |_, t, _| {
            Ok(vec![as_stored(t, ids[1], "b"), as_stored(t, ids[0], "a")])
        });
        let created = service(repo)
            .append_batch(
                &alice(),
                thread,
                vec![request(Some(ids[0]), "a"), request(Some(ids[1]), "b")],
            )
            .await
            .expect("replay");
        assert!(created.replayed);
        let got: Vec<MessageId> = created.value.iter().map(|m| m.id).collect();
        assert_eq!(got, ids);
    }

    #[tokio::test]
    async fn a_batch_mixing_stored_and_new_messages_is_an_idempotency_conflict() {
        let thread = ThreadId::generate();
        let old = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages()
            .returning(move |_, t, _| Ok(vec![as_stored(t, old, "a")]));
        let err = service(repo)
            .append_batch(
                &alice(),
                thread,
                vec![request(Some(old), "a"), request(None, "new")],
            )
            .await
            .expect_err("409");
        assert!(matches!(err, DomainError::IdempotencyConflict));
    }

    #[tokio::test]
    async fn a_message_from_another_thread_is_never_returned_even_if_the_adapter_leaks_it() {
        let id = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_get_message()
            .returning(move |_, _, _| Ok(as_stored(ThreadId::generate(), id, "x")));
        let err = service(repo)
            .get(&alice(), ThreadId::generate(), id)
            .await
            .expect_err("hidden");
        assert!(matches!(err, DomainError::NotFound(Resource::Message)));
    }

    #[tokio::test]
    async fn message_pages_hand_out_cursors_bound_to_their_order() {
        let thread = ThreadId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_list_messages()
            .withf(|_, _, q| q.after.is_none() && q.limit == 2)
            .times(1)
            .returning(|_, t, _| {
                Ok(vec![
                    as_stored(t, MessageId::generate(), "a"),
                    as_stored(t, MessageId::generate(), "b"),
                ])
            });
        let service = service(repo);
        let limit = PageLimit::parse(1).expect("valid");
        let page = service
            .list(&alice(), thread, SortOrder::Asc, limit, None)
            .await
            .expect("page");
        let cursor = page.next_cursor.expect("more");
        let err = service
            .list(&alice(), thread, SortOrder::Desc, limit, Some(&cursor))
            .await
            .expect_err("other order");
        assert!(matches!(err, DomainError::InvalidCursor));
    }

    #[tokio::test]
    async fn listing_a_missing_thread_is_thread_not_found() {
        let mut repo = MockMessageRepository::new();
        repo.expect_list_messages()
            .returning(|_, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .list(
                &alice(),
                ThreadId::generate(),
                SortOrder::Asc,
                PageLimit::DEFAULT_MESSAGES,
                None,
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn editing_and_deleting_missing_messages_is_message_not_found() {
        let mut repo = MockMessageRepository::new();
        repo.expect_update_message()
            .returning(|_, _, _, _, _, _| Err(StoreError::NotFound));
        repo.expect_delete_message()
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        let service = service(repo);
        let (t, m) = (ThreadId::generate(), MessageId::generate());
        assert!(matches!(
            service
                .update(&alice(), t, m, MessagePatch::default(), IfMatch::Any)
                .await,
            Err(DomainError::NotFound(Resource::Message))
        ));
        assert!(matches!(
            service.delete(&alice(), t, m, DeleteScope::Message).await,
            Err(DomainError::NotFound(Resource::Message))
        ));
    }

    #[tokio::test]
    async fn a_stale_version_on_edit_is_a_failed_precondition() {
        let mut repo = MockMessageRepository::new();
        repo.expect_update_message()
            .withf(|_, _, _, _, expected, _| expected.as_deref() == Some(&[][..]))
            .returning(|_, _, _, _, _, _| Err(StoreError::VersionMismatch));
        let err = service(repo)
            .update(
                &alice(),
                ThreadId::generate(),
                MessageId::generate(),
                MessagePatch::default(),
                IfMatch::OneOf(vec![]),
            )
            .await
            .expect_err("412");
        assert!(matches!(err, DomainError::PreconditionFailed));
    }

    fn with_parent(mut message: NewMessage, parent: ParentChoice) -> NewMessage {
        message.parent = parent;
        message
    }

    fn child_of(mut message: Message, parent: Option<MessageId>) -> Message {
        message.parent_id = parent;
        message
    }

    fn on_path(thread: ThreadId, micros: i64) -> PathMessage {
        let mut message = as_stored(thread, MessageId::generate(), "x");
        message.created_at = Timestamp::from_micros(micros).expect("in range");
        PathMessage {
            sibling_ids: vec![message.id],
            message,
        }
    }

    fn key_of(item: &PathMessage) -> MessageKey {
        MessageKey {
            created_at: item.message.created_at,
            id: item.message.id,
        }
    }

    fn unknown_field(err: DomainError) -> String {
        match err {
            DomainError::UnknownMessage { field } => field,
            other => panic!("expected unknown_message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_parent_choice_of_a_single_append_reaches_the_store_as_the_client_made_it() {
        let parent = MessageId::generate();
        for (choice, stored_parent) in [
            (ParentChoice::Omitted, None),
            (ParentChoice::Root, None),
            (ParentChoice::Message(parent), Some(parent)),
        ] {
            let thread = ThreadId::generate();
            let mut repo = MockMessageRepository::new();
            repo.expect_append_messages()
                .withf(move |_, t, first, msgs, _| {
                    *t == thread
                        && *first == choice
                        && msgs.len() == 1
                        && msgs[0].parent_id == stored_parent
                })
                .times(1)
                .returning(|_, _, _, msgs, _| Ok(msgs));
            let created = service(repo)
                .append(&alice(), thread, with_parent(request(None, "x"), choice))
                .await
                .expect("created");
            assert_eq!(created.value.parent_id, stored_parent, "{choice:?}");
        }
    }

    #[tokio::test]
    async fn later_batch_messages_without_parent_id_follow_the_message_before_them() {
        let thread = ThreadId::generate();
        let (first, known) = (MessageId::generate(), MessageId::generate());
        let batch = vec![
            with_parent(request(Some(first), "a"), ParentChoice::Root),
            request(None, "b"),
            with_parent(request(None, "c"), ParentChoice::Message(known)),
            with_parent(request(None, "d"), ParentChoice::Root),
            request(None, "e"),
            with_parent(request(None, "f"), ParentChoice::Message(first)),
        ];
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .withf(|_, _, first, msgs, _| *first == ParentChoice::Root && msgs.len() == 6)
            .times(1)
            .returning(|_, _, _, msgs, _| Ok(msgs));
        let stored = service(repo)
            .append_batch(&alice(), thread, batch)
            .await
            .expect("created")
            .value;
        let parents: Vec<Option<MessageId>> = stored.iter().map(|m| m.parent_id).collect();
        assert_eq!(
            parents,
            [
                None,
                Some(first),
                Some(known),
                None,
                Some(stored[3].id),
                Some(first),
            ]
        );
        assert_eq!(stored[0].id, first);
    }

    #[tokio::test]
    async fn a_batch_whose_first_message_omits_its_parent_leaves_the_active_leaf_to_the_store() {
        let thread = ThreadId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .withf(|_, _, first, msgs, _| {
                *first == ParentChoice::Omitted
                    && msgs[0].parent_id.is_none()
                    && msgs[1].parent_id == Some(msgs[0].id)
            })
            .times(1)
            .returning(|_, _, _, msgs, _| Ok(msgs));
        service(repo)
            .append_batch(
                &alice(),
                thread,
                vec![request(None, "a"), request(None, "b")],
            )
            .await
            .expect("created");
    }

    #[tokio::test]
    async fn a_parent_naming_itself_or_a_later_batch_message_is_unknown_and_stores_nothing() {
        let ids = [
            MessageId::generate(),
            MessageId::generate(),
            MessageId::generate(),
        ];
        let batch = |parents: [ParentChoice; 3]| -> Vec<NewMessage> {
            ids.iter()
                .zip(parents)
                .map(|(id, parent)| with_parent(request(Some(*id), "x"), parent))
                .collect()
        };
        let omitted = ParentChoice::Omitted;
        let cases = [
            (
                batch([omitted, ParentChoice::Message(ids[1]), omitted]),
                "messages[1].parent_id",
            ),
            (
                batch([ParentChoice::Message(ids[2]), omitted, omitted]),
                "messages[0].parent_id",
            ),
            (
                batch([omitted, omitted, ParentChoice::Message(ids[2])]),
                "messages[2].parent_id",
            ),
            (
                batch([
                    omitted,
                    ParentChoice::Message(ids[0]),
                    ParentChoice::Message(ids[2]),
                ]),
                "messages[2].parent_id",
            ),
        ];
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages().never();
        repo.expect_find_messages().never();
        let service = service(repo);
        for (batch, field) in cases {
            let err = service
                .append_batch(&alice(), ThreadId::generate(), batch)
                .await
                .expect_err("422");
            assert_eq!(unknown_field(err), field);
        }
    }

    #[tokio::test]
    async fn a_single_message_naming_itself_as_parent_is_an_unknown_parent_id_and_stores_nothing() {
        let id = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages().never();
        let err = service(repo)
            .append(
                &alice(),
                ThreadId::generate(),
                with_parent(request(Some(id), "x"), ParentChoice::Message(id)),
            )
            .await
            .expect_err("422");
        assert_eq!(unknown_field(err), "parent_id");
    }

    #[tokio::test]
    async fn an_unknown_parent_reported_by_the_store_names_the_batch_message_that_named_it() {
        let (known, unknown) = (MessageId::generate(), MessageId::generate());
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .times(1)
            .returning(move |_, _, _, _, _| Err(StoreError::UnknownMessage(unknown)));
        repo.expect_find_messages().never();
        let err = service(repo)
            .append_batch(
                &alice(),
                ThreadId::generate(),
                vec![
                    request(None, "a"),
                    with_parent(request(None, "b"), ParentChoice::Message(known)),
                    request(None, "c"),
                    with_parent(request(None, "d"), ParentChoice::Message(unknown)),
                ],
            )
            .await
            .expect_err("422");
        assert_eq!(unknown_field(err), "messages[3].parent_id");
    }

    #[tokio::test]
    async fn an_unknown_parent_of_a_single_append_is_an_unknown_parent_id() {
        let unknown = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .times(1)
            .returning(move |_, _, _, _, _| Err(StoreError::UnknownMessage(unknown)));
        let err = service(repo)
            .append(
                &alice(),
                ThreadId::generate(),
                with_parent(request(None, "x"), ParentChoice::Message(unknown)),
            )
            .await
            .expect_err("422");
        assert_eq!(unknown_field(err), "parent_id");
    }

    #[tokio::test]
    async fn a_replay_without_parent_id_matches_whatever_parent_was_stored() {
        let thread = ThreadId::generate();
        let (id, parent) = (MessageId::generate(), MessageId::generate());
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages()
            .returning(move |_, t, _| Ok(vec![child_of(as_stored(t, id, "x"), Some(parent))]));
        let created = service(repo)
            .append(&alice(), thread, request(Some(id), "x"))
            .await
            .expect("replay");
        assert!(created.replayed);
        assert_eq!(created.value.parent_id, Some(parent));
    }

    #[tokio::test]
    async fn a_replay_naming_a_parent_must_name_the_stored_one() {
        let (parent, other) = (MessageId::generate(), MessageId::generate());
        for (stored_parent, choice, replays) in [
            (Some(parent), ParentChoice::Message(parent), true),
            (Some(parent), ParentChoice::Message(other), false),
            (Some(parent), ParentChoice::Root, false),
            (None, ParentChoice::Root, true),
            (None, ParentChoice::Message(parent), false),
        ] {
            let thread = ThreadId::generate();
            let id = MessageId::generate();
            let mut repo = MockMessageRepository::new();
            repo.expect_append_messages()
                .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
            repo.expect_find_messages()
                .returning(move |_, t, _| Ok(vec![child_of(as_stored(t, id, "x"), stored_parent)]));
            let result = service(repo)
                .append(
                    &alice(),
                    thread,
                    with_parent(request(Some(id), "x"), choice),
                )
                .await;
            match (replays, result) {
                (true, Ok(created)) => assert!(created.replayed),
                (false, Err(DomainError::IdempotencyConflict)) => {}
                (_, other) => panic!("{stored_parent:?} vs {choice:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_retried_batch_with_omitted_parents_replays_the_stored_chain() {
        let thread = ThreadId::generate();
        let (leaf, a, b) = (
            MessageId::generate(),
            MessageId::generate(),
            MessageId::generate(),
        );
        let mut repo = MockMessageRepository::new();
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages().returning(move |_, t, _| {
            Ok(vec![
                child_of(as_stored(t, a, "a"), Some(leaf)),
                child_of(as_stored(t, b, "b"), Some(a)),
            ])
        });
        let created = service(repo)
            .append_batch(
                &alice(),
                thread,
                vec![
                    request(Some(a), "a"),
                    with_parent(request(Some(b), "b"), ParentChoice::Message(a)),
                ],
            )
            .await
            .expect("replay");
        assert!(created.replayed);
        let parents: Vec<Option<MessageId>> = created.value.iter().map(|m| m.parent_id).collect();
        assert_eq!(parents, [Some(leaf), Some(a)]);
    }

    #[tokio::test]
    async fn a_first_path_page_asks_for_the_target_from_its_start_with_one_extra_message() {
        let through = MessageId::generate();
        for (target, order) in [
            (PathTarget::Active, SortOrder::Asc),
            (PathTarget::Active, SortOrder::Desc),
            (PathTarget::Through(through), SortOrder::Asc),
            (PathTarget::Through(through), SortOrder::Desc),
        ] {
            let thread = ThreadId::generate();
            let mut repo = MockMessageRepository::new();
            repo.expect_list_path()
                .withf(move |u, t, q| {
                    u.as_str() == "alice"
                        && *t == thread
                        && *q
                            == PathQuery {
                                target,
                                resume_from: None,
                                order,
                                after: None,
                                limit: 3,
                            }
                })
                .times(1)
                .returning(|_, t, _| {
                    let only = on_path(t, 1_000);
                    Ok(PathPage {
                        end: Some(only.message.id),
                        messages: vec![only],
                    })
                });
            let page = service(repo)
                .list_path(
                    &alice(),
                    thread,
                    target,
                    order,
                    PageLimit::parse(2).expect("valid"),
                    None,
                )
                .await
                .expect("page");
            assert_eq!(page.items.len(), 1);
            assert_eq!(page.next_cursor, None);
        }
    }

    #[tokio::test]
    async fn the_next_path_cursor_resumes_after_the_last_message_on_the_path_its_page_ended_on() {
        let thread = ThreadId::generate();
        let end = MessageId::generate();
        let first: Vec<PathMessage> = (1..=3).map(|i| on_path(thread, i * 1_000)).collect();
        let last_shown = key_of(&first[1]);
        let mut repo = MockMessageRepository::new();
        let page_one = first.clone();
        repo.expect_list_path()
            .withf(|_, _, q| q.after.is_none() && q.resume_from.is_none())
            .times(1)
            .returning(move |_, _, _| {
                Ok(PathPage {
                    messages: page_one.clone(),
                    end: Some(end),
                })
            });
        let third = first[2].clone();
        repo.expect_list_path()
            .withf(move |_, _, q| {
                *q == PathQuery {
                    target: PathTarget::Active,
                    resume_from: Some(end),
                    order: SortOrder::Asc,
                    after: Some(last_shown),
                    limit: 3,
                }
            })
            .times(1)
            .returning(move |_, _, _| {
                Ok(PathPage {
                    messages: vec![third.clone()],
                    end: Some(end),
                })
            });
        let service = service(repo);
        let limit = PageLimit::parse(2).expect("valid");
        let page = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Active,
                SortOrder::Asc,
                limit,
                None,
            )
            .await
            .expect("page");
        assert_eq!(page.items, first[..2]);
        let cursor = page.next_cursor.expect("more");
        let next = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Active,
                SortOrder::Asc,
                limit,
                Some(&cursor),
            )
            .await
            .expect("page");
        assert_eq!(next.items, first[2..]);
        assert_eq!(next.next_cursor, None);
    }

    #[tokio::test]
    async fn a_cursor_of_part_1s_message_list_goes_on_after_its_position_on_the_active_path_and_in_branch_all()
     {
        let thread = ThreadId::generate();
        let key = MessageKey {
            created_at: Timestamp::from_micros(1_000).expect("valid"),
            id: MessageId::generate(),
        };
        let legacy =
            CursorScope::messages(&alice(), &thread, SortOrder::Asc).encode(&key.to_parts());
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path()
            .withf(move |_, _, q| {
                q.target == PathTarget::Active && q.resume_from.is_none() && q.after == Some(key)
            })
            .times(1)
            .returning(|_, t, _| {
                let only = on_path(t, 2_000);
                Ok(PathPage {
                    end: Some(only.message.id),
                    messages: vec![only],
                })
            });
        repo.expect_list_messages()
            .withf(move |_, _, q| q.after == Some(key))
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        let service = service(repo);
        let limit = PageLimit::parse(10).expect("valid");
        let page = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Active,
                SortOrder::Asc,
                limit,
                Some(&legacy),
            )
            .await
            .expect("the walk goes on");
        assert_eq!(page.items.len(), 1);
        service
            .list(&alice(), thread, SortOrder::Asc, limit, Some(&legacy))
            .await
            .expect("branch=all goes on");
        // Not on another listing: a `through` walk, the other order, another thread.
        let through = PathTarget::Through(MessageId::generate());
        for (t, target, order) in [
            (thread, through, SortOrder::Asc),
            (thread, PathTarget::Active, SortOrder::Desc),
            (ThreadId::generate(), PathTarget::Active, SortOrder::Asc),
        ] {
            let err = service
                .list_path(&alice(), t, target, order, limit, Some(&legacy))
                .await
                .expect_err("another list");
            assert!(
                matches!(err, DomainError::InvalidCursor),
                "{target:?} {order:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_path_cursor_is_invalid_on_another_order_path_thread_or_kind_of_listing() {
        let thread = ThreadId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path().times(1).returning(|_, t, _| {
            let messages: Vec<PathMessage> = (1..=2).map(|i| on_path(t, i)).collect();
            Ok(PathPage {
                end: Some(messages[1].message.id),
                messages,
            })
        });
        repo.expect_list_messages().times(1).returning(|_, t, _| {
            Ok(vec![
                as_stored(t, MessageId::generate(), "a"),
                as_stored(t, MessageId::generate(), "b"),
            ])
        });
        let service = service(repo);
        let limit = PageLimit::parse(1).expect("valid");
        let path_cursor = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Active,
                SortOrder::Asc,
                limit,
                None,
            )
            .await
            .expect("page")
            .next_cursor
            .expect("more");
        let all_cursor = service
            .list(&alice(), thread, SortOrder::Asc, limit, None)
            .await
            .expect("page")
            .next_cursor
            .expect("more");
        let bob = UserId::parse("bob").expect("valid");
        let through = PathTarget::Through(MessageId::generate());
        for (user, t, target, order) in [
            (alice(), thread, PathTarget::Active, SortOrder::Desc),
            (alice(), thread, through, SortOrder::Asc),
            (
                alice(),
                ThreadId::generate(),
                PathTarget::Active,
                SortOrder::Asc,
            ),
            (bob, thread, PathTarget::Active, SortOrder::Asc),
        ] {
            let err = service
                .list_path(&user, t, target, order, limit, Some(&path_cursor))
                .await
                .expect_err("invalid");
            assert!(
                matches!(err, DomainError::InvalidCursor),
                "{target:?} {order:?}"
            );
        }
        let err = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Active,
                SortOrder::Asc,
                limit,
                Some(&all_cursor),
            )
            .await
            .expect_err("a branch=all cursor");
        assert!(matches!(err, DomainError::InvalidCursor));
        let err = service
            .list(&alice(), thread, SortOrder::Asc, limit, Some(&path_cursor))
            .await
            .expect_err("a path cursor");
        assert!(matches!(err, DomainError::InvalidCursor));
    }

    #[tokio::test]
    async fn a_cursor_of_one_through_listing_is_invalid_on_another_through() {
        let thread = ThreadId::generate();
        let (one, other) = (MessageId::generate(), MessageId::generate());
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path().times(1).returning(|_, t, _| {
            let messages: Vec<PathMessage> = (1..=2).map(|i| on_path(t, i)).collect();
            Ok(PathPage {
                end: Some(messages[1].message.id),
                messages,
            })
        });
        let service = service(repo);
        let limit = PageLimit::parse(1).expect("valid");
        let cursor = service
            .list_path(
                &alice(),
                thread,
                PathTarget::Through(one),
                SortOrder::Desc,
                limit,
                None,
            )
            .await
            .expect("page")
            .next_cursor
            .expect("more");
        for target in [PathTarget::Through(other), PathTarget::Active] {
            let err = service
                .list_path(
                    &alice(),
                    thread,
                    target,
                    SortOrder::Desc,
                    limit,
                    Some(&cursor),
                )
                .await
                .expect_err("invalid");
            assert!(matches!(err, DomainError::InvalidCursor), "{target:?}");
        }
    }

    #[tokio::test]
    async fn the_path_of_an_empty_thread_is_an_empty_last_page() {
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path().returning(|_, _, _| {
            Ok(PathPage {
                messages: vec![],
                end: None,
            })
        });
        let page = service(repo)
            .list_path(
                &alice(),
                ThreadId::generate(),
                PathTarget::Active,
                SortOrder::Desc,
                PageLimit::DEFAULT_MESSAGES,
                None,
            )
            .await
            .expect("page");
        assert!(page.items.is_empty());
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn a_path_through_a_message_not_in_the_thread_is_message_not_found() {
        let through = MessageId::generate();
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path()
            .withf(move |_, _, q| q.target == PathTarget::Through(through))
            .returning(move |_, _, _| Err(StoreError::UnknownMessage(through)));
        let err = service(repo)
            .list_path(
                &alice(),
                ThreadId::generate(),
                PathTarget::Through(through),
                SortOrder::Asc,
                PageLimit::DEFAULT_MESSAGES,
                None,
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Message)));
    }

    #[tokio::test]
    async fn the_path_of_a_missing_thread_is_thread_not_found() {
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path()
            .returning(|_, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .list_path(
                &alice(),
                ThreadId::generate(),
                PathTarget::Active,
                SortOrder::Asc,
                PageLimit::DEFAULT_MESSAGES,
                None,
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn a_path_holding_another_threads_message_is_never_returned() {
        let mut repo = MockMessageRepository::new();
        repo.expect_list_path().returning(|_, _, _| {
            let leaked = on_path(ThreadId::generate(), 1);
            Ok(PathPage {
                end: Some(leaked.message.id),
                messages: vec![leaked],
            })
        });
        let err = service(repo)
            .list_path(
                &alice(),
                ThreadId::generate(),
                PathTarget::Active,
                SortOrder::Asc,
                PageLimit::DEFAULT_MESSAGES,
                None,
            )
            .await
            .expect_err("hidden");
        assert!(matches!(err, DomainError::Unexpected(_)));
    }

    #[tokio::test]
    async fn deleting_a_message_passes_its_scope_to_the_store() {
        for scope in [DeleteScope::Message, DeleteScope::Subtree] {
            let (thread, id) = (ThreadId::generate(), MessageId::generate());
            let mut repo = MockMessageRepository::new();
            repo.expect_delete_message()
                .withf(move |u, t, m, s, _| {
                    u.as_str() == "alice" && *t == thread && *m == id && *s == scope
                })
                .times(1)
                .returning(|_, _, _, _, _| Ok(()));
            service(repo)
                .delete(&alice(), thread, id, scope)
                .await
                .expect("deleted");
        }
    }

    fn assistant(text: &str) -> NewMessage {
        NewMessage {
            role: Role::Assistant,
            ..request(None, text)
        }
    }

    /// A stored assistant message (the reply a `PUT` replaces).
    fn stored_reply(thread: ThreadId, id: MessageId, text: &str) -> Message {
        Message {
            role: Role::Assistant,
            ..as_stored(thread, id, text)
        }
    }

    #[tokio::test]
    async fn a_put_of_a_new_id_appends_it_with_that_id() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let mut repo = MockMessageRepository::new();
        repo.expect_get_message()
            .times(1)
            .returning(|_, _, _| Err(StoreError::NotFound));
        repo.expect_append_messages()
            .withf(move |_, t, parent, msgs, _| {
                *t == thread
                    && *parent == ParentChoice::Omitted
                    && msgs.len() == 1
                    && msgs[0].id == id
                    && msgs[0].role == Role::Assistant
            })
            .times(1)
            .returning(|_, _, _, msgs, _| Ok(msgs));
        let put = service(repo)
            .put(&alice(), thread, id, assistant("partial"), IfMatch::Any)
            .await
            .expect("created");
        assert!(matches!(put, Upsert::Created(m) if m.id == id));
    }

    #[tokio::test]
    async fn a_put_of_an_existing_message_replaces_it_in_place() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let stored = stored_reply(thread, id, "old");
        let mut repo = MockMessageRepository::new();
        let current = stored.clone();
        repo.expect_get_message()
            .returning(move |_, _, _| Ok(current.clone()));
        repo.expect_update_message()
            .withf(move |_, t, m, patch, expected, _| {
                *t == thread
                    && *m == id
                    && expected.is_none()
                    && patch.status == Some(MessageStatus::Streaming)
                    && patch.sources == Some(Sources::default())
                    && patch
                        .text
                        .as_ref()
                        .is_some_and(|(content, _)| content.as_str() == "longer")
            })
            .times(1)
            .returning(move |_, _, _, _, _, _| Ok(stored.clone()));
        let mut reply = assistant("longer");
        reply.status = MessageStatus::Streaming;
        let put = service(repo)
            .put(&alice(), thread, id, reply, IfMatch::Any)
            .await
            .expect("replaced");
        assert!(matches!(put, Upsert::Replaced(_)));
    }

    #[tokio::test]
    async fn a_put_that_changes_role_or_parent_is_a_message_conflict_and_writes_nothing() {
        let (thread, id, parent) = (
            ThreadId::generate(),
            MessageId::generate(),
            MessageId::generate(),
        );
        let mut stored = stored_reply(thread, id, "x");
        stored.parent_id = Some(parent);
        let other_parent = NewMessage {
            parent: ParentChoice::Message(MessageId::generate()),
            ..assistant("y")
        };
        let as_root = NewMessage {
            parent: ParentChoice::Root,
            ..assistant("y")
        };
        for request in [request(None, "y"), other_parent, as_root] {
            let mut repo = MockMessageRepository::new();
            let current = stored.clone();
            repo.expect_get_message()
                .returning(move |_, _, _| Ok(current.clone()));
            repo.expect_update_message().never();
            let err = service(repo)
                .put(&alice(), thread, id, request, IfMatch::Any)
                .await
                .expect_err("conflict");
            assert!(matches!(err, DomainError::MessageConflict), "{err:?}");
        }
        // The same parent named, or none named, is no conflict.
        let same = NewMessage {
            parent: ParentChoice::Message(parent),
            ..assistant("y")
        };
        let mut repo = MockMessageRepository::new();
        let current = stored.clone();
        repo.expect_get_message()
            .returning(move |_, _, _| Ok(current.clone()));
        repo.expect_update_message()
            .times(1)
            .returning(move |_, _, _, _, _, _| Ok(stored.clone()));
        service(repo)
            .put(&alice(), thread, id, same, IfMatch::Any)
            .await
            .expect("replaced");
    }

    #[tokio::test]
    async fn a_put_with_a_stale_or_any_if_match_on_a_missing_message_fails_the_precondition() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let stored = stored_reply(thread, id, "x");
        let mut repo = MockMessageRepository::new();
        repo.expect_get_message()
            .returning(move |_, _, _| Ok(stored.clone()));
        repo.expect_update_message().never();
        let err = service(repo)
            .put(
                &alice(),
                thread,
                id,
                assistant("y"),
                IfMatch::OneOf(vec![Version::new(1)]),
            )
            .await
            .expect_err("412");
        assert!(matches!(err, DomainError::PreconditionFailed));

        for (thread_exists, if_match) in [
            (true, IfMatch::Exists),
            (true, IfMatch::OneOf(vec![Version::new(1)])),
            (false, IfMatch::Exists),
        ] {
            let mut repo = MockMessageRepository::new();
            repo.expect_get_message()
                .returning(|_, _, _| Err(StoreError::NotFound));
            repo.expect_append_messages().never();
            repo.expect_list_messages().returning(move |_, _, _| {
                if thread_exists {
                    Ok(Vec::new())
                } else {
                    Err(StoreError::NotFound)
                }
            });
            let err = service(repo)
                .put(&alice(), thread, id, assistant("y"), if_match)
                .await
                .expect_err("refused");
            if thread_exists {
                assert!(matches!(err, DomainError::PreconditionFailed), "{err:?}");
            } else {
                assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
            }
        }
    }

    #[tokio::test]
    async fn a_put_that_loses_a_race_looks_again() {
        // The message is created by someone else between the look and the append (so the
        // PUT replaces it), and deleted by someone else between the next look and the
        // update (so the PUT creates it again).
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let stored = stored_reply(thread, id, "theirs");
        let mut repo = MockMessageRepository::new();
        let mut looks = 0;
        let theirs = stored.clone();
        repo.expect_get_message()
            .times(4)
            .returning(move |_, _, _| {
                looks += 1;
                match looks {
                    1 | 4 => Err(StoreError::NotFound),
                    _ => Ok(theirs.clone()),
                }
            });
        let mut appends = 0;
        repo.expect_append_messages()
            .times(2)
            .returning(move |_, _, _, msgs, _| {
                appends += 1;
                if appends == 1 {
                    Err(StoreError::AlreadyExists)
                } else {
                    Ok(msgs)
                }
            });
        let theirs = stored.clone();
        repo.expect_find_messages()
            .returning(move |_, _, _| Ok(vec![theirs.clone()]));
        let mut updates = 0;
        repo.expect_update_message()
            .times(2)
            .returning(move |_, _, _, _, expected, _| {
                assert_eq!(expected, None);
                updates += 1;
                if updates == 1 {
                    Ok(stored.clone())
                } else {
                    Err(StoreError::NotFound)
                }
            });
        let service = service(repo);
        let put = service
            .put(&alice(), thread, id, assistant("mine"), IfMatch::Any)
            .await
            .expect("replaced");
        assert!(matches!(put, Upsert::Replaced(_)));
        let put = service
            .put(&alice(), thread, id, assistant("mine"), IfMatch::Any)
            .await
            .expect("created again");
        assert!(matches!(put, Upsert::Created(m) if m.id == id));
    }

    #[tokio::test]
    async fn a_put_whose_if_match_stops_matching_before_the_write_fails_the_precondition() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let stored = stored_reply(thread, id, "x");
        let version = stored.version;
        let mut repo = MockMessageRepository::new();
        repo.expect_get_message()
            .returning(move |_, _, _| Ok(stored.clone()));
        repo.expect_update_message()
            .withf(move |_, _, _, _, expected, _| expected.as_deref() == Some(&[version][..]))
            .times(1)
            .returning(|_, _, _, _, _, _| Err(StoreError::VersionMismatch));
        let err = service(repo)
            .put(
                &alice(),
                thread,
                id,
                assistant("y"),
                IfMatch::OneOf(vec![version]),
            )
            .await
            .expect_err("412");
        assert!(matches!(err, DomainError::PreconditionFailed));
    }

    #[tokio::test]
    async fn a_put_of_an_id_used_elsewhere_is_an_id_conflict() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let mut repo = MockMessageRepository::new();
        repo.expect_get_message()
            .returning(|_, _, _| Err(StoreError::NotFound));
        repo.expect_append_messages()
            .returning(|_, _, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_find_messages()
            .returning(|_, _, _| Ok(Vec::new()));
        let err = service(repo)
            .put(&alice(), thread, id, assistant("x"), IfMatch::Any)
            .await
            .expect_err("409");
        assert!(matches!(err, DomainError::IdConflict));
    }

    #[tokio::test]
    async fn feedback_is_stored_with_its_time_and_cleared_without_touching_the_thread() {
        let (thread, id) = (ThreadId::generate(), MessageId::generate());
        let stored = as_stored(thread, id, "x");
        let mut repo = MockMessageRepository::new();
        let current = stored.clone();
        repo.expect_set_feedback()
            .withf(move |u, t, m, feedback, now| {
                u.as_str() == "alice"
                    && *t == thread
                    && *m == id
                    && feedback.as_ref().is_none_or(|f| f.updated_at == *now)
            })
            .times(2)
            .returning(move |_, _, _, feedback, _| {
                Ok(Message {
                    feedback,
                    ..current.clone()
                })
            });
        repo.expect_update_message().never();
        let service = service(repo);
        let input = FeedbackInput::parse(
            crate::Rating::Down,
            Some("wrong year".into()),
            vec!["factual".into()],
        )
        .expect("valid");
        let feedback = service
            .set_feedback(&alice(), thread, id, input)
            .await
            .expect("stored");
        assert_eq!(feedback.rating, crate::Rating::Down);
        assert_eq!(feedback.tags, ["factual"]);
        service
            .clear_feedback(&alice(), thread, id)
            .await
            .expect("cleared");
    }

    #[tokio::test]
    async fn feedback_on_a_missing_message_is_message_not_found() {
        let mut repo = MockMessageRepository::new();
        repo.expect_set_feedback()
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .clear_feedback(&alice(), ThreadId::generate(), MessageId::generate())
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Message)));
    }
}
