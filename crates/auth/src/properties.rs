//! Property tests of the credential parsers: the `Cookie` header, Better Auth's signed
//! session values, percent-decoding, the JWT shape test, and the authenticator as a whole
//! on arbitrary input. What they claim: parsing never panics, what is signed with the
//! secret is recovered exactly, and nothing else is ever accepted.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use domain::{MockSessionStore, SessionRecord, Timestamp, UserId};

use crate::cookie::{DEFAULT_SESSION_COOKIE_NAMES, session_cookie_from_header};
use crate::jwt::looks_like_jwt;
use crate::signed::{SigningKey, percent_decode, sign_token, verify_signed};
use crate::{AuthConfig, AuthError, Authenticator, Credential, Secret, mint_hs256};

const BA_SECRET: &str = "better-auth-secret-for-properties-0123";
const HS_SECRET: &str = "hs256-secret-for-properties-0123456789";
/// The one session the store knows.
const LIVE_TOKEN: &str = "LiveSessionToken0123456789abcdef";

/// Session tokens as Better Auth makes them, and anything else of the plausible alphabet
/// (visible ASCII; dots included, since the signature is split at the last one).
fn token() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9]{32}", "[!-~]{1,255}"]
}

/// A cookie value as a browser may send it: cookie-octets, no `;`, `,`, space or quote.
fn cookie_value() -> impl Strategy<Value = String> {
    "[!#-+\\--:<-\\[\\]-~]{1,64}"
}

fn other_cookie() -> impl Strategy<Value = String> {
    ("[a-z_]{1,12}", "[a-zA-Z0-9]{0,12}").prop_map(|(k, v)| format!("{k}={v}"))
}

/// Every byte as `%XX`, as `encodeURIComponent` would for the worst case.
fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn key() -> SigningKey {
    SigningKey::new(&Secret::new(BA_SECRET)).expect("non-empty")
}

