//! Authentication for chat-history: turns the credential a request carries into a
//! [`Principal`] (a Better Auth user id and how it was proven).
//!
//! Accepted, each only when configured (see [`AuthConfig`]):
//! - JWTs (`Authorization: Bearer <jwt>`): from Better Auth's `jwt` plugin, verified with
//!   the keys of its JWKS (cached, refetched on an unknown `kid` at a bounded rate); or
//!   signed with a static HS256 secret or a static PEM public key.
//! - Better Auth sessions: the signed session cookie (`better-auth.session_token` or
//!   `__Secure-better-auth.session_token`), whose HMAC signature is checked with the
//!   Better Auth secret before any lookup, and the session token the `bearer` plugin hands
//!   out (signed, or raw unless [`AuthConfig::require_signed_bearer`]). Sessions are looked
//!   up through the [`SessionStore`] port and must exist and not have expired; verified
//!   sessions may be reused for [`AuthConfig::session_cache_ttl`].
//!
//! Architecture invariant: depends on the domain crate, never on the web framework or the
//! database adapter. jsonwebtoken does not leave this crate. Tokens and cookies are never
//! logged.

mod cache;
mod cookie;
mod error;
mod jwks;
mod jwt;
mod secret;
mod session;
mod signed;

use std::sync::Arc;
use std::time::Duration;

pub use cookie::{DEFAULT_SESSION_COOKIE_NAMES, session_cookie_from_header};
pub use error::{AuthConfigError, AuthError};
pub use jwt::{LEEWAY_SECS, mint_hs256};
pub use secret::Secret;

use domain::{Principal, SessionStore};

use crate::jwks::JwksCache;
use crate::jwt::{JwtVerifier, StaticKey, looks_like_jwt};
use crate::session::SessionVerifier;
use crate::signed::SigningKey;

/// How long a verified session is reused without a lookup unless configured otherwise.
/// A session revoked by sign-out may keep working here for up to this long.
pub const DEFAULT_SESSION_CACHE_TTL: Duration = Duration::from_secs(5);

/// How many verified sessions the cache holds at most unless configured otherwise.
pub const DEFAULT_SESSION_CACHE_CAPACITY: usize = 10_000;

/// The shortest time between two JWKS fetches caused by unknown key ids.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// How long a fetched JWKS is used before it is fetched again (so that removed keys stop
/// verifying even when no unknown key id shows up).
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// Timeout of one JWKS request (connecting included).
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// A credential as it arrived with a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The token of `Authorization: Bearer <token>`: a JWT, or a Better Auth session token
    /// (signed `token.signature` or raw).
    Bearer(String),
    /// The value of a Better Auth session cookie, as sent (URL-encoded or not).
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

