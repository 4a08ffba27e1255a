//! JWT verification with jsonwebtoken: static keys (an HS256 secret, a PEM public key) and
//! the issuer's JWKS.
//!
//! Every key accepts only the algorithms that fit it: the HS256 secret only HS256, a public
//! key only its own family (EdDSA, ES256/ES384, RS*/PS*), a JWKS key only the algorithm it
//! declares. An asymmetric key is therefore never used as an HMAC secret (algorithm
//! confusion), and `alg: none` is refused before any key is tried (jsonwebtoken has no
//! such algorithm).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};

use domain::{AuthMethod, Principal, UserId};

use crate::jwks::JwksCache;
use crate::{AuthConfigError, AuthError, Secret};

/// Seconds of clock skew tolerated on `exp` (and `nbf` when present).
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// A configured key and the algorithms it accepts.
#[derive(Debug)]
pub(crate) struct StaticKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl StaticKey {
    /// The HS256 secret (`JWT_HS256_SECRET`); HS256 only.
    pub(crate) fn hs256(secret: &Secret) -> Self {
        Self {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
            algorithms: vec![Algorithm::HS256],
        }
    }

    /// A PEM public key (`JWT_PUBLIC_KEY_FILE`): SPKI `PUBLIC KEY` (Ed25519, EC or RSA) or
    /// PKCS#1 `RSA PUBLIC KEY`. Private keys and certificates are refused.
    pub(crate) fn public_pem(pem: &[u8]) -> Result<Self, AuthConfigError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| AuthConfigError::PublicKey("the file is not PEM text"))?;
        let label = text
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("-----BEGIN ")
                    .and_then(|rest| rest.strip_suffix("-----"))
            })
            .ok_or(AuthConfigError::PublicKey("no PEM block found"))?;
        if label.contains("PRIVATE") {
            return Err(AuthConfigError::PublicKey(
                "the file holds a private key; give the public key",
            ));
        }
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            return Err(AuthConfigError::PublicKey("unsupported PEM block"));
        }
        let candidates = [
            (DecodingKey::from_ed_pem(pem), &[Algorithm::EdDSA][..]),
            (
                DecodingKey::from_ec_pem(pem),
                &[Algorithm::ES256, Algorithm::ES384][..],
            ),
            (
                DecodingKey::from_rsa_pem(pem),
                &[
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ][..],
            ),
        ];
        candidates
            .into_iter()
            .find_map(|(key, algorithms)| {
                key.ok().map(|key| Self {
                    key,
                    algorithms: algorithms.to_vec(),
                })
            })
            .ok_or(AuthConfigError::PublicKey("not a supported public key"))
    }
}

/// Verifies JWTs against the configured static keys and the JWKS.
#[derive(Debug)]
pub(crate) struct JwtVerifier {
    static_keys: Vec<StaticKey>,
    jwks: Option<JwksCache>,
    issuer: Option<String>,
    audience: Option<String>,
}

/// The outcome of trying one key.
enum Attempt {
    Verified(Principal),
    /// The signature does not match this key; another key may fit.
    WrongKey,
    /// The signature matched (or the token is malformed) but the token is not acceptable.
    Rejected(AuthError),
}

