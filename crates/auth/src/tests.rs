//! Every acceptance and rejection path of [`Authenticator::authenticate`], with fixed test
//! keys (`testdata/`), a mocked session store and, for the JWKS, a tiny HTTP server on
//! 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use domain::{AuthMethod, MockSessionStore, SessionRecord, StoreError, Timestamp, UserId};

use super::*;
use crate::signed::sign_token;

// ---------------------------------------------------------------------------------------
// Fixtures

const BA_SECRET: &str = "better-auth-secret-for-tests-0123456789";
const HS_SECRET: &str = "hs256-secret-for-tests-0123456789abcdef";
const ISSUER: &str = "http://127.0.0.1:3000";
const KID: &str = "test-kid-1";

const ALICE_TOKEN: &str = "AliceSessionToken0123456789abcde";
const BOB_TOKEN: &str = "BobSessionToken0123456789abcdefg";

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid")
}

fn live(user_id: &str) -> SessionRecord {
    SessionRecord {
        user_id: user(user_id),
        expires_at: Timestamp::now().plus_micros(3_600_000_000),
    }
}

fn expired(user_id: &str) -> SessionRecord {
    SessionRecord {
        user_id: user(user_id),
        expires_at: Timestamp::now().plus_micros(-60_000_000),
    }
}

/// A store holding Alice's and Bob's live sessions, answering any number of lookups.
fn two_users_store() -> MockSessionStore {
    let mut store = MockSessionStore::new();
    store.expect_find_session().returning(|token| {
        Ok(match token {
            ALICE_TOKEN => Some(live("alice")),
            BOB_TOKEN => Some(live("bob")),
            _ => None,
        })
    });
    store
}

/// A store that must never be asked.
fn untouchable_store() -> MockSessionStore {
    let mut store = MockSessionStore::new();
    store.expect_find_session().never();
    store
}

fn session_config(store: MockSessionStore) -> AuthConfig {
    AuthConfig {
        better_auth_secret: Some(Secret::new(BA_SECRET)),
        session_store: Some(Arc::new(store)),
        session_cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    }
}

fn authenticator(config: AuthConfig) -> Authenticator {
    Authenticator::new(config).expect("a valid configuration")
}

fn cookie(value: impl Into<String>) -> Credential {
    Credential::SessionCookie(value.into())
}

fn bearer(value: impl Into<String>) -> Credential {
    Credential::Bearer(value.into())
}

/// `token.signature`, URL-encoded as in Better Auth's `Set-Cookie`.
fn signed_cookie(token: &str, secret: &str) -> String {
    sign_token(token, &Secret::new(secret))
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": ISSUER, "iat": now(), "exp": now() + 900,
           "email": format!("{sub}@example.com"), "name": sub})
}

fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_pem(include_bytes!("../testdata/ed25519-private.pem")).expect("ed key")
}

fn other_ed_key() -> EncodingKey {
    EncodingKey::from_ed_pem(include_bytes!("../testdata/ed25519-other-private.pem"))
        .expect("ed key")
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("encoded")
}

