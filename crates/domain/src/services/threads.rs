use std::sync::Arc;

use crate::page::CursorScope;
use crate::{
    Created, DomainError, IfMatch, Metadata, NewFork, NewThread, Page, PageLimit, Purged, Resource,
    StoreError, Thread, ThreadFilter, ThreadId, ThreadKey, ThreadListQuery, ThreadPatch,
    ThreadRepository, Timestamp, UserId, Version,
};

/// Use cases on threads. Cheap to clone.
#[derive(Clone)]
pub struct ThreadService {
    repo: Arc<dyn ThreadRepository>,
}

impl std::fmt::Debug for ThreadService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadService").finish_non_exhaustive()
    }
}

fn not_found(err: StoreError) -> DomainError {
    match err {
        StoreError::NotFound => DomainError::NotFound(Resource::Thread),
        other => other.into(),
    }
}

/// `expires_at` must lie after `now`: a time in the past is refused, not taken as
/// "delete at once".
fn in_the_future(expires_at: Option<Timestamp>, now: Timestamp) -> Result<(), DomainError> {
    match expires_at {
        Some(at) if at <= now => Err(DomainError::invalid(
            "expires_at",
            "must be a time in the future",
        )),
        _ => Ok(()),
    }
}

/// Defence in depth: even if an adapter forgot its `user_id` filter, another user's
/// thread never leaves the service.
fn owned_by(thread: Thread, user: &UserId) -> Result<Thread, DomainError> {
    if &thread.user_id == user {
        Ok(thread)
    } else {
        Err(DomainError::NotFound(Resource::Thread))
    }
}

impl ThreadService {
    /// A service over the given repository.
    pub fn new(repo: Arc<dyn ThreadRepository>) -> Self {
        Self { repo }
    }

    /// Creates a thread for `user`.
    ///
    /// With a client id, repeating the same create returns the stored thread with
    /// `replayed: true`. Errors: [`DomainError::IdempotencyConflict`] when the user already
    /// has a thread with this id and a different title or metadata;
    /// [`DomainError::IdConflict`] when another user has a thread with this id.
    pub async fn create(
        &self,
        user: &UserId,
        new: NewThread,
    ) -> Result<Created<Thread>, DomainError> {
        let now = Timestamp::now();
        in_the_future(new.expires_at, now)?;
        let thread = Thread {
            id: new.id.unwrap_or_else(ThreadId::generate),
            user_id: user.clone(),
            title: new.title.clone(),
            metadata: new.metadata.clone(),
            archived_at: None,
            pinned_at: None,
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            version: Version::new(now.as_micros()),
            active_leaf_id: None,
            active_stream_id: None,
            expires_at: new.expires_at,
        };
        match self.repo.insert_thread(&thread).await {
            Ok(()) => Ok(Created {
                value: thread,
                replayed: false,
            }),
            Err(StoreError::AlreadyExists) => match self.repo.get_thread(user, thread.id).await {
                Ok(existing) if existing.user_id != *user => Err(DomainError::IdConflict),
                Ok(existing)
                    if existing.title == new.title
                        && existing.metadata == new.metadata
                        && existing.expires_at == new.expires_at =>
                {
                    Ok(Created {
                        value: existing,
                        replayed: true,
                    })
                }
                Ok(_) => Err(DomainError::IdempotencyConflict),
                Err(StoreError::NotFound) => Err(DomainError::IdConflict),
                Err(other) => Err(other.into()),
            },
            Err(other) => Err(other.into()),
        }
    }

    /// The user's thread. Errors: `NotFound` (also for another user's thread).
    pub async fn get(&self, user: &UserId, id: ThreadId) -> Result<Thread, DomainError> {
        let thread = self.repo.get_thread(user, id).await.map_err(not_found)?;
        owned_by(thread, user)
    }

    /// One page of the user's threads, most recently updated first.
    ///
    /// Errors: [`DomainError::InvalidCursor`] when `cursor` did not come from this same list
    /// (same user and filters) or was altered.
    pub async fn list(
        &self,
        user: &UserId,
        filter: ThreadFilter,
        limit: PageLimit,
        cursor: Option<&str>,
    ) -> Result<Page<Thread>, DomainError> {
        let scope = CursorScope::threads(user, &filter);
        let after = scope.position(cursor, ThreadKey::from_parts)?;
        let query = ThreadListQuery {
            filter,
            after,
            limit: limit.get() + 1,
        };
        let items = self.repo.list_threads(user, query).await?;
        if items.iter().any(|t| &t.user_id != user) {
            return Err(DomainError::Unexpected(
                "thread list returned another user's thread".into(),
            ));
        }
        Ok(scope.page(items, limit, |last| {
            ThreadKey {
                updated_at: last.updated_at,
                id: last.id,
            }
            .to_parts()
        }))
    }

