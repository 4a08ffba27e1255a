//! Cookie sessions from Better Auth's table: CSRF protection of unsafe methods and CORS for
//! the trusted origins only.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TRUSTED_ORIGIN, TestApp, TestDb, problem, spawn_on, test_settings, token,
};

const SECRET: &str = "better-auth-secret-for-tests-0123456789";
const SESSION_TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

fn signed_cookie() -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(SESSION_TOKEN.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("better-auth.session_token={SESSION_TOKEN}.{signature}")
}

async fn app_with_a_session() -> TestApp {
    let db = TestDb::new(Backend::Postgres).await;
    let conn = crate::helpers::connect(&db.url).await.expect("connect");
    conn.execute_unprepared(
        r#"CREATE TABLE "user" (id text PRIMARY KEY);
           CREATE TABLE "session" (id text PRIMARY KEY, "expiresAt" timestamptz NOT NULL,
             token text NOT NULL UNIQUE, "createdAt" timestamptz NOT NULL DEFAULT now(),
             "updatedAt" timestamptz NOT NULL DEFAULT now(), "ipAddress" text, "userAgent" text,
             "userId" text NOT NULL REFERENCES "user"(id));
           INSERT INTO "user" VALUES ('alice');"#,
    )
    .await
    .expect("Better Auth tables");
    conn.execute_unprepared(&format!(
        r#"INSERT INTO "session" (id, "expiresAt", token, "userId")
           VALUES ('s1', now() + interval '1 hour', '{SESSION_TOKEN}', 'alice')"#
    ))
    .await
    .expect("session row");
    conn.close().await.expect("close");
    let mut settings = test_settings(&db.url);
    settings.better_auth_secret = Some(SECRET.to_owned());
    spawn_on(db, settings).await
}

fn with_cookie(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.request(method, path).header("Cookie", signed_cookie())
}

#[tokio::test]
async fn cookie_sessions_change_data_only_from_trusted_origins() {
    let app = app_with_a_session().await;
    let res = with_cookie(&app, Method::GET, "/api/v1/me")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"user_id": "alice", "auth": "session"})
    );

    let attempts = [
        None,
        Some(("Origin", "https://evil.example")),
        Some(("Origin", "null")),
        Some(("Referer", "https://evil.example/app.example")),
        Some(("Origin", "https://app.example.evil.example")),
    ];
    for header in attempts {
        let mut req = with_cookie(&app, Method::POST, "/api/v1/threads").json(&json!({}));
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let body = problem(req.send().await.expect("request"), 403).await;
        assert_eq!(body["code"], "untrusted_origin", "{header:?}");
    }
    let res = with_cookie(&app, Method::DELETE, "/api/v1/me/history")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    problem(res, 403).await;
    // A PUT (saving a message by id) is a change like the others.
    let path = format!(
        "/api/v1/threads/{}/messages/{}",
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7()
    );
    let res = with_cookie(&app, Method::PUT, &path)
        .header("Origin", "https://evil.example")
        .json(&json!({"role": "assistant", "content": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 403).await["code"], "untrusted_origin");

    let res = with_cookie(&app, Method::POST, "/api/v1/threads")
        .header("Origin", TRUSTED_ORIGIN)
        .json(&json!({"title": "from the app"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let res = with_cookie(&app, Method::POST, "/api/v1/threads")
        .header("Referer", format!("{TRUSTED_ORIGIN}/chat/42"))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);

    // Bearer credentials are not sent by browsers on their own: no origin check.
    let res = app
        .request(Method::POST, "/api/v1/threads")
        .bearer_auth(token("alice"))
        .header("Origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let page: Value = with_cookie(&app, Method::GET, "/api/v1/threads")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"].as_array().expect("data").len(), 3);
}

#[tokio::test]
async fn cors_allows_credentials_for_trusted_origins_only() {
    let app = app_with_a_session().await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/api/v1/threads")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let res = preflight(TRUSTED_ORIGIN).await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], TRUSTED_ORIGIN);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = preflight("https://evil.example").await.expect("request");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // Saving a reply as it streams is a PUT with If-Match from the browser.
    let res = app
        .request(Method::OPTIONS, "/api/v1/threads/x/messages/y")
        .header("Origin", TRUSTED_ORIGIN)
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "content-type, if-match")
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    let allowed = res.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(allowed.contains("PUT"), "{allowed}");
    // A browser's EventSource reconnects with Last-Event-ID, with the session cookie.
    let res = app
        .request(Method::OPTIONS, "/api/v1/events")
        .header("Origin", TRUSTED_ORIGIN)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "last-event-id")
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    let res = with_cookie(&app, Method::GET, "/api/v1/events")
        .header("Origin", TRUSTED_ORIGIN)
        .header("Last-Event-ID", "0000000000000001")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], TRUSTED_ORIGIN);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    drop(res);

    let res = with_cookie(&app, Method::GET, "/api/v1/me")
        .header("Origin", TRUSTED_ORIGIN)
        .send()
        .await
        .expect("request");
    assert_eq!(res.headers()["access-control-allow-origin"], TRUSTED_ORIGIN);
    let res = with_cookie(&app, Method::GET, "/api/v1/me")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