fn eddsa(kid: Option<&str>, claims: &Value) -> String {
    sign(Algorithm::EdDSA, kid, claims, &ed_key())
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// A JWT with an arbitrary header and no valid signature (for `alg: none` and friends).
fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn jwk(x: &str, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": x.trim(), "kid": kid, "alg": "EdDSA"})
}

fn test_jwk() -> Value {
    jwk(include_str!("../testdata/ed25519-public.x"), KID)
}

fn key_set(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// A JWKS endpoint on 127.0.0.1 answering every request with the current body and status,
/// counting requests.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
    status: Arc<Mutex<u16>>,
}

impl JwksServer {
    async fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let url = format!(
            "http://{}/api/auth/jwks",
            listener.local_addr().expect("address")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(body));
        let status = Arc::new(Mutex::new(200));
        let (h, b, s) = (hits.clone(), body.clone(), status.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let body = b.lock().expect("lock").clone();
                let status = *s.lock().expect("lock");
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            url,
            hits,
            body,
            status,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&self, body: String) {
        *self.body.lock().expect("lock") = body;
    }

    fn fail_with(&self, status: u16) {
        *self.status.lock().expect("lock") = status;
    }
}

fn jwks_config(url: &str) -> AuthConfig {
    AuthConfig {
        jwks_url: Some(url.to_owned()),
        issuer: Some(ISSUER.to_owned()),
        audience: Some(ISSUER.to_owned()),
        ..AuthConfig::default()
    }
}

fn jwks_authenticator(server: &JwksServer) -> Authenticator {
    authenticator(jwks_config(&server.url))
}

fn assert_user(result: Result<Principal, AuthError>, id: &str, method: AuthMethod) {
    match result {
        Ok(principal) => {
            assert_eq!(principal.user_id.as_str(), id);
            assert_eq!(principal.method, method);
        }
        Err(e) => panic!("expected {id} to be authenticated, got {e}"),
    }
}

fn assert_invalid(result: Result<Principal, AuthError>) {
    assert!(
        matches!(result, Err(AuthError::Invalid(_))),
        "expected Invalid, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn the_default_configuration_accepts_nothing() {
    assert!(!authenticator(AuthConfig::default()).is_enabled());
}

#[test]
fn the_default_cookie_names_are_better_auths() {
    let auth = authenticator(AuthConfig::default());
    assert_eq!(
        auth.session_cookie_names(),
        [
            "__Secure-better-auth.session_token",
            "better-auth.session_token"
        ]
    );
}

#[test]
fn a_better_auth_secret_without_a_session_store_is_a_config_error() {
    let config = AuthConfig {
        better_auth_secret: Some(Secret::new(BA_SECRET)),
        ..AuthConfig::default()
    };
    assert!(matches!(
        Authenticator::new(config),
        Err(AuthConfigError::NoSessionStore)
    ));
}

#[test]
fn empty_secrets_are_config_errors() {
    let config = AuthConfig {
        hs256_secret: Some(Secret::new("")),
        ..AuthConfig::default()
    };
    assert!(matches!(
        Authenticator::new(config),
        Err(AuthConfigError::EmptySecret("JWT_HS256_SECRET"))
    ));
    let config = AuthConfig {
        better_auth_secret: Some(Secret::new("")),
        session_store: Some(Arc::new(untouchable_store())),
        ..AuthConfig::default()
    };
    assert!(matches!(
        Authenticator::new(config),
        Err(AuthConfigError::EmptySecret("BETTER_AUTH_SECRET"))
    ));
}

#[test]
fn a_bad_public_key_file_is_a_config_error_naming_the_setting() {
    let config = AuthConfig {
        public_key_pem: Some(b"not a key".to_vec()),
        ..AuthConfig::default()
    };
    let err = Authenticator::new(config).expect_err("refused");
    assert!(err.to_string().contains("JWT_PUBLIC_KEY_FILE"), "{err}");
}

#[test]
fn a_jwks_url_that_is_not_http_is_a_config_error() {
    for url in [
        "",
        "ftp://example.com/jwks",
        "not a url",
        "file:///etc/passwd",
    ] {
        let config = AuthConfig {
            jwks_url: Some(url.to_owned()),
            ..AuthConfig::default()
        };
        assert!(
            matches!(Authenticator::new(config), Err(AuthConfigError::Url(_))),
            "{url:?}"
        );
    }
}

#[test]
fn better_auth_endpoints_follow_the_base_url() {
    let e = better_auth_endpoints("http://127.0.0.1:3000").expect("a URL");
    assert_eq!(e.jwks_url, "http://127.0.0.1:3000/api/auth/jwks");
    assert_eq!(e.issuer, "http://127.0.0.1:3000");
    let e = better_auth_endpoints("https://example.com/").expect("a URL");
    assert_eq!(e.jwks_url, "https://example.com/api/auth/jwks");
    assert_eq!(e.issuer, "https://example.com");
    assert!(better_auth_endpoints("example.com").is_err());
}

#[test]
fn debug_output_redacts_secrets() {
    let config = AuthConfig {
        hs256_secret: Some(Secret::new(HS_SECRET)),
        better_auth_secret: Some(Secret::new(BA_SECRET)),
        session_store: Some(Arc::new(untouchable_store())),
        public_key_pem: Some(include_bytes!("../testdata/ed25519-public.pem").to_vec()),
        ..AuthConfig::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains(HS_SECRET) && !printed.contains(BA_SECRET));
    assert!(!printed.contains("BEGIN"));
    let printed = format!("{:?}", authenticator(config));
    assert!(!printed.contains(HS_SECRET) && !printed.contains(BA_SECRET));
    assert_eq!(format!("{:?}", cookie("x.y")), "SessionCookie(<redacted>)");
}

// ---------------------------------------------------------------------------------------
// Session cookies and session tokens

#[tokio::test]
async fn a_signed_cookie_of_a_live_session_authenticates_its_user() {
    let auth = authenticator(session_config(two_users_store()));
    let value = signed_cookie(ALICE_TOKEN, BA_SECRET);
    assert_user(
        auth.authenticate(&cookie(value)).await,
        "alice",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn a_cookie_is_accepted_url_encoded_or_not() {
    let auth = authenticator(session_config(two_users_store()));
    let plain = sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET));
    assert_user(
        auth.authenticate(&cookie(plain)).await,
        "alice",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn a_cookie_under_either_default_name_authenticates() {
    let auth = authenticator(session_config(two_users_store()));
    for name in DEFAULT_SESSION_COOKIE_NAMES {
        let header = format!("theme=dark; {name}={}", signed_cookie(BOB_TOKEN, BA_SECRET));
        let value =
            session_cookie_from_header(&header, auth.session_cookie_names()).expect("found");
        assert_user(
            auth.authenticate(&cookie(value)).await,
            "bob",
            AuthMethod::Session,
        );
    }
}

#[tokio::test]
async fn two_users_sessions_stay_apart() {
    let auth = authenticator(session_config(two_users_store()));
    let alice = signed_cookie(ALICE_TOKEN, BA_SECRET);
    let bob = sign_token(BOB_TOKEN, &Secret::new(BA_SECRET));
    assert_user(
        auth.authenticate(&cookie(alice)).await,
        "alice",
        AuthMethod::Session,
    );
    assert_user(
        auth.authenticate(&bearer(bob)).await,
        "bob",
        AuthMethod::Session,
    );
    assert_user(
        auth.authenticate(&bearer(ALICE_TOKEN)).await,
        "alice",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn a_cookie_with_a_tampered_signature_is_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    let good = sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET));
    let (token, signature) = good.rsplit_once('.').expect("signed");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{token}.{flipped}{}", &signature[1..]);
    assert_invalid(auth.authenticate(&cookie(tampered)).await);
}

#[tokio::test]
async fn a_cookie_with_a_swapped_token_is_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    let good = sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET));
    let (_, signature) = good.rsplit_once('.').expect("signed");
    assert_invalid(
        auth.authenticate(&cookie(format!("{BOB_TOKEN}.{signature}")))
            .await,
    );
}

