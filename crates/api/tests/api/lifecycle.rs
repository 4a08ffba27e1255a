use serde_json::{Value, json};

use crate::helpers::{
    Backend, on_both_backends, problem, spawn_app, start, str_of, test_settings, token,
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

fn counter(text: &str, route: &str, method: &str, status: &str) -> u64 {
    let labels = [
        format!("method=\"{method}\""),
        format!("route=\"{route}\""),
        format!("status=\"{status}\""),
    ];
    text.lines()
        .filter(|l| l.starts_with("chat_history_http_requests_total{"))
        .find(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_method_and_status() {
    let app = spawn_app(Backend::Sqlite).await;
    let scrape = || async {
        reqwest::get(format!("{}/metrics", app.address))
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    };
    let before = scrape().await;
    let thread = app.create_thread("alice", "m").await;
    for _ in 0..3 {
        app.get(
            &format!("/api/v1/threads/{}", str_of(&thread, "id")),
            "alice",
        )
        .await;
    }
    app.get("/api/v1/threads/not-a-uuid", "alice").await;
    let after = scrape().await;
    let route = "/api/v1/threads/{thread_id}";
    assert_eq!(
        counter(&after, route, "GET", "200") - counter(&before, route, "GET", "200"),
        3
    );
    assert_eq!(counter(&after, route, "GET", "400"), 1);
    assert_eq!(counter(&after, "/api/v1/threads", "POST", "201"), 1);
    assert!(after.contains("chat_history_http_request_duration_seconds_bucket"));
    assert!(after.contains("chat_history_db_pool_connections{state=\"max\"}"));
    assert!(after.contains("chat_history_build_info{version="));
    assert!(
        !after.contains("not-a-uuid"),
        "raw paths never become labels"
    );
}