/// Everything the authenticator accepts, built once at start. Start from
/// [`AuthConfig::default`] (nothing accepted) and set what the deployment uses.
#[derive(Clone)]
pub struct AuthConfig {
    /// Accept HS256 JWTs signed with this secret (and only HS256). `JWT_HS256_SECRET`.
    pub hs256_secret: Option<Secret>,
    /// Accept JWTs signed by this PEM public key (Ed25519 → EdDSA, EC → ES256/ES384,
    /// RSA → RS*/PS*): the bytes of `JWT_PUBLIC_KEY_FILE`.
    pub public_key_pem: Option<Vec<u8>>,
    /// Accept JWTs signed by the keys of this JWKS (`JWT_JWKS_URL`, or
    /// `$BETTER_AUTH_URL/api/auth/jwks`, see [`better_auth_endpoints`]).
    pub jwks_url: Option<String>,
    /// Required `iss` of every JWT, when set (`JWT_ISSUER`, default the origin of
    /// `BETTER_AUTH_URL`).
    pub issuer: Option<String>,
    /// Required `aud` of every JWT, when set (`JWT_AUDIENCE`, default the origin of
    /// `BETTER_AUTH_URL`).
    pub audience: Option<String>,
    /// Better Auth's secret (`BETTER_AUTH_SECRET`): enables session cookies and signed
    /// bearer session tokens. Requires [`AuthConfig::session_store`].
    pub better_auth_secret: Option<Secret>,
    /// Where Better Auth's sessions are looked up; enables session credentials.
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// How long a verified session is reused without a lookup (`SESSION_CACHE_TTL_SECS`);
    /// zero disables the cache. This is also how long a signed-out session may still be
    /// accepted.
    pub session_cache_ttl: Duration,
    /// At most this many sessions are cached.
    pub session_cache_capacity: usize,
    /// Refuse raw (unsigned) session tokens in `Authorization: Bearer`, as Better Auth's
    /// `bearer({ requireSignature: true })` does. Default false, as in Better Auth.
    pub require_signed_bearer: bool,
    /// The session cookie names to look for, in order of preference (Better Auth's
    /// defaults: [`DEFAULT_SESSION_COOKIE_NAMES`]; change them if its `cookiePrefix` or
    /// cookie names are customised).
    pub session_cookie_names: Vec<String>,
    /// The shortest time between JWKS fetches triggered by unknown key ids.
    pub jwks_refetch_interval: Duration,
    /// The age after which the cached JWKS is fetched again on use.
    pub jwks_max_age: Duration,
    /// Timeout of one JWKS request.
    pub jwks_timeout: Duration,
}

impl Default for AuthConfig {
    /// Nothing is accepted; Better Auth's cookie names and the documented defaults.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            public_key_pem: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            better_auth_secret: None,
            session_store: None,
            session_cache_ttl: DEFAULT_SESSION_CACHE_TTL,
            session_cache_capacity: DEFAULT_SESSION_CACHE_CAPACITY,
            require_signed_bearer: false,
            session_cookie_names: DEFAULT_SESSION_COOKIE_NAMES
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            jwks_refetch_interval: DEFAULT_JWKS_REFETCH_INTERVAL,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            jwks_timeout: DEFAULT_JWKS_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    /// Secrets are redacted; keys and the store are only said to be present.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("hs256_secret", &self.hs256_secret)
            .field(
                "public_key_pem",
                &self.public_key_pem.as_ref().map(|_| "<set>"),
            )
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("better_auth_secret", &self.better_auth_secret)
            .field(
                "session_store",
                &self.session_store.as_ref().map(|_| "<set>"),
            )
            .field("session_cache_ttl", &self.session_cache_ttl)
            .field("session_cache_capacity", &self.session_cache_capacity)
            .field("require_signed_bearer", &self.require_signed_bearer)
            .field("session_cookie_names", &self.session_cookie_names)
            .field("jwks_refetch_interval", &self.jwks_refetch_interval)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("jwks_timeout", &self.jwks_timeout)
            .finish()
    }
}

/// What a Better Auth base URL implies for JWT verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BetterAuthEndpoints {
    /// `<base URL>/api/auth/jwks`.
    pub jwks_url: String,
    /// The `iss` and `aud` Better Auth's `jwt` plugin puts in its tokens by default: the
    /// origin of the base URL (`new URL(baseURL).origin`, so no path and no trailing
    /// slash).
    pub issuer: String,
}

/// The JWKS URL and default issuer/audience of the Better Auth installation at
/// `base_url` (`BETTER_AUTH_URL`).
///
/// ```
/// let e = auth::better_auth_endpoints("https://app.example.com/").expect("a URL");
/// assert_eq!(e.jwks_url, "https://app.example.com/api/auth/jwks");
/// assert_eq!(e.issuer, "https://app.example.com");
/// ```
pub fn better_auth_endpoints(base_url: &str) -> Result<BetterAuthEndpoints, AuthConfigError> {
    let url = http_url(base_url)?;
    Ok(BetterAuthEndpoints {
        jwks_url: format!("{}/api/auth/jwks", base_url.trim_end_matches('/')),
        issuer: url.origin().ascii_serialization(),
    })
}

