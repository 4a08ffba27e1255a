use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    appending_a_message_returns_it_and_updates_the_threads_counters,
    messages_page_in_both_orders_without_gaps_while_others_arrive,
    a_batch_is_stored_in_order_and_all_or_none,
    a_retried_append_is_replayed_and_never_duplicated,
    editing_a_message_bumps_it_and_its_thread,
    deleting_messages_recomputes_the_threads_counters,
    message_values_round_trip_unchanged,
    invalid_messages_are_422_naming_the_field_and_store_nothing,
);

fn contents(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["content"].as_str().expect("content").to_owned())
        .collect()
}

async fn appending_a_message_returns_it_and_updates_the_threads_counters(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "chat").await;
    let tid = str_of(&thread, "id");
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages"),
            "alice",
            json!({"role": "assistant", "content": "Hello!"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("etag"));
    let location = res.headers()["location"].to_str().expect("text").to_owned();
    let message: Value = res.json().await.expect("json");
    let mid = str_of(&message, "id");
    assert_eq!(location, format!("/api/v1/threads/{tid}/messages/{mid}"));
    assert_eq!(message["thread_id"], tid);
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["sources"], json!([]));
    assert_eq!(message["metadata"], json!({}));
    assert_eq!(message["created_at"], message["updated_at"]);
    assert_eq!(
        message["parent_id"],
        Value::Null,
        "the first message is a root"
    );
    assert_eq!(
        message.get("sibling_ids"),
        None,
        "only path listings carry siblings"
    );
    assert_eq!(
        message["parts"],
        json!([{"type": "text", "text": str_of(&message, "content")}])
    );
    assert_eq!(message["status"], "complete");
    assert_eq!(message["feedback"], Value::Null);
    assert_eq!(message.as_object().expect("object").len(), 12);

    let res = app.get(&location, "alice").await;
    assert_eq!(res.json::<Value>().await.expect("json"), message);

    let res = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    let after: Value = res.json().await.expect("json");
    assert_eq!(after["message_count"], 1);
    assert_eq!(after["last_message_at"], message["created_at"]);
    assert!(str_of(&after, "updated_at") > str_of(&thread, "updated_at"));
}

async fn messages_page_in_both_orders_without_gaps_while_others_arrive(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "long").await;
    let tid = str_of(&thread, "id");
    for i in 0..5 {
        app.append("alice", tid, &format!("m{i}")).await;
    }
    let base = format!("/api/v1/threads/{tid}/messages");
    let res = app.get(&format!("{base}?limit=2"), "alice").await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(contents(&page), ["m0", "m1"]);
    app.append("alice", tid, "m5").await;
    let mut seen = contents(&page);
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let res = app
            .get(&format!("{base}?limit=2&cursor={c}"), "alice")
            .await;
        let page: Value = res.json().await.expect("json");
        seen.extend(contents(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4", "m5"]);

    let res = app
        .get(&format!("{base}?order=desc&limit=4"), "alice")
        .await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(contents(&page), ["m5", "m4", "m3", "m2"]);
    let cursor = str_of(&page, "next_cursor").to_owned();
    let res = app
        .get(
            &format!("{base}?order=desc&limit=4&cursor={cursor}"),
            "alice",
        )
        .await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(contents(&page), ["m1", "m0"]);
    assert_eq!(page["has_more"], false);

    // A cursor of the descending list is refused by the ascending one.
    let res = app.get(&format!("{base}?cursor={cursor}"), "alice").await;
    let body = problem(res, 400).await;
    assert_eq!(body["code"], "invalid_cursor");
}

async fn a_batch_is_stored_in_order_and_all_or_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "batch").await;
    let tid = str_of(&thread, "id");
    let batch_path = format!("/api/v1/threads/{tid}/messages/batch");
    let messages: Vec<Value> = (0..100)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("b{i}")}))
        .collect();
    let res = app
        .post(&batch_path, "alice", json!({ "messages": messages }))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    let stored = body["data"].as_array().expect("data");
    assert_eq!(stored.len(), 100);
    assert_eq!(stored[0]["content"], "b0");
    assert_eq!(stored[99]["content"], "b99");

    let res = app
        .get(
            &format!("/api/v1/threads/{tid}/messages?limit=100"),
            "alice",
        )
        .await;
    let page: Value = res.json().await.expect("json");
    let expected: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
    assert_eq!(contents(&page), expected);

    // One bad item: nothing of the batch is stored.
    let bad = json!({"messages": [
        {"role": "user", "content": "fine"},
        {"role": "robot", "content": "bad role"},
    ]});
    let res = app.post(&batch_path, "alice", bad).await;
    let body = problem(res, 422).await;
    assert_eq!(body["field"], "messages[1].role");
    // An id collision in the middle: nothing stored either.
    let taken = str_of(&stored[5], "id");
    let colliding = json!({"messages": [
        {"role": "user", "content": "new one"},
        {"id": taken, "role": "user", "content": "other content"},
    ]});
    let res = app.post(&batch_path, "alice", colliding).await;
    problem(res, 409).await;
    for (body, status) in [
        (json!({"messages": []}), 422),
        (
            json!({"messages": (0..101).map(|_| json!({"role": "user", "content": "x"})).collect::<Vec<_>>()}),
            422,
        ),
        (json!({}), 422),
    ] {
        problem(app.post(&batch_path, "alice", body).await, status).await;
    }
    let res = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    let after: Value = res.json().await.expect("json");
    assert_eq!(after["message_count"], 100);
    assert_eq!(after["last_message_at"], stored[99]["created_at"]);

    // A batch retried with the same ids is replayed.
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let with_ids = json!({"messages": ids.iter().map(|id| json!({"id": id, "role": "user", "content": id})).collect::<Vec<_>>()});
    let res = app.post(&batch_path, "alice", with_ids.clone()).await;
    assert_eq!(res.status(), 201);
    let res = app.post(&batch_path, "alice", with_ids).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let res = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    assert_eq!(
        res.json::<Value>().await.expect("json")["message_count"],
        103
    );
}

