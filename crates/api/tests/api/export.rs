use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    a_json_export_is_the_whole_thread_in_order_as_an_attachment,
    a_markdown_export_lists_messages_with_their_sources_as_links,
    exports_of_other_users_or_in_unknown_formats_are_refused,
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
