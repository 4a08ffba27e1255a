use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use domain::{AuthMethod, Principal, UserId};

use crate::{AuthError, Secret};

/// Seconds of clock skew tolerated on `exp` (and `nbf` when present).
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Verifies JWTs signed with one static key.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Accepts HS256 tokens signed with `secret`, and no other algorithm.
    pub fn hs256(secret: &Secret, issuer: Option<String>, audience: Option<String>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        let mut required = vec!["exp", "sub"];
        if issuer.is_some() {
            required.push("iss");
        }
        if audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_exp = true;
        match issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Self {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    /// The principal of a valid token.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature"),
                ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not accepted"),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer"),
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience"),
                ErrorKind::MissingRequiredClaim(_) => AuthError::Invalid("missing claim"),
                _ => AuthError::Invalid("malformed token"),
            })?;
        let user_id =
            UserId::parse(data.claims.sub).map_err(|_| AuthError::Invalid("bad subject"))?;
        Ok(Principal {
            user_id,
            method: AuthMethod::Jwt,
        })
    }
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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn secret() -> Secret {
        Secret::new("test-secret-that-is-long-enough-for-hs256")
    }

    fn alice() -> UserId {
        UserId::parse("alice").expect("valid")
    }

    #[test]
    fn a_minted_token_verifies_as_its_user() {
        let token = mint_hs256(&secret(), &alice(), 60).expect("minted");
        let principal = JwtVerifier::hs256(&secret(), None, None)
            .verify(&token)
            .expect("valid");
        assert_eq!(principal.user_id, alice());
        assert_eq!(principal.method, AuthMethod::Jwt);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let token = mint_hs256(&Secret::new("other"), &alice(), 60).expect("minted");
        let err = JwtVerifier::hs256(&secret(), None, None).verify(&token);
        assert!(matches!(err, Err(AuthError::Invalid(_))));
    }

    #[test]
    fn an_expired_token_is_rejected_beyond_the_leeway() {
        let token = mint_hs256(&secret(), &alice(), -120).expect("minted");
        let err = JwtVerifier::hs256(&secret(), None, None).verify(&token);
        assert!(matches!(err, Err(AuthError::Expired)));
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let exp = chrono::Utc::now().timestamp() + 60;
        let body = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{exp}}}"#));
        for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert!(
                JwtVerifier::hs256(&secret(), None, None)
                    .verify(&token)
                    .is_err()
            );
        }
    }

    #[test]
    fn a_token_without_exp_is_rejected() {
        #[derive(Serialize)]
        struct NoExp {
            sub: String,
        }
        let token = encode(
            &Header::new(Algorithm::HS256),
            &NoExp {
                sub: "alice".into(),
            },
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .expect("encoded");
        assert!(
            JwtVerifier::hs256(&secret(), None, None)
                .verify(&token)
                .is_err()
        );
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let token = mint_hs256(&secret(), &alice(), 60).expect("minted");
        let strict = JwtVerifier::hs256(&secret(), Some("https://a".into()), None);
        assert!(strict.verify(&token).is_err());
        let strict = JwtVerifier::hs256(&secret(), None, Some("svc".into()));
        assert!(strict.verify(&token).is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        let verifier = JwtVerifier::hs256(&secret(), None, None);
        for token in ["", "a.b.c", "not a token", "...."] {
            assert!(verifier.verify(token).is_err(), "{token:?}");
        }
    }
}
