//! The storage ports. Adapters implement them; services depend on them only.
//!
//! Every method that reads or changes user data takes the [`UserId`] and MUST scope its
//! queries by it: a row of another user behaves exactly like a missing row. Methods that
//! change several rows MUST do so atomically (one transaction inside the adapter).

use async_trait::async_trait;

use std::time::Duration;

use crate::{
    DeleteScope, Event, EventId, Feedback, Message, MessageId, MessageListQuery, MessagePatch,
    ParentChoice, PathPage, PathQuery, PurgeRule, Purged, SearchHit, SearchRequest, StoreError,
    Thread, ThreadId, ThreadListQuery, ThreadPatch, Timestamp, UserId, Version,
};

/// Storage of threads.
///
/// A thread whose `expires_at` is at or before the time of a call is treated as missing
/// by every method that names or lists threads, exactly like another user's, whether or
/// not it has been deleted yet (and so are its messages, by [`MessageRepository`] and
/// [`SearchRepository`]).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ThreadRepository: Send + Sync {
    /// Stores a new thread exactly as given.
    ///
    /// Errors: [`StoreError::AlreadyExists`] when a thread with this id exists for any
    /// user (nothing is written); `Unavailable`/`Unexpected` otherwise.
    async fn insert_thread(&self, thread: &Thread) -> Result<(), StoreError>;

    /// The user's thread with this id.
    ///
    /// Errors: [`StoreError::NotFound`] when it does not exist or is another user's.
    async fn get_thread(&self, user: &UserId, id: ThreadId) -> Result<Thread, StoreError>;

    /// The user's threads matching the filter, ordered by `(updated_at desc, id desc)`,
    /// strictly after `query.after` when given, at most `query.limit` of them.
    async fn list_threads(
        &self,
        user: &UserId,
        query: ThreadListQuery,
    ) -> Result<Vec<Thread>, StoreError>;

    /// The user's threads, archived or not, whose id is greater than `after` (all when
    /// `None`), in id order, at most `limit` of them: a walk over every thread (for an
    /// export) that neither skips nor repeats one whatever changes meanwhile, since ids
    /// never change.
    async fn list_threads_by_id(
        &self,
        user: &UserId,
        after: Option<ThreadId>,
        limit: u64,
    ) -> Result<Vec<Thread>, StoreError>;

    /// Applies the patch, sets `updated_at = now` when
    /// [`ThreadPatch::bumps_updated_at`], grows the version, and returns the stored
    /// thread. When `expected` is given the update only happens if the current version is
    /// one of them, checked atomically with the update. `active_leaf: Some(Some(id))` MUST
    /// name a message of this thread, checked atomically with the update too.
    ///
    /// Errors: `NotFound` (missing or another user's), `VersionMismatch`,
    /// `UnknownMessage` (the new active leaf is not a message of the thread; nothing
    /// changes).
    async fn update_thread(
        &self,
        user: &UserId,
        id: ThreadId,
        patch: ThreadPatch,
        expected: Option<Vec<Version>>,
        now: Timestamp,
    ) -> Result<Thread, StoreError>;

    /// Deletes the thread and, in the same transaction, all its messages.
    ///
    /// Errors: `NotFound` (missing or another user's).
    async fn delete_thread(&self, user: &UserId, id: ThreadId) -> Result<(), StoreError>;

    /// Creates `fork` (a new thread of `user`, stored with the given id, title, metadata
    /// and timestamps) holding copies of the path from the root to `message` of the user's
    /// thread `source`, in one transaction. Copies get new ids and keep role, content,
    /// parts, status, sources, metadata and `created_at` (not feedback); each copy's parent is the previous copy. The
    /// stored fork's `message_count`, `last_message_at` and `active_leaf_id` (the last
    /// copy) follow from the copies; it is returned as stored.
    ///
    /// Errors: `NotFound` (source missing or another user's), `UnknownMessage` (`message`
    /// is not in it), `AlreadyExists` (a thread with the fork's id exists for any user).
    async fn fork_thread(
        &self,
        user: &UserId,
        source: ThreadId,
        message: MessageId,
        fork: &Thread,
    ) -> Result<Thread, StoreError>;

    /// Stores an imported thread exactly as given with its messages (each `parent_id`
    /// `None` or an earlier one of them; `thread.message_count`, `last_message_at` and
    /// `active_leaf_id` already agree with them), all in one transaction; returns `true`.
    /// When the thread's user already has a thread with this id (an earlier import),
    /// nothing is written and it returns `false`.
    ///
    /// Errors: `AlreadyExists` when the thread's id is another user's, or one of the
    /// message ids exists anywhere. Nothing is written on error.
    async fn import_thread(
        &self,
        thread: &Thread,
        messages: &[Message],
    ) -> Result<bool, StoreError>;

    /// Deletes all of the user's threads and messages (expired ones too); returns how
    /// many went.
    async fn delete_all_threads(&self, user: &UserId) -> Result<Purged, StoreError>;

    /// Deletes at most `limit` threads of any user that `rule` selects, each with its
    /// messages, in one short transaction; returns how many went. Safe to run from several
    /// processes at once: a thread another process is deleting is skipped, not waited for.
    async fn purge_threads(&self, rule: PurgeRule, limit: u64) -> Result<Purged, StoreError>;

    /// How many threads (and messages of theirs) `rule` selects now, deleting nothing.
    async fn count_purgeable(&self, rule: PurgeRule) -> Result<Purged, StoreError>;

    /// Whether the store answers at all (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Storage of messages.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Appends the messages, in the given order, to the user's thread, all or none, and in
    /// the same transaction adds their count to the thread's `message_count`, sets its
    /// `last_message_at` to the last one's `created_at`, its `updated_at` to `now`, its
    /// `active_leaf_id` to the last message, and grows its version. The adapter MAY move
    /// `created_at` forward (keeping the given spacing) so that the new messages sort after
    /// every message already in the thread (so a child always sorts after its parent); it
    /// returns the messages as stored.
    ///
    /// The first message's parent is `first_parent`: [`ParentChoice::Omitted`] means the
    /// thread's active leaf as it is when the write takes the thread's lock (`None` for an
    /// empty thread), so that concurrent appends without a parent form a chain. Every other
    /// message's `parent_id` is as given: `None`, an earlier message of this batch, or a
    /// message of the thread. Every named parent MUST exist in the user's thread when the
    /// write commits.
    ///
    /// Errors: `NotFound` (thread missing or another user's), `UnknownMessage` (a named
    /// parent is not in the thread), `AlreadyExists` (any of the ids exists anywhere).
    /// Nothing is written on error.
    async fn append_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        first_parent: ParentChoice,
        messages: Vec<Message>,
        now: Timestamp,
    ) -> Result<Vec<Message>, StoreError>;

    /// The message with this id in the user's thread.
    ///
    /// Errors: `NotFound` (missing, in another thread, or another user's).
    async fn get_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<Message, StoreError>;

    /// Those of `ids` that exist in the user's thread, in any order. Missing ids are left
    /// out, never an error.
    async fn find_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        ids: Vec<MessageId>,
    ) -> Result<Vec<Message>, StoreError>;

    /// The thread's messages ordered by `(created_at, id)` in `query.order`, strictly after
    /// `query.after` when given, at most `query.limit` of them.
    ///
    /// Errors: `NotFound` when the thread is missing or another user's (an empty thread
    /// gives an empty list).
    async fn list_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        query: MessageListQuery,
    ) -> Result<Vec<Message>, StoreError>;

    /// One page of a path of the user's thread, each message with its sibling ids; see
    /// [`PathQuery`] for how the path's end is resolved. A path is a chain of parent links
    /// from a root down to its end; its messages come in `(created_at, id)` order (which
    /// is root to end, since a child always sorts after its parent), in `query.order`,
    /// strictly after `query.after`, at most `query.limit`.
    ///
    /// The adapter MUST NOT read the whole tree to serve a page: the cost of a page may
    /// grow with the page and with the number of branch points on the path, not with the
    /// number of messages in the thread.
    ///
    /// Errors: `NotFound` (thread missing or another user's), `UnknownMessage` (the message
    /// of [`crate::PathTarget::Through`] is not in the thread).
    async fn list_path(
        &self,
        user: &UserId,
        thread: ThreadId,
        query: PathQuery,
    ) -> Result<PathPage, StoreError>;

    /// Applies the patch to the message (parts that [`crate::MessageParts::is_derived`]
    /// MAY be stored as "derived from the content" and rebuilt from it when read), sets
    /// its `updated_at = now` and grows its version;
    /// in the same transaction sets the thread's `updated_at = now` and grows the thread's
    /// version. `expected` works as in [`ThreadRepository::update_thread`].
    ///
    /// Errors: `NotFound`, `VersionMismatch`.
    async fn update_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        patch: MessagePatch,
        expected: Option<Vec<Version>>,
        now: Timestamp,
    ) -> Result<Message, StoreError>;

    /// Sets (`Some`) or removes (`None`) the user's feedback on the message and grows the
    /// message's version (its representation changed), without moving its `updated_at`
    /// or touching its thread. Returns the message as stored.
    ///
    /// Errors: `NotFound`.
    async fn set_feedback(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        feedback: Option<Feedback>,
        now: Timestamp,
    ) -> Result<Message, StoreError>;

    /// Deletes the message (with [`DeleteScope::Message`] its children take its parent as
    /// theirs; with [`DeleteScope::Subtree`] every message below it goes too) and, in the
    /// same transaction, recomputes the thread's `message_count` and `last_message_at`
    /// (`None` when it becomes empty), moves its `active_leaf_id` to the deleted message's
    /// parent when the active leaf was deleted, sets its `updated_at = now` and grows its
    /// version.
    ///
    /// Errors: `NotFound`.
    async fn delete_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        scope: DeleteScope,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Full-text search over messages.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SearchRepository: Send + Sync {
    /// The messages of the user's threads that match `request.query`, ordered by
    /// `(rank desc, created_at desc, id desc)` (best match first, then newest first),
    /// strictly after `request.after` in that order when given, at most `request.limit`.
    ///
    /// A message matches when, for every group of the query, its content contains at least
    /// one of the group's items, and it contains none of the excluded items. An item
    /// matches where its words (as the adapter's tokenizer splits the item's text) appear
    /// next to each other in this order; case and diacritics are ignored.
    ///
    /// The adapter MUST:
    /// - search only messages whose thread's `user_id` is `user` (in the query itself);
    /// - compute `rank` from the message's content and the query alone, never from other
    ///   rows (no corpus statistics), so a hit keeps its position while other messages
    ///   come and go and keyset pages neither repeat nor skip hits; and use the very value
    ///   it returns in `rank` for ordering and for the comparison with `request.after`;
    /// - set `owner` to the thread's stored `user_id` and `thread_title` to its title;
    /// - return in `snippet` an excerpt of the content with each match wrapped in
    ///   [`SearchHit::MATCH_START`] and [`SearchHit::MATCH_END`], after replacing those
    ///   two characters in the content itself by `[` and `]`, so that every marker in a
    ///   snippet is one the adapter put there;
    /// - pass the items' text to the database only as bound values, and quote them for the
    ///   engine's own query syntax, so no input can change the statement or fail it.
    ///
    /// Errors: `Unavailable`/`Unexpected` only. A query in which the engine finds no word
    /// gives an empty list, never an error.
    async fn search_messages(
        &self,
        user: &UserId,
        request: SearchRequest,
    ) -> Result<Vec<SearchHit>, StoreError>;
}

/// The feed of events: every change of a user's threads and messages, recorded by the
/// adapter in the transaction of the write itself (so an event exists exactly when its
/// write committed), numbered per user in commit order without gaps ([`EventId`]), and
/// kept for a while for replay.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// The user's newest event, [`EventId::START`] when the user has none.
    async fn newest_event(&self, user: &UserId) -> Result<EventId, StoreError>;

    /// Whether the user's event `id` is still kept and was recorded less than `retention`
    /// ago by the database's clock.
    async fn is_retained(
        &self,
        user: &UserId,
        id: EventId,
        retention: Duration,
    ) -> Result<bool, StoreError>;

    /// For each `(user, after)` of `cursors`, in the same order: the user's first events
    /// after `after`, oldest first, at most `limit` of them (a caller that gets `limit`
    /// asks again after the last one).
    async fn events_after(
        &self,
        cursors: Vec<(UserId, EventId)>,
        limit: u64,
    ) -> Result<Vec<Vec<Event>>, StoreError>;

    /// Deletes at most `limit` events recorded more than `age` ago (by the database's
    /// clock); returns how many went. Safe to run from several processes at once.
    async fn delete_older_than(&self, age: Duration, limit: u64) -> Result<u64, StoreError>;
}