fn authenticator() -> Authenticator {
    let mut store = MockSessionStore::new();
    store.expect_find_session().returning(|token| {
        Ok((token == LIVE_TOKEN).then(|| SessionRecord {
            user_id: UserId::parse("alice").expect("valid"),
            expires_at: Timestamp::now().plus_micros(3_600_000_000),
        }))
    });
    Authenticator::new(AuthConfig {
        hs256_secret: Some(Secret::new(HS_SECRET)),
        better_auth_secret: Some(Secret::new(BA_SECRET)),
        session_store: Some(Arc::new(store)),
        session_cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    })
    .expect("a valid configuration")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_cookie_header_parses_without_panicking(header in "\\PC{0,300}") {
        if let Some(value) = session_cookie_from_header(&header, &DEFAULT_SESSION_COOKIE_NAMES) {
            prop_assert!(!value.is_empty());
            prop_assert!(header.contains(value.as_str()));
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_any_other_cookies(
        before in proptest::collection::vec(other_cookie(), 0..5),
        after in proptest::collection::vec(other_cookie(), 0..5),
        value in cookie_value(),
        name in proptest::sample::select(DEFAULT_SESSION_COOKIE_NAMES.to_vec()),
        spaces in " {0,2}",
    ) {
        let mut pairs = before;
        pairs.push(format!("{name}={value}"));
        pairs.extend(after);
        let header = pairs.join(&format!(";{spaces}"));
        prop_assert_eq!(
            session_cookie_from_header(&header, &DEFAULT_SESSION_COOKIE_NAMES),
            Some(value)
        );
    }

    #[test]
    fn a_signed_token_verifies_to_itself_plain_or_url_encoded(token in token()) {
        let signed = sign_token(&token, &Secret::new(BA_SECRET));
        // A value with `%` is taken as URL-encoded, as Better Auth takes it (its own
        // tokens are alphanumeric), so only such tokens must verify unencoded.
        if !token.contains('%') {
            prop_assert_eq!(verify_signed(&signed, &key()).ok(), Some(token.clone()));
        }
        let encoded = percent_encode_all(&signed);
        prop_assert_eq!(verify_signed(&encoded, &key()).ok(), Some(token));
    }

    #[test]
    fn changing_any_one_character_of_a_signed_token_is_refused(
        token in "[A-Za-z0-9]{32}",
        index in any::<proptest::sample::Index>(),
        replacement in "[!-~]",
    ) {
        let signed = sign_token(&token, &Secret::new(BA_SECRET));
        let i = index.index(signed.len());
        let mut changed = signed.clone();
        changed.replace_range(i..=i, &replacement);
        // Base64 has a little slack in its last character's low bits: a change that
        // decodes to the same signature bytes is the same signature.
        let same_signature = changed.rsplit_once('.').and_then(|(t, s)| {
            let (_, original) = signed.rsplit_once('.')?;
            (t == token && STANDARD.decode(s).ok()? == STANDARD.decode(original).ok()?).then_some(())
        });
        prop_assume!(changed != signed && same_signature.is_none());
        prop_assert!(matches!(verify_signed(&changed, &key()), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused(token in token(), secret in "[!-~]{1,64}") {
        prop_assume!(secret != BA_SECRET);
        let signed = sign_token(&token, &Secret::new(secret));
        prop_assert!(verify_signed(&signed, &key()).is_err());
    }

    #[test]
    fn arbitrary_values_are_never_accepted_as_signed(value in "\\PC{0,400}") {
        prop_assert!(verify_signed(&value, &key()).is_err());
    }

    #[test]
    fn percent_decoding_inverts_encoding_and_never_panics(s in "\\PC{0,100}", junk in "[%0-9A-Za-z]{0,20}") {
        prop_assert_eq!(percent_decode(&percent_encode_all(&s)), Some(s.clone()));
        let _ = percent_decode(&junk);
    }

    #[test]
    fn signed_session_tokens_never_look_like_jwts(token in "[A-Za-z0-9]{32}") {
        prop_assert!(!looks_like_jwt(&sign_token(&token, &Secret::new(BA_SECRET))));
        prop_assert!(!looks_like_jwt(&token));
    }

    #[test]
    fn minted_jwts_look_like_jwts(user in "[a-zA-Z0-9_-]{1,40}") {
        let jwt = mint_hs256(&Secret::new(HS_SECRET), &UserId::parse(user.clone()).expect("valid"), 60)
            .expect("minted");
        prop_assert!(looks_like_jwt(&jwt));
    }
}

proptest! {
    // Each case builds a runtime: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_credentials_are_refused_never_accepted_and_never_panic(
        value in prop_oneof![
            "\\PC{0,300}",
            "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,80}\\.[A-Za-z0-9_-]{1,80}",
            "[!-~]{1,40}\\.[A-Za-z0-9+/]{43}=",
        ],
        cookie in any::<bool>(),
    ) {
        prop_assume!(value.trim() != LIVE_TOKEN);
        let credential = if cookie {
            Credential::SessionCookie(value)
        } else {
            Credential::Bearer(value)
        };
        let result = block_on(authenticator().authenticate(&credential));
        prop_assert!(
            matches!(result, Err(AuthError::Invalid(_) | AuthError::Missing | AuthError::Expired)),
            "{result:?}"
        );
    }

    #[test]
    fn a_tampered_jwt_is_refused(
        user in "[a-z]{1,12}",
        index in any::<proptest::sample::Index>(),
        replacement in "[A-Za-z0-9_-]",
    ) {
        let jwt = mint_hs256(&Secret::new(HS_SECRET), &UserId::parse(user.clone()).expect("valid"), 60)
            .expect("minted");
        let i = index.index(jwt.len());
        prop_assume!(&jwt[i..=i] != "." && jwt[i..=i] != replacement);
        let mut tampered = jwt.clone();
        tampered.replace_range(i..=i, &replacement);
        let result = block_on(authenticator().authenticate(&Credential::Bearer(tampered)));
        // The last base64url character of the signature carries spare bits: a change
        // there may decode to the same bytes and still verify, as the same token.
        if let Ok(principal) = &result {
            prop_assert_eq!(principal.user_id.as_str(), user.as_str());
            prop_assert!(i >= jwt.len() - 1);
        } else {
            prop_assert!(matches!(result, Err(AuthError::Invalid(_) | AuthError::Expired)), "{result:?}");
        }
    }
}
