//! Scale-out: two service processes on one PostgreSQL database, started together (both
//! migrate at start) and raced: the same idempotent creates, appends and `PUT`s through
//! both at once, and deletes through one against appends through the other. Nothing may
//! be stored twice, nothing acknowledged may be lost, and the counters must match the rows.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{Backend, Server, TestDatabase, token};

async fn send(
    client: &Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client
        .request(method, url)
        .bearer_auth(token("alice"))
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends the same request to both replicas at once; returns both statuses, sorted.
async fn both(
    client: &Client,
    bases: [&str; 2],
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Vec<u16> {
    let (a, b) = tokio::join!(
        send(
            client,
            method.clone(),
            format!("{}{path}", bases[0]),
            Some(body.clone())
        ),
        send(client, method, format!("{}{path}", bases[1]), Some(body)),
    );
    let mut statuses = vec![a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    statuses
}

async fn get(client: &Client, base: &str, path: &str) -> Value {
    let (status, body) = send(client, reqwest::Method::GET, format!("{base}{path}"), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every message of a thread (`branch=all`, every page).
async fn all_messages(client: &Client, base: &str, thread: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/threads/{thread}/messages?branch=all&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(client, base, &path).await;
        out.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The thread's counters agree with its rows, read through `base`.
async fn assert_counters(client: &Client, base: &str, thread: &str, messages: &[Value]) {
    let t = get(client, base, &format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["message_count"], messages.len(), "message_count");
    let newest = messages
        .iter()
        .filter_map(|m| m["created_at"].as_str())
        .max()
        .map(str::to_owned);
    assert_eq!(t["last_message_at"].as_str().map(str::to_owned), newest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_race_on_one_database_and_store_nothing_twice_nor_lose_anything() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Both start at once: both migrate at start, one after the other under the advisory
    // lock.
    let (a, b) = std::thread::scope(|s| {
        let start = || Server::start(dir.path(), &[("DATABASE_URL", db.url.clone())]);
        let a = s.spawn(start);
        let b = s.spawn(start);
        (a.join().expect("replica a"), b.join().expect("replica b"))
    });
    let bases = [a.base(), b.base()];
    let client = Client::new();
    // Each migration applied once.
    let conn = crate::support::connect(db.url.as_str())
        .await
        .expect("connect");
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &conn,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n, count(DISTINCT version) AS d FROM seaql_migrations",
        ),
    )
    .await
    .expect("query")
    .expect("a row");
    let (n, d): (i64, i64) = (
        row.try_get("", "n").expect("n"),
        row.try_get("", "d").expect("d"),
    );
    assert!(n > 0 && n == d, "{n} migration rows, {d} distinct");
    let _ = conn.close().await;

    // Idempotent thread creates through both: one 201 and one 200 each.
    let mut threads = Vec::new();
    for i in 0..20 {
        let id = uuid::Uuid::now_v7().to_string();
        let statuses = both(
            &client,
            bases,
            reqwest::Method::POST,
            "/api/v1/threads",
            json!({"id": id, "title": format!("t{i}")}),
        )
        .await;
        assert_eq!(statuses, [200, 201], "thread {i}");
        threads.push(id);
    }
    let listed = get(&client, bases[1], "/api/v1/threads?limit=100").await;
    assert_eq!(listed["data"].as_array().expect("data").len(), 20);

    // Idempotent appends to one thread through both, without parent ids: every message
    // once, one chain.
    let thread = &threads[0];
    let mut ids = Vec::new();
    let appends: Vec<_> = (0..40)
        .map(|i| {
            let id = uuid::Uuid::now_v7().to_string();
            ids.push(id.clone());
            let path = format!("/api/v1/threads/{thread}/messages");
            let body = json!({"id": id, "role": "user", "content": format!("m{i}")});
            let client = client.clone();
            async move { both(&client, bases, reqwest::Method::POST, &path, body).await }
        })
        .collect();
    for statuses in futures::future::join_all(appends).await {
        assert_eq!(statuses, [200, 201]);
    }
    let stored = all_messages(&client, bases[0], thread).await;
    let stored_ids: HashSet<&str> = stored.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(stored.len(), 40, "nothing twice");
    assert_eq!(
        stored_ids,
        ids.iter().map(String::as_str).collect(),
        "nothing lost"
    );
    assert_counters(&client, bases[1], thread, &stored).await;
    let path = get(
        &client,
        bases[1],
        &format!("/api/v1/threads/{thread}/messages?limit=100"),
    )
    .await;
    let path = path["data"].as_array().expect("data");
    assert_eq!(
        path.len(),
        40,
        "concurrent appends without a parent make one path"
    );
    for pair in path.windows(2) {
        assert_eq!(pair[1]["parent_id"], pair[0]["id"]);
    }

    // The same new id `PUT` through both at once: created once.
    for i in 0..10 {
        let id = uuid::Uuid::now_v7();
        let statuses = both(
            &client,
            bases,
            reqwest::Method::PUT,
            &format!("/api/v1/threads/{}/messages/{id}", threads[1]),
            json!({"role": "assistant", "content": format!("r{i}"), "status": "streaming"}),
        )
        .await;
        assert_eq!(statuses, [200, 201], "put {i}");
    }
    let puts = all_messages(&client, bases[0], &threads[1]).await;
    assert_eq!(puts.len(), 10);
    assert_counters(&client, bases[0], &threads[1], &puts).await;

    // Deletes through one replica against appends through the other.
    let target = &threads[2];
    let mut old = Vec::new();
    for i in 0..30 {
        let (status, m) = send(
            &client,
            reqwest::Method::POST,
            format!("{}/api/v1/threads/{target}/messages", bases[0]),
            Some(json!({"role": "user", "content": format!("old {i}")})),
        )
        .await;
        assert_eq!(status, 201);
        old.push(m["id"].as_str().expect("id").to_owned());
    }
    let appender = {
        let client = client.clone();
        let base = bases[0].to_owned();
        let target = target.clone();
        async move {
            let mut acknowledged = Vec::new();
            for i in 0..30 {
                let (status, m) = send(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/api/v1/threads/{target}/messages"),
                    Some(json!({"role": "user", "content": format!("new {i}")})),
                )
                .await;
                assert_eq!(status, 201, "append {i}: {m}");
                acknowledged.push(m["id"].as_str().expect("id").to_owned());
            }
            acknowledged
        }
    };
    let deleter = {
        let client = client.clone();
        let base = bases[1].to_owned();
        let target = target.clone();
        let old = old.clone();
        async move {
            for id in old {
                let (status, body) = send(
                    &client,
                    reqwest::Method::DELETE,
                    format!("{base}/api/v1/threads/{target}/messages/{id}"),
                    None,
                )
                .await;
                assert_eq!(status, 204, "delete: {body}");
            }
        }
    };
    let (acknowledged, ()) = tokio::join!(appender, deleter);
    let left = all_messages(&client, bases[1], target).await;
    let left_ids: HashSet<&str> = left.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(
        left_ids,
        acknowledged.iter().map(String::as_str).collect(),
        "every acknowledged append is there, every deleted message gone"
    );
    assert_counters(&client, bases[0], target, &left).await;
    // The new messages are still one path: deleting their old parents spliced them up.
    let path = get(
        &client,
        bases[0],
        &format!("/api/v1/threads/{target}/messages?limit=100"),
    )
    .await;
    let path: Vec<&str> = path["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        path,
        acknowledged.iter().map(String::as_str).collect::<Vec<_>>()
    );

    for server in [&a, &b] {
        assert!(
            !server.answered_statuses().iter().any(|s| *s >= 500),
            "no 5xx on either replica"
        );
    }
    eprintln!(
        "two replicas: 20 threads and 40 messages created through both at once (each once), \
         10 PUTs of new ids through both (each created once), 30 deletes against 30 appends"
    );
}