async fn a_retried_append_is_replayed_and_never_duplicated(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "retry").await;
    let other = app.create_thread("alice", "other").await;
    let tid = str_of(&thread, "id");
    let path = format!("/api/v1/threads/{tid}/messages");
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({"id": id, "role": "user", "content": "once", "sources": []});
    let first = app.post(&path, "alice", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    // Omitted sources equal the stored default.
    let same = json!({"id": id, "role": "user", "content": "once"});
    let replay = app.post(&path, "alice", same).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.expect("json"), first);

    let changed = json!({"id": id, "role": "user", "content": "twice"});
    let body409 = problem(app.post(&path, "alice", changed).await, 409).await;
    assert_eq!(body409["code"], "idempotency_conflict");

    let elsewhere = format!("/api/v1/threads/{}/messages", str_of(&other, "id"));
    let body409 = problem(app.post(&elsewhere, "alice", body.clone()).await, 409).await;
    assert_eq!(body409["code"], "id_conflict");

    let bobs = app.create_thread("bob", "bob").await;
    let bobs_path = format!("/api/v1/threads/{}/messages", str_of(&bobs, "id"));
    let body409 = problem(app.post(&bobs_path, "bob", body).await, 409).await;
    assert_eq!(body409["code"], "id_conflict");
    assert!(!body409.to_string().contains("once"));

    let res = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    assert_eq!(res.json::<Value>().await.expect("json")["message_count"], 1);
}