#[tokio::test]
async fn a_cookie_signed_with_another_secret_is_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    let value = signed_cookie(ALICE_TOKEN, "some-other-better-auth-secret-000000");
    assert_invalid(auth.authenticate(&cookie(value)).await);
}

#[tokio::test]
async fn malformed_cookies_are_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    let good = sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET));
    let cases = [
        String::new(),
        " ".to_owned(),
        ALICE_TOKEN.to_owned(),
        format!("{ALICE_TOKEN}."),
        format!("{good}="),
        format!("{good}%"),
        format!("{good}%3"),
        good.replace('.', ". "),
        "%00.%00".to_owned(),
        "a.b.c".to_owned(),
        "\u{0}".to_owned(),
        "x".repeat(10_000),
    ];
    for case in cases {
        assert_invalid(auth.authenticate(&cookie(case)).await);
    }
}

#[tokio::test]
async fn malformed_bearer_values_are_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    for case in [
        "",
        "   ",
        "two words",
        "tab\there",
        "naïve",
        "a.b",
        "a..b",
        "a.b.c.d",
        "%zz",
        "eyJ.eyJ.",
        &"x".repeat(256),
    ] {
        assert_invalid(auth.authenticate(&bearer(case)).await);
    }
}

#[tokio::test]
async fn the_signed_bearer_token_of_the_bearer_plugin_authenticates() {
    let auth = authenticator(session_config(two_users_store()));
    let token = sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET));
    assert_user(
        auth.authenticate(&bearer(token)).await,
        "alice",
        AuthMethod::Session,
    );
    let encoded = signed_cookie(ALICE_TOKEN, BA_SECRET);
    assert_user(
        auth.authenticate(&bearer(encoded)).await,
        "alice",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn a_tampered_signed_bearer_token_is_rejected_without_a_lookup() {
    let auth = authenticator(session_config(untouchable_store()));
    let token = sign_token(
        ALICE_TOKEN,
        &Secret::new("not-the-better-auth-secret-00000"),
    );
    assert_invalid(auth.authenticate(&bearer(token)).await);
}

#[tokio::test]
async fn a_raw_bearer_session_token_authenticates_by_default() {
    let auth = authenticator(session_config(two_users_store()));
    assert_user(
        auth.authenticate(&bearer(BOB_TOKEN)).await,
        "bob",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn a_raw_bearer_session_token_is_refused_when_signatures_are_required() {
    let config = AuthConfig {
        require_signed_bearer: true,
        ..session_config(untouchable_store())
    };
    let auth = authenticator(config);
    assert_invalid(auth.authenticate(&bearer(BOB_TOKEN)).await);
}

#[tokio::test]
async fn a_raw_bearer_session_token_works_without_the_better_auth_secret() {
    let config = AuthConfig {
        session_store: Some(Arc::new(two_users_store())),
        ..AuthConfig::default()
    };
    let auth = authenticator(config);
    assert_user(
        auth.authenticate(&bearer(BOB_TOKEN)).await,
        "bob",
        AuthMethod::Session,
    );
    let value = signed_cookie(BOB_TOKEN, BA_SECRET);
    assert_invalid(auth.authenticate(&cookie(value.clone())).await);
    assert_invalid(auth.authenticate(&bearer(value)).await);
}

#[tokio::test]
async fn sessions_are_refused_when_no_session_store_is_configured() {
    let auth = authenticator(AuthConfig {
        hs256_secret: Some(Secret::new(HS_SECRET)),
        ..AuthConfig::default()
    });
    assert_invalid(
        auth.authenticate(&cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)))
            .await,
    );
    assert_invalid(auth.authenticate(&bearer(ALICE_TOKEN)).await);
}

#[tokio::test]
async fn an_expired_session_row_is_rejected_as_expired() {
    let mut store = MockSessionStore::new();
    store
        .expect_find_session()
        .returning(|_| Ok(Some(expired("alice"))));
    let auth = authenticator(session_config(store));
    let result = auth
        .authenticate(&cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)))
        .await;
    assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
    let result = auth.authenticate(&bearer(ALICE_TOKEN)).await;
    assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
}

