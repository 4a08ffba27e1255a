//! `POST /api/v1/me/import`: export files of this service, ChatGPT and Claude become
//! threads, all or none per conversation, never twice.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    Backend, TestApp, on_both_backends, problem, spawn_app, spawn_app_with, token,
};

on_both_backends!(
    a_chatgpt_export_becomes_trees_and_importing_it_again_creates_nothing,
    claude_and_our_own_exports_import_and_an_export_round_trips,
    a_file_that_is_not_whole_changes_nothing,
    a_file_larger_than_a_request_body_imports_within_max_import_bytes,
    a_replica_runs_two_imports_at_once_and_answers_429_beyond,
);

const CHATGPT: &[u8] = include_bytes!("../fixtures/import/chatgpt.json");
const CLAUDE: &[u8] = include_bytes!("../fixtures/import/claude.json");
const NATIVE: &[u8] = include_bytes!("../fixtures/import/chat-history.ndjson");

/// `user`'s whole export (`GET /api/v1/me/export`), as a file to import.
async fn export_of(app: &TestApp, user: &str) -> Vec<u8> {
    let res = app.get("/api/v1/me/export", user).await;
    assert_eq!(res.status(), 200);
    res.bytes().await.expect("export").to_vec()
}

async fn import(app: &TestApp, user: &str, format: &str, body: &[u8]) -> reqwest::Response {
    app.as_user(
        Method::POST,
        &format!("/api/v1/me/import?format={format}"),
        user,
    )
    .header("content-type", "application/octet-stream")
    .body(body.to_vec())
    .send()
    .await
    .expect("request")
}

async fn json_of(app: &TestApp, user: &str, path: &str) -> Value {
    let res = app.get(path, user).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

/// The user's threads by title.
async fn threads_by_title(app: &TestApp, user: &str) -> Vec<(String, Value)> {
    let page = json_of(app, user, "/api/v1/threads?archived=all&limit=100").await;
    let mut threads: Vec<(String, Value)> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| (t["title"].as_str().expect("title").to_owned(), t.clone()))
        .collect();
    threads.sort_by(|a, b| a.0.cmp(&b.0));
    threads
}

fn find<'a>(threads: &'a [(String, Value)], title: &str) -> &'a Value {
    &threads
        .iter()
        .find(|(t, _)| t == title)
        .unwrap_or_else(|| panic!("no thread {title:?}"))
        .1
}

async fn a_chatgpt_export_becomes_trees_and_importing_it_again_creates_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = import(&app, "alice", "chatgpt", CHATGPT).await;
    let status = res.status();
    let report: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["threads_created"], 3, "{report}");
    assert_eq!(report["threads_skipped"], 0);
    assert_eq!(report["messages_created"], 17);
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(
        errors[0]["index"], 2,
        "the broken conversation, by its place in the file"
    );
    assert!(
        errors[0]["detail"]
            .as_str()
            .expect("detail")
            .contains("a-missing")
    );

    let threads = threads_by_title(&app, "alice").await;
    let titles: Vec<&str> = threads.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Chart of monthly sales",
            "Mean or median",
            "Weeknight recipe"
        ]
    );
    // The source's timestamps and flags.
    let mean = find(&threads, "Mean or median");
    assert_eq!(mean["created_at"], "2024-05-30T20:13:20.000000Z");
    assert_eq!(mean["message_count"], 8);
    assert_eq!(find(&threads, "Weeknight recipe")["archived"], true);

    // The edit is a branch: the active path ends at `current_node`, and the edited user
    // message has a sibling.
    let tid = mean["id"].as_str().expect("id");
    let path = json_of(&app, "alice", &format!("/api/v1/threads/{tid}/messages")).await;
    let path = path["data"].as_array().expect("data");
    assert_eq!(path.last().expect("leaf")["id"], mean["active_leaf_id"]);
    let roles: Vec<&str> = path
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert!(roles.contains(&"tool"), "{roles:?}");
    assert!(
        path.iter()
            .any(|m| m["sibling_ids"].as_array().expect("siblings").len() == 2),
        "the edited question has two versions"
    );
    let all = json_of(
        &app,
        "alice",
        &format!("/api/v1/threads/{tid}/messages?branch=all&limit=100"),
    )
    .await;
    assert_eq!(all["data"].as_array().expect("data").len(), 8);
    // A child always sorts after its parent.
    let at: std::collections::HashMap<&str, &str> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("id"),
                m["created_at"].as_str().expect("at"),
            )
        })
        .collect();
    for m in all["data"].as_array().expect("data") {
        if let Some(parent) = m["parent_id"].as_str() {
            assert!(at[parent] < m["created_at"].as_str().expect("at"));
        }
    }

    // The multimodal question keeps its image as a file part.
    let chart = find(&threads, "Chart of monthly sales");
    let cid = chart["id"].as_str().expect("id");
    let all = json_of(
        &app,
        "alice",
        &format!("/api/v1/threads/{cid}/messages?branch=all&limit=100"),
    )
    .await;
    let parts: Vec<&Value> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .flat_map(|m| m["parts"].as_array().expect("parts"))
        .collect();
    assert!(parts.iter().any(|p| p["type"] == "file"), "{parts:?}");
    assert!(parts.iter().any(|p| p["type"] == "reasoning"), "{parts:?}");
    // Search finds imported text.
    let found = json_of(&app, "alice", "/api/v1/search?q=median").await;
    assert!(!found["data"].as_array().expect("data").is_empty());

    // Again: nothing new, the same error.
    let again: Value = import(&app, "alice", "chatgpt", CHATGPT)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["threads_created"], 0);
    assert_eq!(again["threads_skipped"], 3);
    assert_eq!(again["messages_created"], 0);
    assert_eq!(again["errors"], report["errors"]);
    assert_eq!(threads_by_title(&app, "alice").await, threads);

    // Bob imports the same file: his own threads, other ids, Alice's untouched.
    let bobs: Value = import(&app, "bob", "chatgpt", CHATGPT)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(bobs["threads_created"], 3);
    let bob_threads = threads_by_title(&app, "bob").await;
    for ((_, alices), (_, his)) in threads.iter().zip(&bob_threads) {
        assert_ne!(alices["id"], his["id"]);
    }
    assert_eq!(threads_by_title(&app, "alice").await, threads);
}

