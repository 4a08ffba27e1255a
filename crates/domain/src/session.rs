use crate::UserId;

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
