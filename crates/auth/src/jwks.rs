//! The JSON Web Key Set of the JWT issuer (Better Auth's `jwt` plugin serves it at
//! `<baseURL>/api/auth/jwks`, without cache headers): fetched on first use, kept in memory,
//! and fetched again when a token names a key id it does not hold, at most once per
//! refetch interval, or when it is older than its maximum age. One fetch runs at a time;
//! requests arriving meanwhile wait for it and reuse its result instead of fetching too.

use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::AuthError;

/// Largest JWKS body accepted, in bytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// After a failed fetch, how long before the next attempt (unless the refetch interval
/// is shorter).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// One usable public key of the set.
#[derive(Debug)]
pub(crate) struct JwksKey {
    pub(crate) kid: Option<String>,
    /// The only algorithm this key verifies: the one it declares (or, when it declares
    /// none, the one its key type implies).
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

#[derive(Debug)]
struct KeySet {
    keys: Vec<Arc<JwksKey>>,
    fetched_at: Instant,
}

#[derive(Debug, Default)]
struct Attempts {
    /// When the last fetch started, and whether it succeeded.
    last: Option<(Instant, bool)>,
}

/// Why the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwksError {
    #[error("fetching the JWKS failed")]
    Fetch(#[source] reqwest::Error),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON key set")]
    NotAKeySet(#[source] serde_json::Error),
    #[error("the last JWKS fetch failed and the next one is not due yet")]
    CoolingDown,
}

/// The cached key set of one JWKS URL.
#[derive(Debug)]
pub(crate) struct JwksCache {
    url: String,
    client: reqwest::Client,
    refetch_interval: Duration,
    max_age: Duration,
    keys: RwLock<Option<Arc<KeySet>>>,
    fetching: tokio::sync::Mutex<Attempts>,
}

impl JwksCache {
    pub(crate) fn new(
        url: String,
        client: reqwest::Client,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            url,
            client,
            refetch_interval,
            max_age,
            keys: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(Attempts::default()),
        }
    }

    /// The keys that may verify a token with this `kid` (all keys when the token names
    /// none), fetching the set when it is missing, stale, or lacks the kid and a refetch
    /// is due. An empty list means no key matches.
    ///
    /// Errors: [`AuthError::Unavailable`] when the set is needed, cannot be fetched, and no
    /// cached key matches.
    pub(crate) async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<Arc<JwksKey>>, AuthError> {
        let mut held = None;
        if let Some(set) = self.snapshot() {
            let found = matching(&set, kid);
            if !found.is_empty() {
                if !self.is_stale(&set) {
                    return Ok(found);
                }
                // Stale: refresh it, unless another request is already doing so; then
                // keep using the stale keys rather than queueing behind that fetch.
                match self.fetching.try_lock() {
                    Ok(guard) => held = Some(guard),
                    Err(_) => return Ok(found),
                }
            }
        }

        let mut attempts = match held {
            Some(guard) => guard,
            None => self.fetching.lock().await,
        };
        // Another request may have fetched while this one waited for the lock.
        let cached = self.snapshot();
        let found = cached
            .as_ref()
            .map(|set| matching(set, kid))
            .unwrap_or_default();
        let fresh = cached.as_ref().is_some_and(|set| !self.is_stale(set));
        if fresh && !found.is_empty() {
            return Ok(found);
        }
        if !self.fetch_due(&attempts) {
            // Rate limited: answer from what is cached (an unknown kid stays unknown),
            // unless nothing matches because the last fetch failed.
            let last_failed = matches!(attempts.last, Some((_, false)));
            return if found.is_empty() && (last_failed || cached.is_none()) {
                Err(AuthError::Unavailable(Box::new(JwksError::CoolingDown)))
            } else {
                Ok(found)
            };
        }

        let started = Instant::now();
        match self.fetch().await {
            Ok(keys) => {
                attempts.last = Some((started, true));
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: started,
                });
                let found = matching(&set, kid);
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(set);
                Ok(found)
            }
            Err(error) => {
                attempts.last = Some((started, false));
                tracing::warn!(url = %self.url, error = %error, "JWKS fetch failed");
                if found.is_empty() {
                    Err(AuthError::Unavailable(Box::new(error)))
                } else {
                    // Keep verifying with the keys we have rather than failing everyone.
                    Ok(found)
                }
            }
        }
    }

    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn is_stale(&self, set: &KeySet) -> bool {
        set.fetched_at.elapsed() >= self.max_age
    }

    /// Whether the rate limit allows a fetch now.
    fn fetch_due(&self, attempts: &Attempts) -> bool {
        match attempts.last {
            None => true,
            Some((at, true)) => at.elapsed() >= self.refetch_interval,
            Some((at, false)) => at.elapsed() >= self.refetch_interval.min(RETRY_AFTER_FAILURE),
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<JwksKey>>, JwksError> {
        let mut response = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(JwksError::Fetch)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(JwksError::Fetch)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_key_set(&body)
    }
}

/// The usable keys of a JWKS document. Keys that cannot verify signatures here
/// (symmetric, encryption-only, unsupported curves or algorithms) are skipped.
pub(crate) fn parse_key_set(body: &[u8]) -> Result<Vec<Arc<JwksKey>>, JwksError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body).map_err(JwksError::NotAKeySet)?;
    let keys: Vec<_> = raw
        .keys
        .into_iter()
        .filter_map(|value| {
            let jwk: Jwk = serde_json::from_value(value).ok()?;
            let algorithm = usable_algorithm(&jwk)?;
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Arc::new(JwksKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            }))
        })
        .collect();
    if keys.is_empty() {
        tracing::warn!("the JWKS holds no usable signature key");
    }
    Ok(keys)
}