fn http_url(input: &str) -> Result<reqwest::Url, AuthConfigError> {
    reqwest::Url::parse(input)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| AuthConfigError::Url(input.to_owned()))
}

/// Verifies credentials. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    sessions: Option<SessionVerifier>,
    session_cookie_names: Vec<String>,
}

impl Authenticator {
    /// Builds the verifiers that the configuration enables. Performs no I/O: the JWKS is
    /// fetched on first use.
    ///
    /// Errors: a `public_key_pem` that is not a supported public key (the message names
    /// `JWT_PUBLIC_KEY_FILE`), a `jwks_url` that is not http(s), an empty secret, or a
    /// `better_auth_secret` without a `session_store`.
    pub fn new(config: AuthConfig) -> Result<Self, AuthConfigError> {
        let mut static_keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            if secret.expose().is_empty() {
                return Err(AuthConfigError::EmptySecret("JWT_HS256_SECRET"));
            }
            static_keys.push(StaticKey::hs256(secret));
        }
        if let Some(pem) = &config.public_key_pem {
            static_keys.push(StaticKey::public_pem(pem)?);
        }
        let jwks = match &config.jwks_url {
            Some(url) => {
                http_url(url)?;
                let client = reqwest::Client::builder()
                    .timeout(config.jwks_timeout)
                    .connect_timeout(config.jwks_timeout)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .map_err(AuthConfigError::HttpClient)?;
                Some(JwksCache::new(
                    url.clone(),
                    client,
                    config.jwks_refetch_interval,
                    config.jwks_max_age,
                ))
            }
            None => None,
        };
        let jwt = JwtVerifier::new(static_keys, jwks, config.issuer, config.audience);

        let signing_key = match &config.better_auth_secret {
            Some(secret) => Some(
                SigningKey::new(secret)
                    .ok_or(AuthConfigError::EmptySecret("BETTER_AUTH_SECRET"))?,
            ),
            None => None,
        };
        let sessions = match config.session_store {
            Some(store) => Some(SessionVerifier::new(
                signing_key,
                store,
                config.session_cache_ttl,
                config.session_cache_capacity,
                config.require_signed_bearer,
            )),
            None if signing_key.is_some() => return Err(AuthConfigError::NoSessionStore),
            None => None,
        };
        Ok(Self {
            jwt,
            sessions,
            session_cookie_names: config.session_cookie_names,
        })
    }

    /// Whether any credential can be accepted at all.
    pub fn is_enabled(&self) -> bool {
        self.jwt.is_some() || self.sessions.is_some()
    }

    /// The session cookie names to pass to [`session_cookie_from_header`].
    pub fn session_cookie_names(&self) -> &[String] {
        &self.session_cookie_names
    }

    /// The principal a credential proves, or why it proves nothing.
    ///
    /// Errors: [`AuthError::Invalid`] or [`AuthError::Expired`] (answer 401);
    /// [`AuthError::Unavailable`] when the session store or the JWKS cannot be reached
    /// (answer 503, the credential may be fine).
    pub async fn authenticate(&self, credential: &Credential) -> Result<Principal, AuthError> {
        match credential {
            Credential::Bearer(token) if looks_like_jwt(token.trim()) => match &self.jwt {
                Some(verifier) => verifier.verify(token.trim()).await,
                None => Err(AuthError::Invalid(
                    "JWTs are not accepted by this configuration",
                )),
            },
            Credential::Bearer(token) => match &self.sessions {
                Some(sessions) => sessions.verify_bearer(token.trim()).await,
                None => Err(AuthError::Invalid(
                    "session tokens are not accepted by this configuration",
                )),
            },
            Credential::SessionCookie(value) => match &self.sessions {
                Some(sessions) => sessions.verify_cookie(value.trim()).await,
                None => Err(AuthError::Invalid(
                    "session cookies are not accepted by this configuration",
                )),
            },
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
