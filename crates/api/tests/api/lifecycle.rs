use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, on_both_backends, problem, spawn_app, start, str_of, test_settings, token,
};

on_both_backends!(
    acknowledged_messages_survive_a_restart,
    probes_answer_without_credentials
);

async fn acknowledged_messages_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "durable").await;
    let tid = str_of(&thread, "id").to_owned();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(str_of(&app.append("alice", &tid, &format!("m{i}")).await, "id").to_owned());
    }
    let db = app.stop().await;

    let (address, handle) = start(test_settings(&db.url)).await;
    let res = reqwest::Client::new()
        .get(format!("{address}/api/v1/threads/{tid}/messages?limit=100"))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.expect("json");
    let got: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, ids);
    handle.stop(true).await;
    drop(db);
}

async fn probes_answer_without_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"status": "ready"})
    );
}

#[tokio::test]
async fn a_lost_database_is_503_with_retry_after_and_never_500() {
    let mut app = spawn_app(Backend::Postgres).await;
    let thread = app.create_thread("alice", "t").await;
    app.db.drop_now().await;
    let res = app
        .get(
            &format!("/api/v1/threads/{}", str_of(&thread, "id")),
            "alice",
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    let body = problem(res, 503).await;
    assert_eq!(body["code"], "service_unavailable");
    let res = app.post("/api/v1/threads", "alice", json!({})).await;
    problem(res, 503).await;
    let res = reqwest::get(format!("{}/readyz", app.address))
        .await
        .expect("request");
    assert!(res.headers().contains_key("retry-after"));
    problem(res, 503).await;
}

/// The text of `/metrics`.
async fn scrape(app: &TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("request")
        .text()
        .await
        .expect("text")
}

/// The value of the sample of `metric` whose labels include every one of `labels`
/// (`name="value"`), 0 when there is none.
fn sample(text: &str, metric: &str, labels: &[String]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .find(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn counter(text: &str, route: &str, method: &str, status: &str) -> u64 {
    let labels = [
        format!("method=\"{method}\""),
        format!("route=\"{route}\""),
        format!("status=\"{status}\""),
    ];
    sample(text, "chat_history_http_requests_total", &labels)
}

fn auth_attempts(text: &str, credential: &str, result: &str) -> u64 {
    let labels = [
        format!("credential=\"{credential}\""),
        format!("result=\"{result}\""),
    ];
    sample(text, "chat_history_auth_attempts_total", &labels)
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_method_and_status() {
    let app = spawn_app(Backend::Sqlite).await;
    let before = scrape(&app).await;
    let thread = app.create_thread("alice", "m").await;
    for _ in 0..3 {
        app.get(
            &format!("/api/v1/threads/{}", str_of(&thread, "id")),
            "alice",
        )
        .await;
    }
    app.get("/api/v1/threads/not-a-uuid", "alice").await;
    let after = scrape(&app).await;
    let route = "/api/v1/threads/{thread_id}";
    assert_eq!(
        counter(&after, route, "GET", "200") - counter(&before, route, "GET", "200"),
        3
    );
    assert_eq!(counter(&after, route, "GET", "400"), 1);
    assert_eq!(counter(&after, "/api/v1/threads", "POST", "201"), 1);
    assert!(after.contains("chat_history_http_request_duration_seconds_bucket"));
    assert!(after.contains("chat_history_db_pool_connections{state=\"idle\"}"));
    assert!(after.contains("chat_history_db_pool_connections{state=\"in_use\"}"));
    assert!(
        !after.contains("state=\"max\"") && !after.contains("state=\"open\""),
        "states sum to the open connections; the limit is a gauge of its own"
    );
    assert!(sample(&after, "chat_history_db_pool_max_connections", &[]) >= 1);
    assert!(after.contains("chat_history_db_pool_waiting_requests "));
    assert!(after.contains("chat_history_build_info{version="));
    // The process collector's standard names, as dashboards expect them.
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(name)),
            "{name} is exported unprefixed"
        );
    }
    assert!(!after.contains("chat_history_process_"));
    assert!(
        !after.contains("not-a-uuid"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn metrics_count_authentication_outcomes_by_credential_and_result() {
    let app = spawn_app(Backend::Sqlite).await;
    let before = scrape(&app).await;
    app.get("/api/v1/me", "alice").await;
    app.get("/api/v1/me", "alice").await;
    let send = |builder: reqwest::RequestBuilder| async move {
        builder.send().await.expect("request").status().as_u16()
    };
    assert_eq!(
        send(app.request(reqwest::Method::GET, "/api/v1/me")).await,
        401
    );
    assert_eq!(
        send(
            app.request(reqwest::Method::GET, "/api/v1/me")
                .bearer_auth("forged.token.here")
        )
        .await,
        401
    );
    assert_eq!(
        send(
            app.request(reqwest::Method::GET, "/api/v1/me")
                .header("cookie", "better-auth.session_token=abc.def")
        )
        .await,
        401
    );
    let after = scrape(&app).await;
    let delta = |credential: &str, result: &str| {
        auth_attempts(&after, credential, result) - auth_attempts(&before, credential, result)
    };
    assert_eq!(delta("bearer", "ok"), 2);
    assert_eq!(delta("bearer", "invalid"), 1);
    // No credential, and a session cookie this server (without BETTER_AUTH_SECRET) does
    // not read or cannot verify.
    assert_eq!(delta("none", "missing") + delta("cookie", "invalid"), 2);
}

#[tokio::test]
async fn large_responses_are_gzipped_when_the_client_accepts_it_and_small_ones_are_not() {
    let app = spawn_app(Backend::Sqlite).await;
    let thread = app.create_thread("alice", "big").await;
    let tid = str_of(&thread, "id");
    for i in 0..10 {
        app.append(
            "alice",
            tid,
            &format!("message {i}: {}", "lorem ipsum ".repeat(40)),
        )
        .await;
    }
    let get = |path: String, accept: Option<&'static str>| {
        let mut builder = app.as_user(reqwest::Method::GET, &path, "alice");
        if let Some(accept) = accept {
            builder = builder.header("accept-encoding", accept);
        }
        async move {
            let res = builder.send().await.expect("request");
            let encoding = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let vary = res
                .headers()
                .get("vary")
                .map(|v| v.to_str().expect("ascii").to_owned());
            (
                res.status().as_u16(),
                encoding,
                vary,
                res.bytes().await.expect("body"),
            )
        }
    };
    let list = format!("/api/v1/threads/{tid}/messages");
    let (status, encoding, vary, gz) = get(list.clone(), Some("gzip, br;q=0.5")).await;
    assert_eq!(status, 200);
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert!(
        vary.unwrap_or_default()
            .to_lowercase()
            .contains("accept-encoding")
    );
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain)
        .expect("a gzip body");
    let (_, encoding, _, identity) = get(list.clone(), None).await;
    assert_eq!(encoding, None, "not without Accept-Encoding");
    assert_eq!(plain, identity.to_vec(), "the same page, compressed");
    assert!(gz.len() * 3 < identity.len());
    let (_, encoding, _, _) = get(list.clone(), Some("gzip;q=0, identity")).await;
    assert_eq!(encoding, None, "gzip refused by its quality");
    // A streamed export is compressed too; a small answer is not.
    let (_, encoding, _, _) = get(format!("/api/v1/threads/{tid}/export"), Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let (_, encoding, _, _) = get("/api/v1/me".to_owned(), Some("gzip")).await;
    assert_eq!(encoding, None, "under 1 KiB");
}