async fn claude_and_our_own_exports_import_and_an_export_round_trips(backend: Backend) {
    let app = spawn_app(backend).await;
    let report: Value = import(&app, "alice", "claude", CLAUDE)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(report["threads_created"], 3, "{report}");
    assert_eq!(report["messages_created"], 6);
    assert_eq!(report["errors"], json!([]));
    let threads = threads_by_title(&app, "alice").await;
    let release = find(&threads, "Summarize the release notes");
    assert_eq!(release["message_count"], 4);
    let rid = release["id"].as_str().expect("id");
    let path = json_of(&app, "alice", &format!("/api/v1/threads/{rid}/messages")).await;
    let roles: Vec<&str> = path["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);

    // Our own format, the default: parts, sources, feedback, flags and expiry survive.
    let res = app
        .as_user(Method::POST, "/api/v1/me/import", "alice")
        .body(NATIVE.to_vec())
        .send()
        .await
        .expect("request");
    let native: Value = res.json().await.expect("json");
    assert_eq!(native["threads_created"], 3, "{native}");
    assert_eq!(native["messages_created"], 7);
    let threads = threads_by_title(&app, "alice").await;
    assert_eq!(
        find(&threads, "Temporary chat")["expires_at"],
        "2099-12-31T00:00:00.000000Z"
    );
    assert_eq!(find(&threads, "Temporary chat")["pinned"], true);
    assert_eq!(find(&threads, "HTTP 418")["archived"], true);
    let lisbon = find(&threads, "Weekend in Lisbon");
    let lid = lisbon["id"].as_str().expect("id");
    let all = json_of(
        &app,
        "alice",
        &format!("/api/v1/threads/{lid}/messages?branch=all"),
    )
    .await;
    let messages = all["data"].as_array().expect("data");
    assert!(
        messages
            .iter()
            .any(|m| m["feedback"]["rating"] == "up" || m["feedback"]["rating"] == "down")
    );
    assert!(
        messages
            .iter()
            .any(|m| !m["sources"].as_array().expect("sources").is_empty())
    );
    assert!(messages.iter().any(|m| m["status"] == "aborted"));

    // Alice's whole export, imported by Carol: the same threads and messages.
    let export = export_of(&app, "alice").await;
    let carols: Value = import(&app, "carol", "chat-history", &export)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(carols["threads_created"], 6, "{carols}");
    assert_eq!(carols["messages_created"], 13);
    assert_eq!(carols["errors"], json!([]));
    let theirs = threads_by_title(&app, "carol").await;
    assert_eq!(theirs.len(), threads.len());
    for ((title, a), (_, c)) in threads.iter().zip(&theirs) {
        for field in [
            "title",
            "metadata",
            "archived",
            "pinned",
            "message_count",
            "last_message_at",
            "created_at",
            "expires_at",
        ] {
            assert_eq!(a[field], c[field], "{title}: {field}");
        }
        let (aid, cid) = (a["id"].as_str().expect("id"), c["id"].as_str().expect("id"));
        let path = |user: &'static str, id: String| {
            let app = &app;
            async move {
                json_of(
                    app,
                    user,
                    &format!("/api/v1/threads/{id}/messages?limit=100"),
                )
                .await["data"]
                    .as_array()
                    .expect("data")
                    .iter()
                    .map(|m| (m["role"].clone(), m["content"].clone(), m["parts"].clone()))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            path("alice", aid.to_owned()).await,
            path("carol", cid.to_owned()).await,
            "{title}: the active path"
        );
    }
}

async fn a_file_that_is_not_whole_changes_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_import_bytes = 64 * 1024).await;
    // Cut in the middle of its last conversation: not one conversation is stored.
    let cut = &CHATGPT[..CHATGPT.len() - 200];
    let body = problem(import(&app, "alice", "chatgpt", cut).await, 400).await;
    assert_eq!(body["code"], "malformed_json");
    let res = import(&app, "alice", "chatgpt", b"{\"title\": \"not a list\"}").await;
    assert_eq!(problem(res, 422).await["code"], "validation_failed");
    for format in ["chat-history", "chatgpt", "claude"] {
        let body = problem(import(&app, "alice", format, b"").await, 422).await;
        assert_eq!(body["field"], "body", "an empty {format} body");
    }
    let res = import(&app, "alice", "word", CHATGPT).await;
    assert_eq!(problem(res, 400).await["code"], "invalid_query");
    let big = vec![b' '; 64 * 1024 + 1];
    let res = import(&app, "alice", "chatgpt", &big).await;
    assert_eq!(problem(res, 413).await["code"], "payload_too_large");
    let res = app
        .request(Method::POST, "/api/v1/me/import")
        .body(NATIVE.to_vec())
        .send()
        .await
        .expect("request");
    problem(res, 401).await;
    assert!(threads_by_title(&app, "alice").await.is_empty());
    // A chat-history file whose lines are all broken: reported line by line.
    let report: Value = import(&app, "alice", "chat-history", b"{}\nnot json\n\n[]\n")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(report["threads_created"], 0);
    let indexes: Vec<&Value> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| &e["index"])
        .collect();
    assert_eq!(indexes, [&json!(0), &json!(1), &json!(2)]);
}