    /// The user's threads after `after` in id order, at most `limit` (1 to 1,000): the
    /// pages of a walk over every thread, for an export.
    pub async fn walk(
        &self,
        user: &UserId,
        after: Option<ThreadId>,
        limit: u64,
    ) -> Result<Vec<Thread>, DomainError> {
        let threads = self
            .repo
            .list_threads_by_id(user, after, limit.clamp(1, 1_000))
            .await?;
        if threads.iter().any(|t| &t.user_id != user) {
            return Err(DomainError::Unexpected(
                "thread walk returned another user's thread".into(),
            ));
        }
        Ok(threads)
    }

    /// Applies a partial update; bumps `updated_at` unless the patch only switches the
    /// active leaf.
    ///
    /// Errors: `NotFound`; [`DomainError::PreconditionFailed`] when `if_match` names
    /// versions and the current one is not among them; `UnknownMessage` (`active_leaf_id`)
    /// when the new active leaf is not a message of the thread.
    pub async fn update(
        &self,
        user: &UserId,
        id: ThreadId,
        patch: ThreadPatch,
        if_match: IfMatch,
    ) -> Result<Thread, DomainError> {
        let now = Timestamp::now();
        in_the_future(patch.expires_at.flatten(), now)?;
        let thread = self
            .repo
            .update_thread(user, id, patch, if_match.into_expected(), now)
            .await
            .map_err(|err| match err {
                StoreError::UnknownMessage(_) => DomainError::UnknownMessage {
                    field: "active_leaf_id".into(),
                },
                other => not_found(other),
            })?;
        owned_by(thread, user)
    }

    /// Forks the user's thread `source` at a message: a new thread holding copies of the
    /// path from the root to that message, whose last copy is its active leaf. Its title
    /// defaults to the source's; its metadata is the source's plus
    /// `"forked_from": {"thread_id", "message_id"}`.
    ///
    /// With a client id, repeating the same fork (same source and message, and the same
    /// title once the default applies: an omitted title is the source's current one)
    /// returns the stored thread with `replayed: true`. Errors: `NotFound`
    /// (source thread), `UnknownMessage` (`message_id`), `Invalid` (`metadata` when the
    /// source's metadata leaves no room for `forked_from`), `IdempotencyConflict`,
    /// `IdConflict`.
    pub async fn fork(
        &self,
        user: &UserId,
        source: ThreadId,
        fork: NewFork,
    ) -> Result<Created<Thread>, DomainError> {
        let origin = self.get(user, source).await?;
        let mut metadata = origin.metadata.as_map();
        metadata.insert(
            "forked_from".into(),
            serde_json::json!({
                "thread_id": source.to_string(),
                "message_id": fork.message_id.to_string(),
            }),
        );
        let metadata = Metadata::parse(serde_json::Value::Object(metadata))?;
        let now = Timestamp::now();
        let thread = Thread {
            id: fork.id.unwrap_or_else(ThreadId::generate),
            user_id: user.clone(),
            title: fork.title.clone().unwrap_or(origin.title),
            metadata: metadata.clone(),
            archived_at: None,
            pinned_at: None,
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            version: Version::new(now.as_micros()),
            active_leaf_id: None,
            active_stream_id: None,
            // A fork of a temporary chat is temporary too, until the same moment.
            expires_at: origin.expires_at,
        };
        match self
            .repo
            .fork_thread(user, source, fork.message_id, &thread)
            .await
        {
            Ok(stored) => Ok(Created {
                value: owned_by(stored, user)?,
                replayed: false,
            }),
            Err(StoreError::UnknownMessage(_)) => Err(DomainError::UnknownMessage {
                field: "message_id".into(),
            }),
            Err(StoreError::AlreadyExists) => match self.repo.get_thread(user, thread.id).await {
                Ok(existing) if existing.user_id != *user => Err(DomainError::IdConflict),
                Ok(existing)
                    if existing.metadata.as_map().get("forked_from")
                        == metadata.as_map().get("forked_from")
                        && existing.title == thread.title =>
                {
                    Ok(Created {
                        value: existing,
                        replayed: true,
                    })
                }
                Ok(_) => Err(DomainError::IdempotencyConflict),
                Err(StoreError::NotFound) => Err(DomainError::IdConflict),
                Err(other) => Err(other.into()),
            },
            Err(other) => Err(not_found(other)),
        }
    }

