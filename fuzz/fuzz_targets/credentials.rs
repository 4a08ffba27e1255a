//! Arbitrary text as a `Cookie` header, a bearer token and a session cookie value: parsing
//! never panics and nothing made up is ever accepted.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use auth::{
    AuthConfig, Authenticator, Credential, DEFAULT_SESSION_COOKIE_NAMES, Secret,
    session_cookie_from_header,
};
use domain::MockSessionStore;
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn authenticator() -> &'static Authenticator {
    static AUTHENTICATOR: OnceLock<Authenticator> = OnceLock::new();
    AUTHENTICATOR.get_or_init(|| {
        // A store that knows no session: every lookup is a miss.
        let mut store = MockSessionStore::new();
        store.expect_find_session().returning(|_| Ok(None));
        Authenticator::new(AuthConfig {
            hs256_secret: Some(Secret::new("fuzz-hs256-secret-0123456789abcdef")),
            better_auth_secret: Some(Secret::new("fuzz-better-auth-secret-0123456789")),
            session_store: Some(Arc::new(store)),
            session_cache_ttl: Duration::ZERO,
            ..AuthConfig::default()
        })
        .expect("a valid configuration")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(value) = session_cookie_from_header(text, &DEFAULT_SESSION_COOKIE_NAMES) {
        assert!(!value.is_empty());
    }
    for credential in [
        Credential::Bearer(text.to_owned()),
        Credential::SessionCookie(text.to_owned()),
    ] {
        let result = runtime().block_on(authenticator().authenticate(&credential));
        assert!(result.is_err(), "a made-up credential was accepted");
    }
});
