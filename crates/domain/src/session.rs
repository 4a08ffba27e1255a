//! Who is calling: the authenticated [`Principal`], and the [`SessionStore`] port through
//! which Better Auth sessions are looked up.

use async_trait::async_trait;

use crate::{StoreError, Timestamp, UserId};

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A signed JWT (`Authorization: Bearer <jwt>`).
    Jwt,
    /// A Better Auth session (cookie or bearer session token).
    Session,
}

impl AuthMethod {
    /// The wire spelling used by `GET /api/v1/me`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Session => "session",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The Better Auth user id.
    pub user_id: UserId,
    /// How the caller authenticated.
    pub method: AuthMethod,
}

/// A Better Auth session as its store holds it: whose it is and until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The user the session belongs to (Better Auth's `session."userId"`).
    pub user_id: UserId,
    /// When the session stops being valid (Better Auth's `session."expiresAt"`). Better
    /// Auth pushes it forward in place while the session is used.
    pub expires_at: Timestamp,
}

/// Read access to the sessions of a Better Auth installation.
///
/// Better Auth owns the sessions: an adapter only reads them and MUST NOT create, change,
/// delete or migrate anything.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session whose token is exactly `token` (the unsigned token, without the
    /// `.signature` part of a cookie).
    ///
    /// The adapter MUST return `Ok(None)` when no row has this token (never created, or
    /// deleted by sign-out), and MUST return a row whose expiry has passed as it is, with
    /// its `expires_at`: the caller checks the expiry, because Better Auth leaves expired
    /// rows behind.
    ///
    /// Errors: [`StoreError::Unavailable`] when the store cannot be reached or timed out;
    /// [`StoreError::Unexpected`] for anything else (a missing table or column, a user id
    /// that is not a valid [`UserId`]).
    async fn find_session(&self, token: &str) -> Result<Option<SessionRecord>, StoreError>;
}
