//! The errors of this crate: [`AuthError`] per request, [`AuthConfigError`] at start.

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

/// A configuration that cannot work; the binary stops with this message at start. Each
/// message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// `JWT_PUBLIC_KEY_FILE` does not hold a usable public key.
    #[error("JWT_PUBLIC_KEY_FILE: {0} (expected a PEM public key: RSA, EC P-256/P-384 or Ed25519)")]
    PublicKey(&'static str),
    /// The JWKS URL (`JWT_JWKS_URL`, or derived from `BETTER_AUTH_URL`) is not an
    /// http(s) URL.
    #[error("JWT_JWKS_URL / BETTER_AUTH_URL: {0:?} is not an http(s) URL")]
    Url(String),
    /// Session cookies or signed session tokens are enabled but there is nothing to look
    /// the sessions up in.
    #[error(
        "BETTER_AUTH_SECRET is set but no session store is configured (Better Auth's database: \
         a PostgreSQL DATABASE_URL, or BETTER_AUTH_DATABASE_URL)"
    )]
    NoSessionStore,
    /// A secret setting is set but empty.
    #[error("{0} is set but empty")]
    EmptySecret(&'static str),
    /// The HTTP client for the JWKS could not be built.
    #[error("cannot build the HTTP client for the JWKS")]
    HttpClient(#[source] reqwest::Error),
}