#[tokio::test]
async fn a_deleted_session_is_rejected() {
    let mut store = MockSessionStore::new();
    store.expect_find_session().returning(|_| Ok(None));
    let auth = authenticator(session_config(store));
    assert_invalid(
        auth.authenticate(&cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)))
            .await,
    );
    assert_invalid(auth.authenticate(&bearer(ALICE_TOKEN)).await);
}

#[tokio::test]
async fn a_session_store_outage_is_unavailable_not_unauthenticated() {
    let mut store = MockSessionStore::new();
    store.expect_find_session().returning(|_| {
        Err(StoreError::Unavailable(Box::new(std::io::Error::other(
            "connection refused",
        ))))
    });
    let auth = authenticator(session_config(store));
    let result = auth
        .authenticate(&cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)))
        .await;
    assert!(
        matches!(result, Err(AuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_store_is_asked_for_the_unsigned_token() {
    let mut store = MockSessionStore::new();
    store
        .expect_find_session()
        .withf(|token| token == ALICE_TOKEN)
        .times(3)
        .returning(|_| Ok(Some(live("alice"))));
    let auth = authenticator(session_config(store));
    for credential in [
        cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)),
        bearer(sign_token(ALICE_TOKEN, &Secret::new(BA_SECRET))),
        bearer(ALICE_TOKEN),
    ] {
        assert_user(
            auth.authenticate(&credential).await,
            "alice",
            AuthMethod::Session,
        );
    }
}

#[tokio::test]
async fn a_verified_session_is_reused_within_the_cache_ttl() {
    let mut store = MockSessionStore::new();
    store
        .expect_find_session()
        .times(1)
        .returning(|_| Ok(Some(live("alice"))));
    let config = AuthConfig {
        session_cache_ttl: Duration::from_secs(3600),
        ..session_config(store)
    };
    let auth = authenticator(config);
    for _ in 0..3 {
        assert_user(
            auth.authenticate(&cookie(signed_cookie(ALICE_TOKEN, BA_SECRET)))
                .await,
            "alice",
            AuthMethod::Session,
        );
    }
}

#[tokio::test]
async fn rejected_sessions_are_not_cached() {
    let mut store = MockSessionStore::new();
    let mut sequence = mockall::Sequence::new();
    store
        .expect_find_session()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(None));
    store
        .expect_find_session()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(Some(live("alice"))));
    let config = AuthConfig {
        session_cache_ttl: Duration::from_secs(3600),
        ..session_config(store)
    };
    let auth = authenticator(config);
    assert_invalid(auth.authenticate(&bearer(ALICE_TOKEN)).await);
    assert_user(
        auth.authenticate(&bearer(ALICE_TOKEN)).await,
        "alice",
        AuthMethod::Session,
    );
}

