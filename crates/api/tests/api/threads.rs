use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    creating_a_thread_answers_201_with_location_etag_and_defaults,
    a_thread_can_be_read_renamed_and_deleted,
    archiving_and_pinning_move_threads_between_filtered_lists,
    thread_lists_page_by_most_recent_update_with_cursors,
    repeating_a_create_with_the_same_id_and_body_replays_it,
    a_stale_if_match_is_412_and_a_current_one_updates,
    null_and_wrongly_typed_fields_are_422_naming_the_field,
);

fn is_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 27 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

async fn creating_a_thread_answers_201_with_location_etag_and_defaults(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.post("/api/v1/threads", "alice", json!({})).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().expect("text").to_owned();
    let etag = res.headers()["etag"].to_str().expect("text").to_owned();
    assert_eq!(
        res.headers()["content-type"].to_str().expect("text"),
        "application/json"
    );
    let thread: Value = res.json().await.expect("json");
    let id = str_of(&thread, "id");
    assert_eq!(location, format!("/api/v1/threads/{id}"));
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("uuid").get_version_num(),
        7
    );
    assert_eq!(id, id.to_lowercase());
    assert_eq!(thread["title"], "");
    assert_eq!(thread["metadata"], json!({}));
    assert_eq!(thread["archived"], false);
    assert_eq!(thread["pinned"], false);
    assert_eq!(thread["message_count"], 0);
    assert_eq!(thread["last_message_at"], Value::Null);
    assert_eq!(thread["active_leaf_id"], Value::Null);
    assert_eq!(thread["active_stream_id"], Value::Null);
    assert_eq!(thread["expires_at"], Value::Null);
    assert!(is_timestamp(&thread["created_at"]) && is_timestamp(&thread["updated_at"]));
    let keys: Vec<&String> = thread.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 12, "exactly the contract's fields: {keys:?}");

    let res = app.get(&location, "alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"].to_str().expect("text"), etag);
    assert_eq!(res.json::<Value>().await.expect("json"), thread);
}

async fn a_thread_can_be_read_renamed_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "First").await;
    let path = format!("/api/v1/threads/{}", str_of(&thread, "id"));

    let res = app
        .patch(
            &path,
            "alice",
            json!({"title": "Renamed ✈️", "metadata": {"model": "x"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.expect("json");
    assert_eq!(updated["title"], "Renamed ✈️");
    assert_eq!(updated["metadata"], json!({"model": "x"}));
    assert!(str_of(&updated, "updated_at") > str_of(&thread, "updated_at"));
    assert_eq!(updated["created_at"], thread["created_at"]);

    // PATCH replaces only what it names.
    let res = app.patch(&path, "alice", json!({"metadata": {}})).await;
    let again: Value = res.json().await.expect("json");
    assert_eq!(again["title"], "Renamed ✈️");
    assert_eq!(again["metadata"], json!({}));

    let res = app.delete(&path, "alice").await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.expect("body"), "");
    let body = problem(app.get(&path, "alice").await, 404).await;
    assert_eq!(body["code"], "thread_not_found");
    problem(app.delete(&path, "alice").await, 404).await;
}

async fn archiving_and_pinning_move_threads_between_filtered_lists(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_thread("alice", "a").await;
    let b = app.create_thread("alice", "b").await;
    let a_path = format!("/api/v1/threads/{}", str_of(&a, "id"));
    let b_path = format!("/api/v1/threads/{}", str_of(&b, "id"));
    let res = app.patch(&a_path, "alice", json!({"archived": true})).await;
    assert_eq!(res.json::<Value>().await.expect("json")["archived"], true);
    let res = app.patch(&b_path, "alice", json!({"pinned": true})).await;
    assert_eq!(res.json::<Value>().await.expect("json")["pinned"], true);

    let titles = |query: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/api/v1/threads{query}"), "alice").await;
            assert_eq!(res.status(), 200, "{query}");
            let page: Value = res.json().await.expect("json");
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|t| t["title"].as_str().expect("title").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(titles("").await, ["b"]);
    assert_eq!(titles("?archived=false").await, ["b"]);
    assert_eq!(titles("?archived=true").await, ["a"]);
    assert_eq!(titles("?archived=all").await, ["b", "a"]);
    assert_eq!(titles("?archived=all&pinned=true").await, ["b"]);
    assert_eq!(titles("?archived=all&pinned=false").await, ["a"]);

    let res = app
        .patch(&a_path, "alice", json!({"archived": false}))
        .await;
    assert_eq!(res.json::<Value>().await.expect("json")["archived"], false);
    assert_eq!(titles("").await, ["a", "b"]);
}

async fn thread_lists_page_by_most_recent_update_with_cursors(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = app.create_thread("alice", &format!("t{i}")).await;
        ids.push(str_of(&t, "id").to_owned());
    }
    let res = app.get("/api/v1/threads?limit=2", "alice").await;
    let first: Value = res.json().await.expect("json");
    assert_eq!(first["has_more"], true);
    let titles = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|t| t["title"].as_str().expect("title").to_owned())
            .collect()
    };
    assert_eq!(titles(&first), ["t4", "t3"]);

    // A new thread arrives between pages: it is first in a new listing, and the open
    // pagination neither repeats nor skips anything.
    app.create_thread("alice", "t5").await;
    let cursor = str_of(&first, "next_cursor");
    let res = app
        .get(&format!("/api/v1/threads?limit=2&cursor={cursor}"), "alice")
        .await;
    let second: Value = res.json().await.expect("json");
    assert_eq!(titles(&second), ["t2", "t1"]);
    let cursor = str_of(&second, "next_cursor");
    let res = app
        .get(&format!("/api/v1/threads?limit=2&cursor={cursor}"), "alice")
        .await;
    let third: Value = res.json().await.expect("json");
    assert_eq!(titles(&third), ["t0"]);
    assert_eq!(third["has_more"], false);
    assert_eq!(third["next_cursor"], Value::Null);

    // Updating a thread moves it to the front.
    app.patch(
        &format!("/api/v1/threads/{}", ids[0]),
        "alice",
        json!({"title": "t0!"}),
    )
    .await;
    let res = app.get("/api/v1/threads?limit=1", "alice").await;
    assert_eq!(titles(&res.json::<Value>().await.expect("json")), ["t0!"]);

    // Default page size is 20.
    for i in 0..20 {
        app.create_thread("alice", &format!("more{i}")).await;
    }
    let res = app.get("/api/v1/threads", "alice").await;
    assert_eq!(titles(&res.json::<Value>().await.expect("json")).len(), 20);
}