async fn editing_a_message_bumps_it_and_its_thread(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "edit").await;
    let tid = str_of(&thread, "id");
    let message = app.append("alice", tid, "draft").await;
    let path = format!("/api/v1/threads/{tid}/messages/{}", str_of(&message, "id"));
    let before = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    let before: Value = before.json().await.expect("json");

    let res = app
        .patch(
            &path,
            "alice",
            json!({"content": "final", "sources": [{"url": "https://x.example"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().expect("text").to_owned();
    let edited: Value = res.json().await.expect("json");
    assert_eq!(edited["content"], "final");
    assert_eq!(edited["sources"], json!([{"url": "https://x.example"}]));
    assert_eq!(edited["created_at"], message["created_at"]);
    assert!(str_of(&edited, "updated_at") > str_of(&message, "updated_at"));

    let after = app.get(&format!("/api/v1/threads/{tid}"), "alice").await;
    let after: Value = after.json().await.expect("json");
    assert!(str_of(&after, "updated_at") > str_of(&before, "updated_at"));
    assert_eq!(after["message_count"], 1);

    let stale = app
        .as_user(Method::PATCH, &path, "alice")
        .header("If-Match", "\"1\"")
        .json(&json!({"content": "lost"}))
        .send()
        .await
        .expect("request");
    problem(stale, 412).await;
    let ok = app
        .as_user(Method::PATCH, &path, "alice")
        .header("If-Match", &etag)
        .json(&json!({"metadata": {"rating": 5}}))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    let body = problem(
        app.patch(&path, "alice", json!({"content": null})).await,
        422,
    )
    .await;
    assert_eq!(body["field"], "content");
    let body = problem(
        app.patch(&path, "alice", json!({"role": "user", "sources": {}}))
            .await,
        422,
    )
    .await;
    assert_eq!(body["field"], "sources");
}

async fn deleting_messages_recomputes_the_threads_counters(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "del").await;
    let tid = str_of(&thread, "id");
    let first = app.append("alice", tid, "one").await;
    let second = app.append("alice", tid, "two").await;
    let path = |m: &Value| format!("/api/v1/threads/{tid}/messages/{}", str_of(m, "id"));

    assert_eq!(app.delete(&path(&second), "alice").await.status(), 204);
    let t: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(t["message_count"], 1);
    assert_eq!(t["last_message_at"], first["created_at"]);

    assert_eq!(app.delete(&path(&first), "alice").await.status(), 204);
    let t: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(t["message_count"], 0);
    assert_eq!(t["last_message_at"], Value::Null);
    let body = problem(app.get(&path(&first), "alice").await, 404).await;
    assert_eq!(body["code"], "message_not_found");
    problem(app.delete(&path(&first), "alice").await, 404).await;

    // Deleting the thread deletes its messages.
    let third = app.append("alice", tid, "three").await;
    assert_eq!(
        app.delete(&format!("/api/v1/threads/{tid}"), "alice")
            .await
            .status(),
        204
    );
    problem(app.get(&path(&third), "alice").await, 404).await;
}

async fn message_values_round_trip_unchanged(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "unicode").await;
    let tid = str_of(&thread, "id");
    let content = "Héllo 👋 — 你好 — مرحبا — \"quotes\" \\ back\nslash\ttab";
    let sources = json!([
        {"title": "Ünïcode", "url": "https://example.com/a?b=c", "snippet": "…"},
        {"nested": {"deep": [1, 2.5, true, null, {"k": "v"}]}},
    ]);
    let metadata = json!({"model": "gpt", "tokens": {"in": 12, "out": 40}, "tags": ["a", "b"]});
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages"),
            "alice",
            json!({"role": "tool", "content": content, "sources": sources, "metadata": metadata}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    let read: Value = app
        .get(
            &format!("/api/v1/threads/{tid}/messages/{}", str_of(&created, "id")),
            "alice",
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["content"], content);
    assert_eq!(read["sources"], sources);
    assert_eq!(read["metadata"], metadata);
    assert_eq!(read["role"], "tool");
}

async fn invalid_messages_are_422_naming_the_field_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "v").await;
    let tid = str_of(&thread, "id");
    let path = format!("/api/v1/threads/{tid}/messages");
    let cases = [
        (json!({"content": "no role"}), "role"),
        (json!({"role": "user"}), "content"),
        (json!({"role": "bot", "content": "x"}), "role"),
        (json!({"role": "user", "content": 1}), "content"),
        (json!({"role": "user", "content": "a\u{0}b"}), "content"),
        (
            json!({"role": "user", "content": "x", "sources": {}}),
            "sources",
        ),
        (
            json!({"role": "user", "content": "x", "sources": [1]}),
            "sources[0]",
        ),
        (
            json!({"role": "user", "content": "x", "sources": null}),
            "sources",
        ),
        (
            json!({"role": "user", "content": "x", "metadata": []}),
            "metadata",
        ),
        (json!({"role": "user", "content": "x", "id": "nope"}), "id"),
        (
            json!({"role": "user", "content": "x".repeat(1024 * 1024)}),
            "content",
        ),
    ];
    for (body, field) in cases {
        let res = app.post(&path, "alice", body.clone()).await;
        let problem = problem(res, 422).await;
        assert_eq!(
            problem["field"],
            field,
            "{}",
            &body.to_string()[..body.to_string().len().min(80)]
        );
    }
    let t: Value = app
        .get(&format!("/api/v1/threads/{tid}"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(t["message_count"], 0);
}