/// The one algorithm a JWK may verify, or `None` when it must not be used: symmetric keys
/// never (a JWKS is public), encryption keys never, and a declared algorithm only when it
/// fits the key type (no algorithm confusion).
fn usable_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let fitting: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        _ => return None,
    };
    match jwk.common.key_algorithm {
        Some(declared) => {
            let declared = Algorithm::from_str(&declared.to_string()).ok()?;
            fitting.contains(&declared).then_some(declared)
        }
        // Undeclared: the key type's first algorithm (RS256 for RSA, the usual default).
        None => fitting.first().copied(),
    }
}

fn matching(set: &KeySet, kid: Option<&str>) -> Vec<Arc<JwksKey>> {
    set.keys
        .iter()
        .filter(|key| kid.is_none() || key.kid.as_deref() == kid)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_better_auth_key_set_yields_its_eddsa_key() {
        let body = include_bytes!("../testdata/better-auth-1.7.25/jwks.json");
        let keys = parse_key_set(body).expect("a key set");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].algorithm, Algorithm::EdDSA);
        assert_eq!(
            keys[0].kid.as_deref(),
            Some("OgLeeW9PgmSZYSWkbnNEavJI8bgMsVhU")
        );
    }

    #[test]
    fn symmetric_encryption_and_mismatched_keys_are_skipped() {
        let x = include_str!("../testdata/ed25519-public.x");
        let body = format!(
            r#"{{"keys":[
                {{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"hmac"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"HS256","kid":"confused"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"EdDSA","use":"enc","kid":"enc"}},
                {{"kty":"OKP","crv":"X25519","x":"{x}","kid":"x25519"}},
                {{"kty":"EC","crv":"P-521","x":"AA","y":"AA","alg":"ES512","kid":"p521"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"RS256","kid":"wrong-family"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"ES512","kid":"unknown-alg"}},
                {{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"implied"}},
                "not a key"
            ]}}"#
        );
        let keys = parse_key_set(body.as_bytes()).expect("a key set");
        let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, ["implied"]);
        assert_eq!(keys[0].algorithm, Algorithm::EdDSA);
    }

    #[test]
    fn a_body_that_is_not_a_key_set_is_an_error() {
        for body in ["", "[]", r#"{"keys":{}}"#, "<html>"] {
            assert!(parse_key_set(body.as_bytes()).is_err(), "{body:?}");
        }
    }
}