#[tokio::test]
async fn with_the_cache_disabled_a_signed_out_session_is_rejected_at_once() {
    let mut store = MockSessionStore::new();
    let mut sequence = mockall::Sequence::new();
    store
        .expect_find_session()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(Some(live("alice"))));
    store
        .expect_find_session()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(None));
    let auth = authenticator(session_config(store));
    let value = signed_cookie(ALICE_TOKEN, BA_SECRET);
    assert_user(
        auth.authenticate(&cookie(value.clone())).await,
        "alice",
        AuthMethod::Session,
    );
    assert_invalid(auth.authenticate(&cookie(value)).await);
}

// ---------------------------------------------------------------------------------------
// JWTs with static keys

fn hs256_authenticator() -> Authenticator {
    authenticator(AuthConfig {
        hs256_secret: Some(Secret::new(HS_SECRET)),
        ..AuthConfig::default()
    })
}

fn public_key_authenticator(pem: &[u8]) -> Authenticator {
    authenticator(AuthConfig {
        public_key_pem: Some(pem.to_vec()),
        issuer: Some(ISSUER.to_owned()),
        audience: Some(ISSUER.to_owned()),
        ..AuthConfig::default()
    })
}

#[tokio::test]
async fn an_hs256_jwt_signed_with_the_secret_authenticates() {
    let token = hs256(&claims("alice"), HS_SECRET.as_bytes());
    assert_user(
        hs256_authenticator().authenticate(&bearer(token)).await,
        "alice",
        AuthMethod::Jwt,
    );
}

#[tokio::test]
async fn a_minted_dev_token_authenticates() {
    let token = mint_hs256(&Secret::new(HS_SECRET), &user("dev"), 60).expect("minted");
    assert_user(
        hs256_authenticator().authenticate(&bearer(token)).await,
        "dev",
        AuthMethod::Jwt,
    );
}

#[tokio::test]
async fn an_hs256_jwt_signed_with_another_secret_is_rejected() {
    let token = hs256(&claims("alice"), b"another-secret-0123456789abcdef0123");
    assert_invalid(hs256_authenticator().authenticate(&bearer(token)).await);
}

#[tokio::test]
async fn hs384_is_refused_by_the_hs256_secret() {
    let token = sign(
        Algorithm::HS384,
        None,
        &claims("alice"),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    );
    assert_invalid(hs256_authenticator().authenticate(&bearer(token)).await);
}

#[tokio::test]
async fn an_eddsa_jwt_signed_by_the_configured_public_key_authenticates() {
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    assert_user(
        auth.authenticate(&bearer(eddsa(None, &claims("alice"))))
            .await,
        "alice",
        AuthMethod::Jwt,
    );
    let other = sign(Algorithm::EdDSA, None, &claims("alice"), &other_ed_key());
    assert_invalid(auth.authenticate(&bearer(other)).await);
}

#[tokio::test]
async fn es256_and_rs256_jwts_signed_by_configured_public_keys_authenticate() {
    let ec = EncodingKey::from_ec_pem(include_bytes!("../testdata/ec-p256-private.pem"))
        .expect("ec key");
    let auth = public_key_authenticator(include_bytes!("../testdata/ec-p256-public.pem"));
    let token = sign(Algorithm::ES256, None, &claims("alice"), &ec);
    assert_user(
        auth.authenticate(&bearer(token)).await,
        "alice",
        AuthMethod::Jwt,
    );

    let rsa =
        EncodingKey::from_rsa_pem(include_bytes!("../testdata/rsa-private.pem")).expect("rsa key");
    let auth = public_key_authenticator(include_bytes!("../testdata/rsa-public.pem"));
    let token = sign(Algorithm::RS256, None, &claims("bob"), &rsa);
    assert_user(
        auth.authenticate(&bearer(token)).await,
        "bob",
        AuthMethod::Jwt,
    );
}

