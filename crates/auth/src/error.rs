/// Why a credential was not accepted. The reasons are for logs; clients only learn that
/// they are unauthenticated (401) or that verification could not be done now (503).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented.
    #[error("no credentials")]
    Missing,
    /// The credential is malformed, forged, for someone else, or not accepted here.
    #[error("invalid credentials: {0}")]
    Invalid(&'static str),
    /// The credential was valid once but has expired.
    #[error("expired credentials")]
    Expired,
    /// Verification needs a dependency (session database, JWKS endpoint) that cannot be
    /// reached right now.
    #[error("authentication backend unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}
