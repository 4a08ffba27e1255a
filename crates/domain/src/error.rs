use std::error::Error as StdError;

/// Which kind of resource an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A chat thread.
    Thread,
    /// A message inside a thread.
    Message,
}

/// What went wrong in a use case, in domain terms.
///
/// Inbound adapters map each variant to one answer (the HTTP adapter: one status and one
/// stable problem `code` per variant); none of them carries backend details.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The resource does not exist, or exists but belongs to another user. The two cases are
    /// deliberately indistinguishable.
    #[error("{0:?} not found")]
    NotFound(Resource),
    /// A value broke a rule; `field` names the offending field as clients spell it.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, e.g. `title` or `messages[2].content`.
        field: String,
        /// A human-readable reason, safe to show to the caller.
        reason: String,
    },
    /// A body named a message that is not in this thread (or is another user's, which
    /// answers the same); `field` names where, e.g. `parent_id` or `messages[1].parent_id`.
    #[error("{field} names no message of this thread")]
    UnknownMessage {
        /// The field, as clients spell it.
        field: String,
    },
    /// The client id is already used by this user for a resource whose content differs
    /// from the request (an idempotent retry must repeat the same body).
    #[error("the id is already used with a different body")]
    IdempotencyConflict,
    /// The client id is already taken elsewhere (by another user, or in another thread).
    /// Nothing else is revealed.
    #[error("the id is already taken")]
    IdConflict,
    /// A `PUT` of an existing message asked for another `role` or another parent than the
    /// stored ones: those never change once a message exists.
    #[error("the message exists with another role or parent")]
    MessageConflict,
    /// An `If-Match` precondition did not hold: the resource changed since it was read.
    #[error("the resource has changed")]
    PreconditionFailed,
    /// A pagination cursor was garbage, tampered with, or belongs to another list.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The store cannot be reached right now; retrying later may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Anything else: a bug or a broken invariant. Carries its cause for the logs only.
    #[error("unexpected error")]
    Unexpected(#[source] Box<dyn StdError + Send + Sync>),
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Prefixes the field of an [`DomainError::Invalid`] error (`content` becomes
    /// `messages[2].content`); other variants are returned unchanged.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::Invalid {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }
}

/// Errors that a storage adapter returns through the ports.
///
/// Adapters translate their backend errors into these at their boundary; no driver or ORM
/// error type crosses a port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row matched (including rows that exist but belong to another user).
    #[error("not found")]
    NotFound,
    /// A row with the same primary key already exists (for any user).
    #[error("already exists")]
    AlreadyExists,
    /// A message that the operation names (a parent, an active leaf, the message a path
    /// goes through, the message a fork copies up to) is not in the user's thread.
    #[error("unknown message {0}")]
    UnknownMessage(crate::MessageId),
    /// The row exists for this user but its version did not match the expected one.
    #[error("version mismatch")]
    VersionMismatch,
    /// The database cannot be reached, or timed out handing out a connection.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Any other failure, including a row that fails domain validation when read back.
    #[error("unexpected storage error")]
    Unexpected(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps any error as [`StoreError::Unexpected`].
    pub fn unexpected(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(err))
    }
}

impl From<StoreError> for DomainError {
    /// The default translation; services handle `NotFound`, `AlreadyExists` and
    /// `VersionMismatch` themselves where the resource kind or the use case matters.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound(Resource::Thread),
            StoreError::UnknownMessage(_) => Self::NotFound(Resource::Message),
            StoreError::AlreadyExists => Self::IdConflict,
            StoreError::VersionMismatch => Self::PreconditionFailed,
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}