impl JwtVerifier {
    pub(crate) fn new(
        static_keys: Vec<StaticKey>,
        jwks: Option<JwksCache>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Option<Self> {
        (!static_keys.is_empty() || jwks.is_some()).then_some(Self {
            static_keys,
            jwks,
            issuer,
            audience,
        })
    }

    /// The principal of a valid token.
    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Invalid("malformed token"))?;
        let alg = header.alg;
        let mut algorithm_accepted = false;
        for key in self
            .static_keys
            .iter()
            .filter(|k| k.algorithms.contains(&alg))
        {
            algorithm_accepted = true;
            match self.attempt(token, &key.key, alg) {
                Attempt::Verified(principal) => return Ok(principal),
                Attempt::Rejected(error) => return Err(error),
                Attempt::WrongKey => {}
            }
        }
        if let Some(jwks) = &self.jwks
            && is_asymmetric(alg)
        {
            let keys = jwks.keys_for(header.kid.as_deref()).await?;
            let unknown_kid = keys.is_empty() && header.kid.is_some();
            for key in keys.iter().filter(|k| k.algorithm == alg) {
                algorithm_accepted = true;
                match self.attempt(token, &key.key, alg) {
                    Attempt::Verified(principal) => return Ok(principal),
                    Attempt::Rejected(error) => return Err(error),
                    Attempt::WrongKey => {}
                }
            }
            if unknown_kid {
                return Err(AuthError::Invalid("unknown key id"));
            }
        }
        Err(if algorithm_accepted {
            AuthError::Invalid("bad signature")
        } else {
            AuthError::Invalid("algorithm not accepted")
        })
    }

    fn attempt(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Attempt {
        match decode::<Claims>(token, key, &self.validation(alg)) {
            Ok(data) => match UserId::parse(data.claims.sub) {
                Ok(user_id) => Attempt::Verified(Principal {
                    user_id,
                    method: AuthMethod::Jwt,
                }),
                Err(_) => Attempt::Rejected(AuthError::Invalid("bad subject")),
            },
            Err(e) => match e.kind() {
                // jsonwebtoken checks the signature before the claims, so these mean the
                // key did not sign the token (or does not fit it at all).
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::InvalidAlgorithm => Attempt::WrongKey,
                ErrorKind::ExpiredSignature => Attempt::Rejected(AuthError::Expired),
                ErrorKind::ImmatureSignature => {
                    Attempt::Rejected(AuthError::Invalid("token not yet valid"))
                }
                ErrorKind::InvalidIssuer => Attempt::Rejected(AuthError::Invalid("wrong issuer")),
                ErrorKind::InvalidAudience => {
                    Attempt::Rejected(AuthError::Invalid("wrong audience"))
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    Attempt::Rejected(AuthError::Invalid("missing claim"))
                }
                _ => Attempt::Rejected(AuthError::Invalid("malformed token")),
            },
        }
    }

    /// `exp` and `sub` always required; `iss`/`aud` required and checked when configured;
    /// `nbf` checked when present.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(iss) => {
                required.push("iss");
                validation.set_issuer(&[iss]);
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                required.push("aud");
                validation.set_audience(&[aud]);
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Whether a bearer value is shaped like a JWT: three non-empty base64url parts.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Mints an HS256 token for `user` valid for `ttl_secs` (the `dev-token` command and tests).
pub fn mint_hs256(secret: &Secret, user: &UserId, ttl_secs: i64) -> Result<String, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user.as_str().to_owned(),
        exp: now + ttl_secs,
        iat: Some(now),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| AuthError::Unavailable(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_apart_from_session_tokens() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("a-b_c.d.e"));
        for not_jwt in [
            "BzxIAPVQbtx9R9EbEJXjYCINzvTJwwiI",
            "BzxIAPVQbtx9R9EbEJXjYCINzvTJwwiI.BG2UrHBncLEqc9etdC40qjgbB7m2Z6N92vIR5krLNM8=",
            "a..b",
            "a.b.c.d",
            "a.b+c.d",
            "",
        ] {
            assert!(!looks_like_jwt(not_jwt), "{not_jwt:?}");
        }
    }

    #[test]
    fn a_private_key_file_is_a_config_error() {
        for pem in [
            include_bytes!("../testdata/ed25519-private.pem").as_slice(),
            include_bytes!("../testdata/rsa-private.pem").as_slice(),
        ] {
            let err = StaticKey::public_pem(pem).expect_err("refused");
            assert!(err.to_string().contains("JWT_PUBLIC_KEY_FILE"), "{err}");
            assert!(err.to_string().contains("private key"), "{err}");
        }
    }

    #[test]
    fn garbage_in_the_key_file_is_a_config_error() {
        for pem in [
            b"".as_slice(),
            b"hello".as_slice(),
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".as_slice(),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice(),
            &[0xff, 0xfe][..],
        ] {
            let err = StaticKey::public_pem(pem).expect_err("refused");
            assert!(err.to_string().contains("JWT_PUBLIC_KEY_FILE"), "{err}");
        }
    }

    #[test]
    fn each_public_key_family_gets_only_its_own_algorithms() {
        let ed = StaticKey::public_pem(include_bytes!("../testdata/ed25519-public.pem"))
            .expect("ed25519");
        assert_eq!(ed.algorithms, [Algorithm::EdDSA]);
        let ec =
            StaticKey::public_pem(include_bytes!("../testdata/ec-p256-public.pem")).expect("ec");
        assert_eq!(ec.algorithms, [Algorithm::ES256, Algorithm::ES384]);
        let rsa = StaticKey::public_pem(include_bytes!("../testdata/rsa-public.pem")).expect("rsa");
        assert!(rsa.algorithms.iter().all(|a| is_asymmetric(*a)));
        assert!(rsa.algorithms.contains(&Algorithm::RS256));
    }
}
