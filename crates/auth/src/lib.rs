//! Authentication for chat-history: turns the credential a request carries into a
//! [`Principal`] (a Better Auth user id and how it was proven).
//!
//! Supported now: JWTs signed with a static HS256 secret (`JWT_HS256_SECRET`, and the
//! development secret the binary creates on first run).
//!
//! Architecture invariant: depends on the domain crate, never on the web framework or the
//! database adapter. jsonwebtoken does not leave this crate.

mod error;
mod jwt;
mod secret;

pub use error::AuthError;
pub use jwt::{JwtVerifier, mint_hs256};
pub use secret::Secret;

use domain::Principal;

/// A credential as it arrived with a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The token of `Authorization: Bearer <token>`.
    Bearer(String),
    /// The value of a Better Auth session cookie.
    SessionCookie(String),
}

impl std::fmt::Debug for Credential {
    /// Never prints the token itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::SessionCookie(_) => f.write_str("SessionCookie(<redacted>)"),
        }
    }
}

/// Everything the authenticator accepts, built once at start.
#[derive(Debug, Default, Clone)]
pub struct AuthConfig {
    /// Accept HS256 JWTs signed with this secret (and only HS256).
    pub hs256_secret: Option<Secret>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
}

/// Verifies credentials. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// Builds the verifiers that the configuration enables.
    pub fn new(config: AuthConfig) -> Self {
        let jwt = config.hs256_secret.map(|secret| {
            JwtVerifier::hs256(&secret, config.issuer.clone(), config.audience.clone())
        });
        Self { jwt }
    }

    /// Whether any credential can be accepted at all.
    pub fn is_enabled(&self) -> bool {
        self.jwt.is_some()
    }

    /// The principal a credential proves, or why it proves nothing.
    pub async fn authenticate(&self, credential: &Credential) -> Result<Principal, AuthError> {
        match credential {
            Credential::Bearer(token) => match &self.jwt {
                Some(verifier) => verifier.verify(token),
                None => Err(AuthError::Invalid("no bearer verifier is configured")),
            },
            Credential::SessionCookie(_) => Err(AuthError::Invalid(
                "session cookies are not accepted by this configuration",
            )),
        }
    }
}
