use crate::{MessageId, Metadata, StreamId, ThreadId, ThreadTitle, Timestamp, UserId, Version};

/// A conversation owned by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    /// The thread's id.
    pub id: ThreadId,
    /// The owner. Every query is scoped by it.
    pub user_id: UserId,
    /// The title, `""` by default.
    pub title: ThreadTitle,
    /// Client data, `{}` by default.
    pub metadata: Metadata,
    /// When the thread was archived, if it is.
    pub archived_at: Option<Timestamp>,
    /// When the thread was pinned, if it is.
    pub pinned_at: Option<Timestamp>,
    /// How many messages the thread holds.
    pub message_count: i64,
    /// `created_at` of the newest message, `None` when the thread is empty.
    pub last_message_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change of the thread or of any of its messages.
    pub updated_at: Timestamp,
    /// Grows on every change; the basis of the `ETag`.
    pub version: Version,
    /// The message the user is looking at: its path from the root is the conversation.
    /// `None` for an empty thread, or after the user chose "the newest root".
    pub active_leaf_id: Option<MessageId>,
    /// The id of the reply stream in flight, where an app keeps it for resumable streams.
    pub active_stream_id: Option<StreamId>,
    /// When the thread expires (a temporary chat): from that moment every port treats it
    /// as missing, and the sweeper deletes it. `None`: it stays until deleted.
    pub expires_at: Option<Timestamp>,
}

impl Thread {
    /// Whether the thread is archived.
    pub fn archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// Whether the thread is pinned.
    pub fn pinned(&self) -> bool {
        self.pinned_at.is_some()
    }

    /// Whether the thread has expired at `now` (it is gone from then on).
    pub fn expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What a client asks for when creating a thread, already validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewThread {
    /// The client's own id, for idempotent retries; generated when `None`.
    pub id: Option<ThreadId>,
    /// The title (`""` when the client sent none).
    pub title: ThreadTitle,
    /// Client data (`{}` when the client sent none).
    pub metadata: Metadata,
    /// When the thread expires (a temporary chat); must be in the future.
    pub expires_at: Option<Timestamp>,
}

/// A partial update: each `Some` field replaces the stored one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThreadPatch {
    /// New title.
    pub title: Option<ThreadTitle>,
    /// New metadata, replacing the whole object.
    pub metadata: Option<Metadata>,
    /// Archive (`true`) or unarchive (`false`). Archiving an archived thread keeps its
    /// original `archived_at`.
    pub archived: Option<bool>,
    /// Pin (`true`) or unpin (`false`). Pinning a pinned thread keeps its `pinned_at`.
    pub pinned: Option<bool>,
    /// Switch the active leaf: `Some(Some(id))` to a message of the thread (exactly, no
    /// descent), `Some(None)` to "the path through the newest root".
    pub active_leaf: Option<Option<MessageId>>,
    /// Set (`Some(Some(id))`) or clear (`Some(None)`) the id of the reply stream in flight.
    pub active_stream: Option<Option<StreamId>>,
    /// Set (`Some(Some(at))`, a time in the future) or clear (`Some(None)`) the expiry.
    pub expires_at: Option<Option<Timestamp>>,
}

impl ThreadPatch {
    /// True when the patch names no field.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.metadata.is_none()
            && self.archived.is_none()
            && self.pinned.is_none()
            && self.active_leaf.is_none()
            && self.active_stream.is_none()
            && self.expires_at.is_none()
    }

    /// True unless the patch only switches the active leaf or sets the active stream id.
    /// Any other patch (an empty one included, which still counts as a write) moves
    /// `updated_at`; those two alone do not, so the thread keeps its place in the list.
    pub fn bumps_updated_at(&self) -> bool {
        (self.active_leaf.is_none() && self.active_stream.is_none())
            || self.title.is_some()
            || self.metadata.is_some()
            || self.archived.is_some()
            || self.pinned.is_some()
            || self.expires_at.is_some()
    }
}

/// A request to fork a thread at a message, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFork {
    /// The message whose path from the root is copied.
    pub message_id: MessageId,
    /// The client's own id for the new thread, for idempotent retries.
    pub id: Option<ThreadId>,
    /// The new thread's title; the source's when `None`.
    pub title: Option<ThreadTitle>,
}

/// Which threads a list shows by archive state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchivedFilter {
    /// Only threads that are not archived (the default).
    #[default]
    Active,
    /// Only archived threads.
    Archived,
    /// Both.
    All,
}

impl ArchivedFilter {
    /// The query-string spelling: `false`, `true`, `all`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "false",
            Self::Archived => "true",
            Self::All => "all",
        }
    }
}

/// Filters of a thread list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadFilter {
    /// Archive state.
    pub archived: ArchivedFilter,
    /// `Some(true)`: only pinned; `Some(false)`: only unpinned; `None`: both.
    pub pinned: Option<bool>,
}