#[tokio::test]
async fn an_hs256_jwt_signed_with_the_public_keys_bytes_is_rejected() {
    for pem in [
        include_bytes!("../testdata/rsa-public.pem").as_slice(),
        include_bytes!("../testdata/ed25519-public.pem").as_slice(),
        include_bytes!("../testdata/ec-p256-public.pem").as_slice(),
    ] {
        let auth = public_key_authenticator(pem);
        let token = hs256(&claims("mallory"), pem);
        assert_invalid(auth.authenticate(&bearer(token)).await);
        // Also when an HS256 secret is configured next to the public key.
        let auth = authenticator(AuthConfig {
            hs256_secret: Some(Secret::new(HS_SECRET)),
            public_key_pem: Some(pem.to_vec()),
            ..AuthConfig::default()
        });
        let token = hs256(&claims("mallory"), pem);
        assert_invalid(auth.authenticate(&bearer(token)).await);
    }
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let hs = hs256_authenticator();
    let ed = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    for alg in ["none", "None", "NONE", ""] {
        let header = json!({"alg": alg, "typ": "JWT"});
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = unsigned(&header, &claims("mallory"), signature);
            assert_invalid(hs.authenticate(&bearer(token.clone())).await);
            assert_invalid(ed.authenticate(&bearer(token)).await);
        }
    }
}

#[tokio::test]
async fn an_expired_jwt_is_rejected_as_expired() {
    let mut c = claims("alice");
    c["exp"] = json!(now() - 120);
    let token = eddsa(None, &c);
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    let result = auth.authenticate(&bearer(token)).await;
    assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
}

#[tokio::test]
async fn a_jwt_expired_within_the_leeway_is_still_accepted() {
    let mut c = claims("alice");
    c["exp"] = json!(now() - 5);
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    assert_user(
        auth.authenticate(&bearer(eddsa(None, &c))).await,
        "alice",
        AuthMethod::Jwt,
    );
}

#[tokio::test]
async fn a_jwt_not_yet_valid_is_rejected() {
    let mut c = claims("alice");
    c["nbf"] = json!(now() + 600);
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    assert_invalid(auth.authenticate(&bearer(eddsa(None, &c))).await);
}

#[tokio::test]
async fn a_jwt_from_another_issuer_or_for_another_audience_is_rejected() {
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    let mut wrong_iss = claims("alice");
    wrong_iss["iss"] = json!("https://evil.example");
    let mut wrong_aud = claims("alice");
    wrong_aud["aud"] = json!("https://other-service.example");
    let mut no_iss = claims("alice");
    no_iss.as_object_mut().expect("object").remove("iss");
    let mut no_aud = claims("alice");
    no_aud.as_object_mut().expect("object").remove("aud");
    for c in [wrong_iss, wrong_aud, no_iss, no_aud] {
        assert_invalid(auth.authenticate(&bearer(eddsa(None, &c))).await);
    }
}

#[tokio::test]
async fn a_jwt_without_exp_or_sub_is_rejected() {
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    for field in ["exp", "sub"] {
        let mut c = claims("alice");
        c.as_object_mut().expect("object").remove(field);
        assert_invalid(auth.authenticate(&bearer(eddsa(None, &c))).await);
    }
    let mut c = claims("alice");
    c["sub"] = json!("");
    assert_invalid(auth.authenticate(&bearer(eddsa(None, &c))).await);
}

#[tokio::test]
async fn a_jwt_with_a_tampered_payload_is_rejected() {
    let auth = public_key_authenticator(include_bytes!("../testdata/ed25519-public.pem"));
    let token = eddsa(None, &claims("alice"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims("mallory").to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_invalid(auth.authenticate(&bearer(tampered)).await);
}

#[tokio::test]
async fn garbage_bearer_jwts_are_rejected() {
    let auth = hs256_authenticator();
    for token in [
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.e30",
        "x.y.z",
        "e30.e30.e30",
    ] {
        assert_invalid(auth.authenticate(&bearer(token)).await);
    }
}

#[tokio::test]
async fn jwts_are_refused_when_no_jwt_key_is_configured() {
    let auth = authenticator(session_config(untouchable_store()));
    let token = hs256(&claims("alice"), HS_SECRET.as_bytes());
    assert_invalid(auth.authenticate(&bearer(token)).await);
}

// ---------------------------------------------------------------------------------------
// JWTs with the JWKS

#[tokio::test]
async fn an_eddsa_jwt_with_a_kid_from_the_jwks_authenticates_its_user() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    for name in ["alice", "bob"] {
        assert_user(
            auth.authenticate(&bearer(eddsa(Some(KID), &claims(name))))
                .await,
            name,
            AuthMethod::Jwt,
        );
    }
    assert_eq!(server.hits(), 1, "the key set is cached");
}

#[tokio::test]
async fn a_jwt_signed_by_another_key_under_a_known_kid_is_rejected() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    let token = sign(
        Algorithm::EdDSA,
        Some(KID),
        &claims("alice"),
        &other_ed_key(),
    );
    assert_invalid(auth.authenticate(&bearer(token)).await);
}