async fn repeating_a_create_with_the_same_id_and_body_replays_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"id": id, "title": "Plans", "metadata": {"a": [1, 2]}});
    let res = app.post("/api/v1/threads", "alice", body.clone()).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    assert_eq!(created["id"], id.as_str());

    let res = app.post("/api/v1/threads", "alice", body.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.expect("json"), created);

    let changed = json!({"id": id, "title": "Other plans"});
    let conflict = problem(app.post("/api/v1/threads", "alice", changed).await, 409).await;
    assert_eq!(conflict["code"], "idempotency_conflict");

    let taken = problem(app.post("/api/v1/threads", "bob", body).await, 409).await;
    assert_eq!(taken["code"], "id_conflict");
    assert!(!taken.to_string().contains("Plans"));

    let res = app.get("/api/v1/threads", "alice").await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(page["data"].as_array().expect("data").len(), 1);

    // No tombstones: after a delete the id can be used again.
    app.delete(&format!("/api/v1/threads/{id}"), "alice").await;
    let res = app
        .post(
            "/api/v1/threads",
            "bob",
            json!({"id": id, "title": "Bob's"}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

async fn a_stale_if_match_is_412_and_a_current_one_updates(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .post("/api/v1/threads", "alice", json!({"title": "v1"}))
        .await;
    let etag = res.headers()["etag"].to_str().expect("text").to_owned();
    let thread: Value = res.json().await.expect("json");
    let path = format!("/api/v1/threads/{}", str_of(&thread, "id"));

    let res = app
        .as_user(Method::GET, &path, "alice")
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 304);

    let res = app
        .as_user(Method::PATCH, &path, "alice")
        .header("If-Match", &etag)
        .json(&json!({"title": "v2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().expect("text").to_owned();
    assert_ne!(new_etag, etag);

    for stale in [etag.as_str(), "\"1\"", "W/\"1\"", "garbage"] {
        let res = app
            .as_user(Method::PATCH, &path, "alice")
            .header("If-Match", stale)
            .json(&json!({"title": "lost update"}))
            .send()
            .await
            .expect("request");
        let body = problem(res, 412).await;
        assert_eq!(body["code"], "precondition_failed");
    }
    let res = app.get(&path, "alice").await;
    assert_eq!(res.json::<Value>().await.expect("json")["title"], "v2");

    let res = app
        .as_user(Method::PATCH, &path, "alice")
        .header("If-Match", "*")
        .json(&json!({"title": "v3"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
}

async fn null_and_wrongly_typed_fields_are_422_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "keep").await;
    let path = format!("/api/v1/threads/{}", str_of(&thread, "id"));
    let cases = [
        (json!({"title": null}), "title"),
        (json!({"metadata": null}), "metadata"),
        (json!({"archived": null}), "archived"),
        (json!({"title": 5}), "title"),
        (json!({"archived": "yes"}), "archived"),
        (json!({"metadata": [1]}), "metadata"),
        (json!({"title": "x".repeat(513)}), "title"),
        (json!({"title": "nul\u{0}"}), "title"),
        (
            json!({"metadata": {"big": "x".repeat(16 * 1024)}}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let res = app.patch(&path, "alice", body.clone()).await;
        let problem = problem(res, 422).await;
        assert_eq!(problem["code"], "validation_failed", "{body}");
        assert_eq!(problem["field"], field, "{body}");
    }
    for (body, field) in [
        (json!({"title": null}), "title"),
        (json!({"id": "not-a-uuid"}), "id"),
        (json!([]), "body"),
        (json!({"metadata": "x"}), "metadata"),
    ] {
        let res = app.post("/api/v1/threads", "alice", body.clone()).await;
        let problem = problem(res, 422).await;
        assert_eq!(problem["field"], field, "{body}");
    }
    let res = app.get(&path, "alice").await;
    let unchanged: Value = res.json().await.expect("json");
    assert_eq!(unchanged, thread, "rejected updates change nothing");
    let res = app.get("/api/v1/threads", "alice").await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(page["data"].as_array().expect("data").len(), 1);
}