async fn a_file_larger_than_a_request_body_imports_within_max_import_bytes(backend: Backend) {
    let app = spawn_app(backend).await;
    // Three messages of 900 KB: an export of about 2.7 MB, over the 2 MiB of other bodies.
    let thread = app.create_thread("alice", "long").await;
    let tid = thread["id"].as_str().expect("id");
    for _ in 0..3 {
        app.append("alice", tid, &"x".repeat(900_000)).await;
    }
    let export = export_of(&app, "alice").await;
    assert!(export.len() > 2 * 1024 * 1024, "{} bytes", export.len());
    let res = import(&app, "bob", "chat-history", &export).await;
    let status = res.status();
    let report: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["threads_created"], 1);
    assert_eq!(report["messages_created"], 3);
}

/// An import of [`NATIVE`] whose body is on its way: the headers and the first half sent,
/// the rest held back until [`finish_import`].
async fn import_in_flight(app: &TestApp, user: &str) -> TcpStream {
    let host = app.address.trim_start_matches("http://");
    let mut conn = TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /api/v1/me/import?format=chat-history HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        token(user),
        NATIVE.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(&NATIVE[..NATIVE.len() / 2])
        .await
        .expect("half");
    conn
}

/// Sends the rest of an [`import_in_flight`] and returns the response's status line.
async fn finish_import(mut conn: TcpStream) -> String {
    conn.write_all(&NATIVE[NATIVE.len() / 2..])
        .await
        .expect("rest");
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.expect("response");
    let response = String::from_utf8_lossy(&response);
    response.lines().next().unwrap_or_default().to_owned()
}

async fn a_replica_runs_two_imports_at_once_and_answers_429_beyond(backend: Backend) {
    let app = spawn_app(backend).await;
    let users = ["alice", "bob"];
    let mut flights = [
        import_in_flight(&app, users[0]).await,
        import_in_flight(&app, users[1]).await,
    ];
    // Until both imports hold their places, a probe (an empty body) is answered 422 at
    // once; then it is refused with 429 and `Retry-After`, whoever asks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let res = import(&app, "carol", "chat-history", b"").await;
        if res.status() == 429 {
            break res;
        }
        assert_eq!(res.status(), 422, "an empty body while a place is free");
        // An import that reached the server while a probe held a place was answered
        // (429): send it again. One still waiting for its body has no answer yet.
        for (flight, user) in flights.iter_mut().zip(users) {
            let mut byte = [0u8; 1];
            if !matches!(flight.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                *flight = import_in_flight(&app, user).await;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two imports never held both places"
        );
        tokio::task::yield_now().await;
    };
    let [first, second] = flights;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused, 429).await["code"], "rate_limited");
    // Each import in flight completes; the place it held is free again.
    assert!(finish_import(first).await.contains(" 200 "));
    let res = import(&app, "carol", "chat-history", b"").await;
    assert_eq!(res.status(), 422, "a place is free again");
    assert!(finish_import(second).await.contains(" 200 "));
    assert_eq!(
        threads_by_title(&app, "alice").await.len(),
        threads_by_title(&app, "bob").await.len()
    );
    assert!(!threads_by_title(&app, "bob").await.is_empty());
}
