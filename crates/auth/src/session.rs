//! Better Auth sessions: signed cookies and bearer session tokens, checked against the
//! session store (and the short-lived [`SessionCache`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{AuthMethod, Principal, SessionRecord, SessionStore, Timestamp};

use crate::AuthError;
use crate::cache::{SessionCache, digest};
use crate::signed::{SigningKey, is_plausible_token, verify_signed};

/// Verifies Better Auth sessions.
pub(crate) struct SessionVerifier {
    /// The key of `BETTER_AUTH_SECRET`; without it only raw bearer tokens are accepted.
    signing_key: Option<SigningKey>,
    store: Arc<dyn SessionStore>,
    cache: Option<SessionCache>,
    require_signed_bearer: bool,
}

impl std::fmt::Debug for SessionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionVerifier")
            .field("signed", &self.signing_key.is_some())
            .field("cache", &self.cache)
            .field("require_signed_bearer", &self.require_signed_bearer)
            .finish_non_exhaustive()
    }
}

impl SessionVerifier {
    pub(crate) fn new(
        signing_key: Option<SigningKey>,
        store: Arc<dyn SessionStore>,
        cache_ttl: Duration,
        cache_capacity: usize,
        require_signed_bearer: bool,
    ) -> Self {
        let cache = (!cache_ttl.is_zero()).then(|| SessionCache::new(cache_ttl, cache_capacity));
        Self {
            signing_key,
            store,
            cache,
            require_signed_bearer,
        }
    }

    /// A session cookie's value: always signed, maybe URL-encoded.
    pub(crate) async fn verify_cookie(&self, value: &str) -> Result<Principal, AuthError> {
        let key = self.signing_key.as_ref().ok_or(AuthError::Invalid(
            "session cookies are not accepted by this configuration",
        ))?;
        let token = verify_signed(value, key)?;
        self.lookup(&token).await
    }

    /// A bearer value that is not a JWT: `token.signature` as the `bearer` plugin hands it
    /// out (maybe URL-encoded), or the raw token unless signatures are required.
    pub(crate) async fn verify_bearer(&self, value: &str) -> Result<Principal, AuthError> {
        if value.contains('.') || value.contains('%') {
            let key = self.signing_key.as_ref().ok_or(AuthError::Invalid(
                "signed session tokens are not accepted by this configuration",
            ))?;
            let token = verify_signed(value, key)?;
            return self.lookup(&token).await;
        }
        if self.require_signed_bearer {
            return Err(AuthError::Invalid(
                "unsigned session tokens are not accepted",
            ));
        }
        if !is_plausible_token(value) {
            return Err(AuthError::Invalid("malformed session token"));
        }
        self.lookup(value).await
    }

    /// The principal of a valid session, from the cache or the store.
    async fn lookup(&self, token: &str) -> Result<Principal, AuthError> {
        let now = Timestamp::now();
        let key = digest(token);
        if let Some(cache) = &self.cache
            && let Some(record) = cache.get(&key, Instant::now(), now)
        {
            return Ok(principal(record));
        }
        let record = self
            .store
            .find_session(token)
            .await
            .map_err(|e| AuthError::Unavailable(Box::new(e)))?
            .ok_or(AuthError::Invalid("unknown session"))?;
        if record.expires_at <= now {
            return Err(AuthError::Expired);
        }
        if let Some(cache) = &self.cache {
            cache.insert(key, record.clone(), Instant::now());
        }
        Ok(principal(record))
    }
}

fn principal(record: SessionRecord) -> Principal {
    Principal {
        user_id: record.user_id,
        method: AuthMethod::Session,
    }
}