#[tokio::test]
async fn a_jwt_with_an_unknown_kid_is_rejected_after_one_refetch() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let config = AuthConfig {
        jwks_refetch_interval: Duration::ZERO,
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    let token = sign(
        Algorithm::EdDSA,
        Some("other-kid"),
        &claims("alice"),
        &other_ed_key(),
    );
    let result = auth.authenticate(&bearer(token)).await;
    assert!(
        matches!(result, Err(AuthError::Invalid("unknown key id"))),
        "{result:?}"
    );
    assert_eq!(server.hits(), 1);
    // Known now (cached), the next token triggers no fetch.
    assert_user(
        auth.authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
            .await,
        "alice",
        AuthMethod::Jwt,
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_key_added_to_the_jwks_is_picked_up_by_a_refetch() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let config = AuthConfig {
        jwks_refetch_interval: Duration::ZERO,
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    assert_user(
        auth.authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
            .await,
        "alice",
        AuthMethod::Jwt,
    );
    let rotated = jwk(include_str!("../testdata/ed25519-other-public.x"), "kid-2");
    server.serve(key_set(&[test_jwk(), rotated]));
    let token = sign(
        Algorithm::EdDSA,
        Some("kid-2"),
        &claims("bob"),
        &other_ed_key(),
    );
    assert_user(
        auth.authenticate(&bearer(token)).await,
        "bob",
        AuthMethod::Jwt,
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_verifying_once_the_cache_is_stale() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let config = AuthConfig {
        jwks_refetch_interval: Duration::ZERO,
        jwks_max_age: Duration::ZERO,
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    let token = eddsa(Some(KID), &claims("alice"));
    assert_user(
        auth.authenticate(&bearer(token.clone())).await,
        "alice",
        AuthMethod::Jwt,
    );
    server.serve(key_set(&[]));
    assert_invalid(auth.authenticate(&bearer(token)).await);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn refetches_for_unknown_kids_are_rate_limited() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    assert_user(
        auth.authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
            .await,
        "alice",
        AuthMethod::Jwt,
    );
    for i in 0..5 {
        let kid = format!("unknown-{i}");
        let token = sign(
            Algorithm::EdDSA,
            Some(&kid),
            &claims("alice"),
            &other_ed_key(),
        );
        assert_invalid(auth.authenticate(&bearer(token)).await);
    }
    assert_eq!(server.hits(), 1, "no refetch within the refetch interval");
}

#[tokio::test]
async fn concurrent_requests_share_one_jwks_fetch() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    let credentials: Vec<Credential> = (0..8)
        .map(|i| {
            bearer(if i % 2 == 0 {
                eddsa(Some(KID), &claims("alice"))
            } else {
                sign(
                    Algorithm::EdDSA,
                    Some("nope"),
                    &claims("alice"),
                    &other_ed_key(),
                )
            })
        })
        .collect();
    let results = futures::future::join_all(credentials.iter().map(|c| auth.authenticate(c))).await;
    for (i, result) in results.into_iter().enumerate() {
        if i % 2 == 0 {
            assert_user(result, "alice", AuthMethod::Jwt);
        } else {
            assert_invalid(result);
        }
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_jwks_key_accepts_only_the_algorithm_it_declares() {
    let es256_declared = json!({"kty": "OKP", "crv": "Ed25519",
        "x": include_str!("../testdata/ed25519-public.x").trim(), "kid": KID, "alg": "ES256"});
    let server = JwksServer::start(key_set(&[es256_declared])).await;
    let auth = jwks_authenticator(&server);
    assert_invalid(
        auth.authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
            .await,
    );
}

#[tokio::test]
async fn an_hs256_jwt_signed_with_a_jwks_keys_bytes_is_rejected() {
    let x = include_str!("../testdata/ed25519-public.x").trim();
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    let raw = URL_SAFE_NO_PAD.decode(x).expect("base64url");
    for secret in [
        raw.as_slice(),
        x.as_bytes(),
        test_jwk().to_string().as_bytes(),
    ] {
        let token = sign(
            Algorithm::HS256,
            Some(KID),
            &claims("mallory"),
            &EncodingKey::from_secret(secret),
        );
        assert_invalid(auth.authenticate(&bearer(token)).await);
    }
    assert_eq!(server.hits(), 0, "symmetric tokens never reach the JWKS");
}

#[tokio::test]
async fn a_jwt_from_the_jwks_with_the_wrong_issuer_or_audience_is_rejected() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    for field in ["iss", "aud"] {
        let mut c = claims("alice");
        c[field] = json!("http://127.0.0.1:3001");
        assert_invalid(auth.authenticate(&bearer(eddsa(Some(KID), &c))).await);
    }
}

#[tokio::test]
async fn an_expired_jwt_from_the_jwks_is_rejected_as_expired() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    let mut c = claims("alice");
    c["iat"] = json!(now() - 1000);
    c["exp"] = json!(now() - 100);
    let result = auth.authenticate(&bearer(eddsa(Some(KID), &c))).await;
    assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
}

#[tokio::test]
async fn alg_none_with_a_known_kid_is_rejected_without_a_fetch() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let auth = jwks_authenticator(&server);
    let token = unsigned(&json!({"alg": "none", "kid": KID}), &claims("mallory"), "");
    assert_invalid(auth.authenticate(&bearer(token)).await);
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_real_better_auth_jwt_verifies_against_its_jwks() {
    // Captured from better-auth 1.7.25; long expired, so a verified signature shows up as
    // `Expired` while any tampering shows up as `Invalid`.
    let server =
        JwksServer::start(include_str!("../testdata/better-auth-1.7.25/jwks.json").to_owned())
            .await;
    let config = AuthConfig {
        issuer: Some("http://127.0.0.1:3999".to_owned()),
        audience: Some("http://127.0.0.1:3999".to_owned()),
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    let token = include_str!("../testdata/better-auth-1.7.25/jwt.txt").trim();
    let result = auth.authenticate(&bearer(token)).await;
    if now() < 1_795_508_557 + LEEWAY_SECS as i64 {
        // Still within its 15 minutes (only right after it was captured).
        assert_user(result, "5owWRoCHIzsC84Gpv1ZEZWVZkJT1O53E", AuthMethod::Jwt);
    } else {
        assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
    }

    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("json");
    payload["exp"] = json!(now() + 900);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_invalid(auth.authenticate(&bearer(forged)).await);
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!(
        "http://{}/api/auth/jwks",
        listener.local_addr().expect("addr")
    );
    drop(listener);
    let auth = authenticator(jwks_config(&url));
    let result = auth
        .authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
        .await;
    assert!(
        matches!(result, Err(AuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_failing_jwks_is_unavailable_and_cached_keys_outlive_it() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    server.fail_with(500);
    let config = AuthConfig {
        jwks_refetch_interval: Duration::ZERO,
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    let token = eddsa(Some(KID), &claims("alice"));
    let result = auth.authenticate(&bearer(token.clone())).await;
    assert!(
        matches!(result, Err(AuthError::Unavailable(_))),
        "{result:?}"
    );

    server.fail_with(200);
    assert_user(
        auth.authenticate(&bearer(token.clone())).await,
        "alice",
        AuthMethod::Jwt,
    );
    server.fail_with(503);
    // The key is cached: an outage of the JWKS does not log anyone out.
    assert_user(
        auth.authenticate(&bearer(token)).await,
        "alice",
        AuthMethod::Jwt,
    );
}

#[tokio::test]
async fn a_jwks_that_is_not_a_key_set_is_unavailable() {
    let server = JwksServer::start("<html>oops</html>".to_owned()).await;
    let auth = jwks_authenticator(&server);
    let result = auth
        .authenticate(&bearer(eddsa(Some(KID), &claims("alice"))))
        .await;
    assert!(
        matches!(result, Err(AuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn static_keys_and_the_jwks_work_side_by_side() {
    let server = JwksServer::start(key_set(&[test_jwk()])).await;
    let config = AuthConfig {
        hs256_secret: Some(Secret::new(HS_SECRET)),
        ..jwks_config(&server.url)
    };
    let auth = authenticator(config);
    assert_user(
        auth.authenticate(&bearer(hs256(&claims("alice"), HS_SECRET.as_bytes())))
            .await,
        "alice",
        AuthMethod::Jwt,
    );
    assert_user(
        auth.authenticate(&bearer(eddsa(Some(KID), &claims("bob"))))
            .await,
        "bob",
        AuthMethod::Jwt,
    );
}
