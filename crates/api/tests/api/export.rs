use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    a_json_export_is_the_whole_thread_in_order_as_an_attachment,
    a_markdown_export_lists_messages_with_their_sources_as_links,
    exports_of_other_users_or_in_unknown_formats_are_refused,
    the_history_export_is_every_thread_of_the_caller_one_per_line,
);

async fn a_json_export_is_the_whole_thread_in_order_as_an_attachment(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "Long talk").await;
    let tid = str_of(&thread, "id");
    // More than one internal page (100) of messages.
    for chunk in 0..3 {
        let messages: Vec<Value> = (0..90)
            .map(|i| {
                json!({"role": "user", "content": format!("m{}", chunk * 90 + i),
                       "sources": [{"title": "T", "url": "https://e.example"}]})
            })
            .collect();
        let res = app
            .post(
                &format!("/api/v1/threads/{tid}/messages/batch"),
                "alice",
                json!({ "messages": messages }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .get(&format!("/api/v1/threads/{tid}/export"), "alice")
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.headers()["content-disposition"].to_str().expect("text"),
        format!("attachment; filename=\"thread-{tid}.json\"")
    );
    let export: Value = res.json().await.expect("one JSON document");
    assert_eq!(export["thread"]["id"], tid);
    assert_eq!(export["thread"]["message_count"], 270);
    let messages = export["messages"].as_array().expect("messages");
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    let expected: Vec<String> = (0..270).map(|i| format!("m{i}")).collect();
    assert_eq!(contents, expected);
    assert_eq!(messages[0]["sources"][0]["url"], "https://e.example");

    let res = app
        .get(
            &format!("/api/v1/threads/{tid}/export?format=json"),
            "alice",
        )
        .await;
    assert_eq!(res.status(), 200);
    let empty = app.create_thread("alice", "empty").await;
    let res = app
        .get(
            &format!("/api/v1/threads/{}/export", str_of(&empty, "id")),
            "alice",
        )
        .await;
    let export: Value = res.json().await.expect("json");
    assert_eq!(export["messages"], json!([]));
}

async fn a_markdown_export_lists_messages_with_their_sources_as_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "Lisbon trip").await;
    let tid = str_of(&thread, "id");
    app.post(
        &format!("/api/v1/threads/{tid}/messages/batch"),
        "alice",
        json!({"messages": [
            {"role": "user", "content": "Where to eat?"},
            {"role": "assistant", "content": "Try **Alfama**.",
             "sources": [{"title": "Guide", "url": "https://example.com/alfama", "snippet": "Old town"}]},
        ]}),
    )
    .await;
    let res = app
        .get(
            &format!("/api/v1/threads/{tid}/export?format=markdown"),
            "alice",
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        res.headers()["content-disposition"].to_str().expect("text"),
        format!("attachment; filename=\"thread-{tid}.md\"")
    );
    let text = res.text().await.expect("text");
    assert!(text.starts_with("# Lisbon trip\n"), "{text}");
    let question = text.find("Where to eat?").expect("first message");
    let answer = text.find("Try **Alfama**.").expect("second message");
    assert!(question < answer, "in order");
    assert!(
        text.contains("- [Guide](<https://example.com/alfama>): Old town"),
        "{text}"
    );
    assert!(text.contains("## user") && text.contains("## assistant"));
}

async fn exports_of_other_users_or_in_unknown_formats_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "private").await;
    let tid = str_of(&thread, "id");
    let theirs = problem(
        app.get(&format!("/api/v1/threads/{tid}/export"), "mallory")
            .await,
        404,
    )
    .await;
    let missing = problem(
        app.get(
            &format!("/api/v1/threads/{}/export", uuid::Uuid::now_v7()),
            "mallory",
        )
        .await,
        404,
    )
    .await;
    assert_eq!(theirs, missing);
    let body = problem(
        app.get(&format!("/api/v1/threads/{tid}/export?format=pdf"), "alice")
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_query");
}

async fn the_history_export_is_every_thread_of_the_caller_one_per_line(backend: Backend) {
    let app = spawn_app(backend).await;
    // Nothing yet: an empty file.
    let res = app.get("/api/v1/me/export", "alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "");

    // 120 threads (more than a page of the walk), one with 250 messages on two branches
    // (more than a page of messages), one archived, one temporary and expired, and Bob's.
    let mut ids = Vec::new();
    for i in 0..120 {
        let thread = app.create_thread("alice", &format!("t{i}")).await;
        ids.push(str_of(&thread, "id").to_owned());
    }
    let long = ids[7].clone();
    for chunk in 0..3 {
        let messages: Vec<Value> = (0..80)
            .map(|i| json!({"role": "user", "content": format!("m{}", chunk * 80 + i)}))
            .collect();
        let res = app
            .post(
                &format!("/api/v1/threads/{long}/messages/batch"),
                "alice",
                json!({ "messages": messages }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let first: Value = app
        .get(&format!("/api/v1/threads/{long}/messages?limit=1"), "alice")
        .await
        .json()
        .await
        .expect("json");
    let root = first["data"][0]["id"].clone();
    for i in 0..10 {
        let res = app
            .post(
                &format!("/api/v1/threads/{long}/messages"),
                "alice",
                json!({"role": "assistant", "content": format!("alt {i}"), "parent_id": root}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .patch(
            &format!("/api/v1/threads/{}", ids[3]),
            "alice",
            json!({"archived": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "temporary", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    let expired = str_of(&res.json::<Value>().await.expect("json"), "id").to_owned();
    app.db.expire(&expired).await;
    app.create_thread("bob", "bob's").await;

    let res = app.get("/api/v1/me/export", "alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("text"),
        "application/x-ndjson"
    );
    assert_eq!(
        res.headers()["content-disposition"].to_str().expect("text"),
        "attachment; filename=\"chat-history.ndjson\""
    );
    let body = res.text().await.expect("body");
    assert!(body.ends_with('\n'));
    let lines: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    // Every thread of Alice's, archived too, expired not; in id order.
    let exported: Vec<&str> = lines.iter().map(|l| str_of(&l["thread"], "id")).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(exported, expected);
    for line in &lines {
        let tid = str_of(&line["thread"], "id");
        // Each line's thread is what GET answers, its messages what the full listing has.
        let thread: Value = app
            .get(&format!("/api/v1/threads/{tid}"), "alice")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(line["thread"], thread);
        let messages = line["messages"].as_array().expect("messages");
        assert_eq!(
            messages.len() as u64,
            thread["message_count"].as_u64().expect("count")
        );
    }
    let long_line = lines
        .iter()
        .find(|l| l["thread"]["id"] == json!(long))
        .expect("the long thread");
    let messages = long_line["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 250);
    let keys: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            (
                str_of(m, "created_at").to_owned(),
                str_of(m, "id").to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "messages in created_at, id order");
    assert_eq!(
        messages.iter().filter(|m| m["parent_id"] == root).count(),
        11,
        "both branches"
    );

    // Bob sees only his own; no credentials is 401.
    let bobs = app
        .get("/api/v1/me/export", "bob")
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(bobs.lines().count(), 1);
    let res = app
        .request(reqwest::Method::GET, "/api/v1/me/export")
        .send()
        .await
        .expect("request");
    problem(res, 401).await;
}