    /// Deletes the thread and all its messages. Errors: `NotFound`.
    pub async fn delete(&self, user: &UserId, id: ThreadId) -> Result<(), DomainError> {
        self.repo.delete_thread(user, id).await.map_err(not_found)
    }

    /// Deletes all of the user's threads and messages; returns how many went.
    pub async fn delete_all(&self, user: &UserId) -> Result<Purged, DomainError> {
        Ok(self.repo.delete_all_threads(user).await?)
    }

    /// Whether storage answers. Errors: `Unavailable`.
    pub async fn ready(&self) -> Result<(), DomainError> {
        Ok(self.repo.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArchivedFilter, MessageId, Metadata, MockThreadRepository, ThreadTitle};
    use mockall::predicate::eq;
    use serde_json::json;

    fn alice() -> UserId {
        UserId::parse("alice").expect("valid")
    }

    fn bob() -> UserId {
        UserId::parse("bob").expect("valid")
    }

    fn stored(user: &UserId, id: ThreadId, title: &str) -> Thread {
        let now = Timestamp::now();
        Thread {
            id,
            user_id: user.clone(),
            title: ThreadTitle::parse(title).expect("valid"),
            metadata: Metadata::default(),
            archived_at: None,
            pinned_at: None,
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            version: Version::new(now.as_micros()),
            active_leaf_id: None,
            active_stream_id: None,
            expires_at: None,
        }
    }

    fn service(repo: MockThreadRepository) -> ThreadService {
        ThreadService::new(Arc::new(repo))
    }

    fn new_thread(id: Option<ThreadId>, title: &str) -> NewThread {
        NewThread {
            id,
            title: ThreadTitle::parse(title).expect("valid"),
            metadata: Metadata::default(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn creating_a_thread_stores_it_for_the_caller_with_defaults() {
        let mut repo = MockThreadRepository::new();
        repo.expect_insert_thread()
            .withf(|t| {
                t.user_id.as_str() == "alice"
                    && t.message_count == 0
                    && t.last_message_at.is_none()
                    && t.created_at == t.updated_at
                    && t.id.as_uuid().get_version_num() == 7
            })
            .times(1)
            .returning(|_| Ok(()));
        let created = service(repo)
            .create(&alice(), NewThread::default())
            .await
            .expect("created");
        assert!(!created.replayed);
        assert_eq!(created.value.title.as_str(), "");
    }

    #[tokio::test]
    async fn repeating_a_create_with_the_same_id_and_body_replays_the_stored_thread() {
        let id = ThreadId::generate();
        let existing = stored(&alice(), id, "Trip");
        let mut repo = MockThreadRepository::new();
        repo.expect_insert_thread()
            .returning(|_| Err(StoreError::AlreadyExists));
        let copy = existing.clone();
        repo.expect_get_thread()
            .with(eq(alice()), eq(id))
            .returning(move |_, _| Ok(copy.clone()));
        let created = service(repo)
            .create(&alice(), new_thread(Some(id), "Trip"))
            .await
            .expect("replayed");
        assert!(created.replayed);
        assert_eq!(created.value, existing);
    }

    #[tokio::test]
    async fn the_same_id_with_a_different_body_is_an_idempotency_conflict() {
        let id = ThreadId::generate();
        let mut repo = MockThreadRepository::new();
        repo.expect_insert_thread()
            .returning(|_| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .returning(move |u, _| Ok(stored(u, id, "Trip")));
        let err = service(repo)
            .create(&alice(), new_thread(Some(id), "Other"))
            .await
            .expect_err("conflict");
        assert!(matches!(err, DomainError::IdempotencyConflict));
    }

    #[tokio::test]
    async fn different_metadata_is_a_different_body() {
        let id = ThreadId::generate();
        let mut repo = MockThreadRepository::new();
        repo.expect_insert_thread()
            .returning(|_| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .returning(move |u, _| Ok(stored(u, id, "Trip")));
        let mut request = new_thread(Some(id), "Trip");
        request.metadata = Metadata::parse(json!({"k": 1})).expect("valid");
        let err = service(repo)
            .create(&alice(), request)
            .await
            .expect_err("conflict");
        assert!(matches!(err, DomainError::IdempotencyConflict));
    }

    #[tokio::test]
    async fn an_id_taken_by_another_user_is_an_id_conflict_that_reveals_nothing() {
        let id = ThreadId::generate();
        let mut repo = MockThreadRepository::new();
        repo.expect_insert_thread()
            .returning(|_| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .returning(|_, _| Err(StoreError::NotFound));
        let err = service(repo)
            .create(&alice(), new_thread(Some(id), "Trip"))
            .await
            .expect_err("conflict");
        assert!(matches!(err, DomainError::IdConflict));
    }

    #[tokio::test]
    async fn a_thread_of_another_user_is_never_returned_even_if_the_adapter_leaks_it() {
        let id = ThreadId::generate();
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(move |_, _| Ok(stored(&bob(), id, "Bob's")));
        let err = service(repo).get(&alice(), id).await.expect_err("hidden");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn a_missing_thread_is_not_found() {
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(|_, _| Err(StoreError::NotFound));
        let err = service(repo)
            .get(&alice(), ThreadId::generate())
            .await
            .expect_err("missing");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn listing_asks_for_one_extra_row_and_hands_out_a_cursor_only_when_more_follow() {
        let mut repo = MockThreadRepository::new();
        repo.expect_list_threads()
            .withf(|_, q| q.limit == 3 && q.after.is_none())
            .returning(|u, _| {
                Ok((0..3)
                    .map(|_| stored(u, ThreadId::generate(), "t"))
                    .collect())
            });
        let page = service(repo)
            .list(
                &alice(),
                ThreadFilter::default(),
                PageLimit::parse(2).expect("valid"),
                None,
            )
            .await
            .expect("page");
        assert_eq!(page.items.len(), 2);
        assert!(page.has_more());

        let mut repo = MockThreadRepository::new();
        repo.expect_list_threads()
            .returning(|u, _| Ok(vec![stored(u, ThreadId::generate(), "t")]));
        let page = service(repo)
            .list(
                &alice(),
                ThreadFilter::default(),
                PageLimit::parse(2).expect("valid"),
                None,
            )
            .await
            .expect("page");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn the_next_cursor_resumes_after_the_last_item_of_the_page() {
        let threads: Vec<Thread> = (0..2)
            .map(|_| stored(&alice(), ThreadId::generate(), "t"))
            .collect();
        let last = threads[0].clone();
        let mut repo = MockThreadRepository::new();
        let first = threads.clone();
        repo.expect_list_threads()
            .withf(|_, q| q.after.is_none())
            .returning(move |_, _| Ok(first.clone()));
        repo.expect_list_threads()
            .withf(move |_, q| {
                q.after
                    == Some(ThreadKey {
                        updated_at: last.updated_at,
                        id: last.id,
                    })
            })
            .returning(|_, _| Ok(vec![]));
        let service = service(repo);
        let limit = PageLimit::parse(1).expect("valid");
        let page = service
            .list(&alice(), ThreadFilter::default(), limit, None)
            .await
            .expect("page");
        let cursor = page.next_cursor.expect("more");
        let next = service
            .list(&alice(), ThreadFilter::default(), limit, Some(&cursor))
            .await
            .expect("page");
        assert!(next.items.is_empty());
    }

    #[tokio::test]
    async fn a_cursor_from_another_list_or_user_is_invalid_and_never_reaches_storage() {
        let mut repo = MockThreadRepository::new();
        repo.expect_list_threads().times(1).returning(|u, _| {
            Ok((0..2)
                .map(|_| stored(u, ThreadId::generate(), "t"))
                .collect())
        });
        let service = service(repo);
        let limit = PageLimit::parse(1).expect("valid");
        let cursor = service
            .list(&alice(), ThreadFilter::default(), limit, None)
            .await
            .expect("page")
            .next_cursor
            .expect("more");
        let archived = ThreadFilter {
            archived: ArchivedFilter::Archived,
            pinned: None,
        };
        for (user, filter, c) in [
            (bob(), ThreadFilter::default(), cursor.as_str()),
            (alice(), archived, cursor.as_str()),
            (alice(), ThreadFilter::default(), "garbage"),
        ] {
            let err = service
                .list(&user, filter, limit, Some(c))
                .await
                .expect_err("invalid");
            assert!(matches!(err, DomainError::InvalidCursor));
        }
    }

    #[tokio::test]
    async fn if_match_versions_reach_the_adapter_and_a_mismatch_is_a_failed_precondition() {
        let mut repo = MockThreadRepository::new();
        repo.expect_update_thread()
            .withf(|_, _, _, expected, _| expected.as_deref() == Some(&[Version::new(7)][..]))
            .returning(|_, _, _, _, _| Err(StoreError::VersionMismatch));
        let err = service(repo)
            .update(
                &alice(),
                ThreadId::generate(),
                ThreadPatch::default(),
                IfMatch::OneOf(vec![Version::new(7)]),
            )
            .await
            .expect_err("412");
        assert!(matches!(err, DomainError::PreconditionFailed));
    }

    #[tokio::test]
    async fn updating_a_missing_thread_is_not_found() {
        let mut repo = MockThreadRepository::new();
        repo.expect_update_thread()
            .withf(|_, _, _, expected, _| expected.is_none())
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .update(
                &alice(),
                ThreadId::generate(),
                ThreadPatch::default(),
                IfMatch::Any,
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn deleting_a_missing_thread_is_not_found_and_storage_outages_are_unavailable() {
        let mut repo = MockThreadRepository::new();
        repo.expect_delete_thread()
            .returning(|_, _| Err(StoreError::NotFound));
        repo.expect_delete_all_threads()
            .returning(|_| Err(StoreError::Unavailable("down".into())));
        let service = service(repo);
        assert!(matches!(
            service.delete(&alice(), ThreadId::generate()).await,
            Err(DomainError::NotFound(Resource::Thread))
        ));
        assert!(matches!(
            service.delete_all(&alice()).await,
            Err(DomainError::Unavailable(_))
        ));
    }

    fn with_metadata(mut thread: Thread, metadata: serde_json::Value) -> Thread {
        thread.metadata = Metadata::parse(metadata).expect("valid");
        thread
    }

    fn fork_of(message_id: MessageId, id: Option<ThreadId>, title: Option<&str>) -> NewFork {
        NewFork {
            message_id,
            id,
            title: title.map(|t| ThreadTitle::parse(t).expect("valid")),
        }
    }

    fn forked_from(source: ThreadId, message: MessageId) -> serde_json::Value {
        json!({"thread_id": source.to_string(), "message_id": message.to_string()})
    }

    /// A repository holding alice's `source` thread and refusing the fork's id as taken.
    fn taken_fork_id(source: &Thread, existing: Result<Thread, ()>) -> MockThreadRepository {
        let (source_id, copy) = (source.id, source.clone());
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .with(eq(alice()), eq(source_id))
            .returning(move |_, _| Ok(copy.clone()));
        repo.expect_fork_thread()
            .times(1)
            .returning(|_, _, _, _| Err(StoreError::AlreadyExists));
        repo.expect_get_thread()
            .withf(move |_, id| *id != source_id)
            .returning(move |_, _| existing.clone().map_err(|()| StoreError::NotFound));
        repo
    }

    #[tokio::test]
    async fn an_active_leaf_outside_the_thread_is_an_unknown_active_leaf_id() {
        let leaf = MessageId::generate();
        let patch = ThreadPatch {
            active_leaf: Some(Some(leaf)),
            ..ThreadPatch::default()
        };
        assert!(!patch.bumps_updated_at());
        let mut repo = MockThreadRepository::new();
        let expected = patch.clone();
        repo.expect_update_thread()
            .withf(move |u, _, p, _, _| u.as_str() == "alice" && *p == expected)
            .times(1)
            .returning(move |_, _, _, _, _| Err(StoreError::UnknownMessage(leaf)));
        let err = service(repo)
            .update(&alice(), ThreadId::generate(), patch, IfMatch::Any)
            .await
            .expect_err("422");
        match err {
            DomainError::UnknownMessage { field } => assert_eq!(field, "active_leaf_id"),
            other => panic!("expected unknown_message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn switching_the_active_leaf_of_a_missing_thread_is_thread_not_found() {
        let mut repo = MockThreadRepository::new();
        repo.expect_update_thread()
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .update(
                &alice(),
                ThreadId::generate(),
                ThreadPatch {
                    active_leaf: Some(Some(MessageId::generate())),
                    ..ThreadPatch::default()
                },
                IfMatch::Any,
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn switching_the_active_leaf_returns_the_thread_as_stored() {
        let id = ThreadId::generate();
        let leaf = MessageId::generate();
        let mut repo = MockThreadRepository::new();
        repo.expect_update_thread()
            .withf(|_, _, p, _, _| p.active_leaf == Some(None) && !p.bumps_updated_at())
            .times(1)
            .returning(move |u, id, _, _, _| {
                let mut thread = stored(u, id, "t");
                thread.active_leaf_id = Some(leaf);
                Ok(thread)
            });
        let thread = service(repo)
            .update(
                &alice(),
                id,
                ThreadPatch {
                    active_leaf: Some(None),
                    ..ThreadPatch::default()
                },
                IfMatch::Any,
            )
            .await
            .expect("updated");
        assert_eq!(thread.active_leaf_id, Some(leaf));
    }

    #[tokio::test]
    async fn a_fork_keeps_the_source_metadata_and_title_and_records_where_it_came_from() {
        let source = with_metadata(
            stored(&alice(), ThreadId::generate(), "Trip"),
            json!({"k": 1, "forked_from": {"thread_id": "older", "message_id": "older"}}),
        );
        let (source_id, message) = (source.id, MessageId::generate());
        let fork_id = ThreadId::generate();
        let expected =
            Metadata::parse(json!({"k": 1, "forked_from": forked_from(source_id, message)}))
                .expect("valid");
        let mut repo = MockThreadRepository::new();
        let copy = source.clone();
        repo.expect_get_thread()
            .with(eq(alice()), eq(source_id))
            .times(1)
            .returning(move |_, _| Ok(copy.clone()));
        repo.expect_fork_thread()
            .withf(move |u, s, m, fork| {
                u.as_str() == "alice"
                    && *s == source_id
                    && *m == message
                    && fork.id == fork_id
                    && fork.user_id.as_str() == "alice"
                    && fork.title.as_str() == "Trip"
                    && fork.metadata == expected
                    && fork.message_count == 0
                    && fork.archived_at.is_none()
                    && fork.pinned_at.is_none()
            })
            .times(1)
            .returning(move |_, _, m, fork| {
                let mut stored = fork.clone();
                stored.message_count = 2;
                stored.active_leaf_id = Some(m);
                Ok(stored)
            });
        let created = service(repo)
            .fork(&alice(), source_id, fork_of(message, Some(fork_id), None))
            .await
            .expect("forked");
        assert!(!created.replayed);
        assert_eq!(created.value.id, fork_id);
        assert_eq!(created.value.message_count, 2);
        assert_eq!(
            created.value.metadata.as_map().get("forked_from"),
            Some(&forked_from(source_id, message))
        );
    }

    #[tokio::test]
    async fn a_fork_without_a_client_id_gets_a_new_id_and_a_given_title_wins() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let source_id = source.id;
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(move |_, _| Ok(source.clone()));
        repo.expect_fork_thread()
            .withf(move |_, _, _, fork| {
                fork.id != source_id
                    && fork.id.as_uuid().get_version_num() == 7
                    && fork.title.as_str() == "Copy"
            })
            .times(1)
            .returning(|_, _, _, fork| Ok(fork.clone()));
        let created = service(repo)
            .fork(
                &alice(),
                source_id,
                fork_of(MessageId::generate(), None, Some("Copy")),
            )
            .await
            .expect("forked");
        assert_eq!(created.value.title.as_str(), "Copy");
    }

    #[tokio::test]
    async fn repeating_a_fork_with_the_same_id_source_and_message_replays_the_stored_fork() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let message = MessageId::generate();
        let fork_id = ThreadId::generate();
        let default_title = with_metadata(
            stored(&alice(), fork_id, "Trip"),
            json!({"forked_from": forked_from(source.id, message)}),
        );
        let own_title = with_metadata(
            stored(&alice(), fork_id, "Trip (mine)"),
            json!({"forked_from": forked_from(source.id, message)}),
        );
        for (existing, title) in [
            (&default_title, None),
            (&default_title, Some("Trip")),
            (&own_title, Some("Trip (mine)")),
        ] {
            let repo = taken_fork_id(&source, Ok(existing.clone()));
            let created = service(repo)
                .fork(&alice(), source.id, fork_of(message, Some(fork_id), title))
                .await
                .expect("replayed");
            assert!(created.replayed, "{title:?}");
            assert_eq!(&created.value, existing);
        }
    }

    #[tokio::test]
    async fn the_same_fork_id_with_another_message_source_or_title_is_an_idempotency_conflict() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let message = MessageId::generate();
        let fork_id = ThreadId::generate();
        let fork_with = |from: serde_json::Value, title: &str| {
            with_metadata(
                stored(&alice(), fork_id, title),
                json!({"forked_from": from}),
            )
        };
        let cases = [
            (
                fork_with(forked_from(source.id, MessageId::generate()), "Trip"),
                None,
            ),
            (
                fork_with(forked_from(ThreadId::generate(), message), "Trip"),
                None,
            ),
            (
                fork_with(forked_from(source.id, message), "Trip"),
                Some("Other"),
            ),
            (stored(&alice(), fork_id, "Trip"), None),
            // An omitted title is the source's: a fork stored with its own title differs.
            (
                fork_with(forked_from(source.id, message), "Trip (mine)"),
                None,
            ),
        ];
        for (existing, title) in cases {
            let repo = taken_fork_id(&source, Ok(existing));
            let err = service(repo)
                .fork(&alice(), source.id, fork_of(message, Some(fork_id), title))
                .await
                .expect_err("409");
            assert!(matches!(err, DomainError::IdempotencyConflict), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_fork_id_taken_by_another_user_is_an_id_conflict_that_reveals_nothing() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let message = MessageId::generate();
        let fork_id = ThreadId::generate();
        let leaked = with_metadata(
            stored(&bob(), fork_id, "Trip"),
            json!({"forked_from": forked_from(source.id, message)}),
        );
        for existing in [Err(()), Ok(leaked)] {
            let repo = taken_fork_id(&source, existing);
            let err = service(repo)
                .fork(&alice(), source.id, fork_of(message, Some(fork_id), None))
                .await
                .expect_err("409");
            assert!(matches!(err, DomainError::IdConflict), "{err:?}");
        }
    }

    #[tokio::test]
    async fn forking_at_a_message_not_in_the_source_is_an_unknown_message_id() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let (source_id, message) = (source.id, MessageId::generate());
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(move |_, _| Ok(source.clone()));
        repo.expect_fork_thread()
            .times(1)
            .returning(move |_, _, _, _| Err(StoreError::UnknownMessage(message)));
        let err = service(repo)
            .fork(&alice(), source_id, fork_of(message, None, None))
            .await
            .expect_err("422");
        match err {
            DomainError::UnknownMessage { field } => assert_eq!(field, "message_id"),
            other => panic!("expected unknown_message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn forking_a_missing_or_another_users_thread_is_thread_not_found_and_copies_nothing() {
        let id = ThreadId::generate();
        for found in [Err(StoreError::NotFound), Ok(stored(&bob(), id, "Bob's"))] {
            let mut repo = MockThreadRepository::new();
            let mut found = Some(found);
            repo.expect_get_thread()
                .times(1)
                .returning(move |_, _| found.take().expect("called once"));
            repo.expect_fork_thread().never();
            let err = service(repo)
                .fork(&alice(), id, fork_of(MessageId::generate(), None, None))
                .await
                .expect_err("404");
            assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
        }
    }

    #[tokio::test]
    async fn a_source_deleted_while_forking_is_thread_not_found() {
        let source = stored(&alice(), ThreadId::generate(), "Trip");
        let source_id = source.id;
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(move |_, _| Ok(source.clone()));
        repo.expect_fork_thread()
            .returning(|_, _, _, _| Err(StoreError::NotFound));
        let err = service(repo)
            .fork(
                &alice(),
                source_id,
                fork_of(MessageId::generate(), None, None),
            )
            .await
            .expect_err("404");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn a_source_whose_metadata_leaves_no_room_for_forked_from_is_invalid_metadata() {
        let padding = "x".repeat(Metadata::MAX_BYTES - 20);
        let source = with_metadata(
            stored(&alice(), ThreadId::generate(), "Trip"),
            json!({ "p": padding }),
        );
        let source_id = source.id;
        let mut repo = MockThreadRepository::new();
        repo.expect_get_thread()
            .returning(move |_, _| Ok(source.clone()));
        repo.expect_fork_thread().never();
        let err = service(repo)
            .fork(
                &alice(),
                source_id,
                fork_of(MessageId::generate(), None, None),
            )
            .await
            .expect_err("422");
        assert!(
            matches!(&err, DomainError::Invalid { field, .. } if field == "metadata"),
            "{err:?}"
        );
    }
}
