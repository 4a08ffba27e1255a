//! Inputs found by fuzzing (schemathesis) that broke the service once, kept as tests.

use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, spawn_app, str_of};

on_both_backends!(extreme_json_numbers_are_stored_and_read_back_exactly);

/// PostgreSQL's jsonb keeps numbers as decimals and prints them without an exponent: a
/// number near `f64::MAX` came back as 309 digits that serde_json's default parser could
/// not read ("number out of range"), so the message, and every list and export of its
/// thread, answered 500 for ever after its 201.
async fn extreme_json_numbers_are_stored_and_read_back_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "numbers").await;
    let tid = str_of(&thread, "id");
    let numbers = json!({
        "max": f64::MAX,
        "min": f64::MIN,
        "tiny": 5e-324,
        "small": 1.5e-300,
        "huge_integer": 1.234_567_890_123_456_8e29,
        "u64": u64::MAX,
        "i64": i64::MIN,
        "fraction": 0.1,
    });
    let body = json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "role": "assistant",
        "content": "numbers",
        "sources": [numbers.clone()],
        "metadata": numbers.clone(),
    });
    let path = format!("/api/v1/threads/{tid}/messages");
    let created = app.post(&path, "alice", body.clone()).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");

    let page: Value = app.get(&path, "alice").await.json().await.expect("a page");
    assert_eq!(page["data"][0]["metadata"], numbers);
    assert_eq!(page["data"][0]["sources"], json!([numbers]));
    // A path listing adds `sibling_ids`; everything else is the created message.
    let mut listed = page["data"][0].clone();
    assert_eq!(listed["sibling_ids"], json!([created["id"]]));
    listed
        .as_object_mut()
        .expect("object")
        .remove("sibling_ids");
    assert_eq!(listed, created);
    let export = app
        .get(&format!("/api/v1/threads/{tid}/export"), "alice")
        .await;
    assert_eq!(export.status(), 200);
    let export: Value = export.json().await.expect("the whole export");
    assert_eq!(export["messages"][0], created);
    // A retry of the same append is recognised as the same message.
    let replay = app.post(&path, "alice", body).await;
    assert_eq!(replay.status(), 200, "replayed, not a conflict");

    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "numbers", "metadata": numbers}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let threads: Value = app
        .get("/api/v1/threads", "alice")
        .await
        .json()
        .await
        .expect("a page");
    assert_eq!(threads["data"][0]["metadata"], numbers);
}
