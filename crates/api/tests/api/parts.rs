//! AI SDK messages (API.md Part 2, "Message parts and the reply lifecycle"): `parts` and
//! the `content` defaulting rules, `status`, `PUT` create-or-replace, `active_stream_id`,
//! feedback, and what fork, search and export make of them, on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    content_and_parts_default_from_each_other_on_create,
    parts_are_stored_verbatim_whatever_their_type,
    bad_parts_and_statuses_are_refused_and_change_nothing,
    patch_rederives_the_other_of_content_and_parts,
    put_creates_a_new_id_as_an_append_would,
    put_replaces_an_existing_message_in_place,
    put_refuses_a_changed_role_or_parent_and_foreign_ids,
    put_honours_if_match_also_before_the_message_exists,
    active_stream_id_is_set_and_cleared_without_moving_updated_at,
    feedback_is_set_replaced_and_cleared_without_moving_updated_at,
    fork_copies_parts_and_status_but_not_feedback,
    search_and_markdown_read_what_the_parts_say,
    a_replay_compares_parts_and_status_too,
    concurrent_puts_of_one_new_id_create_it_once,
);

fn messages_path(thread: &str) -> String {
    format!("/api/v1/threads/{thread}/messages")
}

fn message_path(thread: &str, message: &str) -> String {
    format!("/api/v1/threads/{thread}/messages/{message}")
}

/// A reply as the AI SDK builds one: reasoning, a tool call with its result, a source,
/// text, and a part type this service has never heard of.
fn sdk_parts() -> Value {
    json!([
        {"type": "step-start"},
        {"type": "reasoning", "text": "The user wants the weather.", "state": "done"},
        {"type": "tool-weather", "toolCallId": "call_1", "state": "output-available",
         "input": {"city": "Oslo"}, "output": {"celsius": -3}},
        {"type": "source-url", "sourceId": "s1", "url": "https://met.no/oslo", "title": "MET"},
        {"type": "text", "text": "It is -3 °C in Oslo.", "state": "done"},
        {"type": "data-chart", "id": "c1", "data": {"points": [1, 2, 3]}},
        {"type": "text", "text": "Dress warmly."},
        {"type": "x-from-the-future", "anything": [null, true, 1.5]}
    ])
}

async fn create(app: &TestApp, thread: &str, body: Value) -> Value {
    let res = app.post(&messages_path(thread), "alice", body).await;
    assert_eq!(res.status(), 201);
    res.json().await.expect("json")
}

async fn put(app: &TestApp, thread: &str, id: &str, body: Value) -> (u16, Value) {
    let res = app.put(&message_path(thread, id), "alice", body).await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn get_message(app: &TestApp, thread: &str, id: &str) -> Value {
    let res = app.get(&message_path(thread, id), "alice").await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn get_thread(app: &TestApp, thread: &str) -> Value {
    let res = app.get(&format!("/api/v1/threads/{thread}"), "alice").await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn content_and_parts_default_from_each_other_on_create(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();

    let m = create(&app, &tid, json!({"role": "user", "content": "hello"})).await;
    assert_eq!(m["parts"], json!([{"type": "text", "text": "hello"}]));
    assert_eq!(m["status"], "complete");
    let empty = create(&app, &tid, json!({"role": "assistant", "content": ""})).await;
    assert_eq!(empty["parts"], json!([]));

    let m = create(
        &app,
        &tid,
        json!({"role": "assistant", "parts": sdk_parts()}),
    )
    .await;
    assert_eq!(m["content"], "It is -3 °C in Oslo.\n\nDress warmly.");
    assert_eq!(m["parts"], sdk_parts());

    let m = create(
        &app,
        &tid,
        json!({"role": "assistant", "content": "my own summary", "parts": sdk_parts()}),
    )
    .await;
    assert_eq!(m["content"], "my own summary");
    assert_eq!(m["parts"], sdk_parts());
    assert_eq!(get_message(&app, &tid, str_of(&m, "id")).await, m);

    let res = app
        .post(&messages_path(&tid), "alice", json!({"role": "user"}))
        .await;
    let p = problem(res, 422).await;
    assert_eq!(p["field"], "content");
    assert_eq!(get_thread(&app, &tid).await["message_count"], 4);
}

async fn parts_are_stored_verbatim_whatever_their_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    // Key order, nesting, numbers and unicode survive a round trip; only meaning counts.
    let odd = json!([
        {"z": 1, "type": "text", "text": "é\n\"q\" 🦀", "a": {"deep": [1e-7, -0.0, 12_345_678_901_234_i64]}},
        {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,iVBORw0K", "filename": "a.png"}
    ]);
    let m = create(&app, &tid, json!({"role": "user", "parts": odd})).await;
    let read = get_message(&app, &tid, str_of(&m, "id")).await;
    assert_eq!(read["parts"], odd);
    assert_eq!(read["content"], "é\n\"q\" 🦀");
    // A page's items are UIMessages as they are: {id, role, parts, metadata}.
    let page: Value = app
        .get(&messages_path(&tid), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"][0]["parts"], odd);
    assert_eq!(page["data"][0]["metadata"], json!({}));
}

async fn bad_parts_and_statuses_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let m = app.append("alice", &tid, "keep").await;
    let mid = str_of(&m, "id").to_owned();
    for (parts, field) in [
        (json!({"type": "text"}), "parts"),
        (json!("text"), "parts"),
        (json!([1]), "parts"),
        (json!([{"text": "no type"}]), "parts"),
        (json!([{"type": 7}]), "parts"),
        (json!([{"type": "text", "text": "nul\u{0}"}]), "parts"),
        (json!(null), "parts"),
    ] {
        let res = app
            .post(
                &messages_path(&tid),
                "alice",
                json!({"role": "user", "parts": parts}),
            )
            .await;
        let p = problem(res, 422).await;
        assert_eq!(p["field"], field, "{parts}");
        let res = app
            .patch(&message_path(&tid, &mid), "alice", json!({"parts": parts}))
            .await;
        assert_eq!(problem(res, 422).await["field"], field, "{parts}");
    }
    for status in [json!("done"), json!(null), json!(1)] {
        let res = app
            .post(
                &messages_path(&tid),
                "alice",
                json!({"role": "user", "content": "x", "status": status}),
            )
            .await;
        assert_eq!(problem(res, 422).await["field"], "status");
    }
    let big = "x".repeat(1024 * 1024);
    let res = app
        .post(
            &messages_path(&tid),
            "alice",
            json!({"role": "user", "parts": [{"type": "text", "text": big}]}),
        )
        .await;
    assert_eq!(problem(res, 422).await["field"], "parts");
    assert_eq!(get_thread(&app, &tid).await["message_count"], 1);
    assert_eq!(get_message(&app, &tid, &mid).await, m);
}

async fn patch_rederives_the_other_of_content_and_parts(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let m = create(
        &app,
        &tid,
        json!({"role": "assistant", "parts": sdk_parts()}),
    )
    .await;
    let path = message_path(&tid, str_of(&m, "id"));

    let edited: Value = app
        .patch(&path, "alice", json!({"content": "plain now"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        edited["parts"],
        json!([{"type": "text", "text": "plain now"}])
    );

    let parts = json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]);
    let edited: Value = app
        .patch(&path, "alice", json!({"parts": parts, "status": "aborted"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(edited["content"], "a\n\nb");
    assert_eq!(edited["status"], "aborted");

    let edited: Value = app
        .patch(
            &path,
            "alice",
            json!({"content": "c", "parts": sdk_parts()}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&edited["content"], &edited["parts"]),
        (&json!("c"), &sdk_parts())
    );
    // Editing metadata alone leaves both as they are.
    let edited: Value = app
        .patch(&path, "alice", json!({"metadata": {"k": 1}}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&edited["content"], &edited["parts"]),
        (&json!("c"), &sdk_parts())
    );
    assert_eq!(edited["status"], "aborted");
}

async fn put_creates_a_new_id_as_an_append_would(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let question = app.append("alice", &tid, "weather?").await;
    let id = uuid::Uuid::new_v4().to_string();
    let res = app
        .put(
            &message_path(&tid, &id),
            "alice",
            json!({"role": "assistant", "parts": [{"type": "text", "text": "It is"}], "status": "streaming"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(message_path(&tid, &id).as_str())
    );
    assert!(res.headers().get("etag").is_some());
    let reply: Value = res.json().await.expect("json");
    assert_eq!(reply["id"], id);
    assert_eq!(reply["status"], "streaming");
    assert_eq!(reply["content"], "It is");
    assert_eq!(
        reply["parent_id"], question["id"],
        "the parent rule of an append"
    );
    let thread = get_thread(&app, &tid).await;
    assert_eq!(thread["active_leaf_id"], id);
    assert_eq!(thread["message_count"], 2);
    assert_eq!(thread["last_message_at"], reply["created_at"]);

    // An `id` in the body equal to the path's is fine; another is 422.
    let other = uuid::Uuid::new_v4().to_string();
    let (status, _) = put(
        &app,
        &tid,
        &other,
        json!({"id": other, "role": "user", "content": "x", "parent_id": null}),
    )
    .await;
    assert_eq!(status, 201);
    let res = app
        .put(
            &message_path(&tid, &uuid::Uuid::new_v4().to_string()),
            "alice",
            json!({"id": other, "role": "user", "content": "x"}),
        )
        .await;
    assert_eq!(problem(res, 422).await["field"], "id");
    // A parent that is not in the thread: as on append.
    let res = app
        .put(
            &message_path(&tid, &uuid::Uuid::new_v4().to_string()),
            "alice",
            json!({"role": "user", "content": "x", "parent_id": uuid::Uuid::new_v4()}),
        )
        .await;
    let p = problem(res, 422).await;
    assert_eq!(
        (&p["code"], &p["field"]),
        (&json!("unknown_message"), &json!("parent_id"))
    );
    // A thread that is not there.
    let res = app
        .put(
            &message_path(&uuid::Uuid::new_v4().to_string(), &id),
            "alice",
            json!({"role": "user", "content": "x"}),
        )
        .await;
    assert_eq!(problem(res, 404).await["code"], "thread_not_found");
}

async fn put_replaces_an_existing_message_in_place(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    app.append("alice", &tid, "weather?").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut last = None;
    // The reply as it grows, then complete.
    for (i, text) in ["It", "It is", "It is -3 °C."].into_iter().enumerate() {
        let (status, reply) = put(
            &app,
            &tid,
            &id,
            json!({"role": "assistant", "parts": [{"type": "text", "text": text}], "status": "streaming", "metadata": {"n": i}}),
        )
        .await;
        assert_eq!(status, if i == 0 { 201 } else { 200 });
        assert_eq!(reply["content"], text);
        last = Some(reply);
    }
    let streaming = last.expect("a reply");
    // The user moves on: the next question becomes the active leaf. A later PUT of the
    // reply must not move it back.
    let next = app.append("alice", &tid, "another question").await;
    let before = get_thread(&app, &tid).await;
    assert_eq!(before["active_leaf_id"], next["id"]);
    let (status, done) = put(
        &app,
        &tid,
        &id,
        json!({"role": "assistant", "parts": sdk_parts(), "status": "complete"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "complete");
    assert_eq!(done["parts"], sdk_parts());
    assert_eq!(done["created_at"], streaming["created_at"]);
    assert_eq!(done["parent_id"], streaming["parent_id"]);
    assert!(str_of(&done, "updated_at") > str_of(&streaming, "updated_at"));
    // Omitted fields take their create defaults.
    assert_eq!(done["metadata"], json!({}));
    assert_eq!(done["sources"], json!([]));
    // Content alone: the parts are derived from it again and the status is `complete`,
    // as on a create.
    let (status, plain) = put(
        &app,
        &tid,
        &id,
        json!({"role": "assistant", "content": "Plain again."}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        plain["parts"],
        json!([{"type": "text", "text": "Plain again."}])
    );
    assert_eq!(plain["status"], "complete");
    let (_, done) = put(
        &app,
        &tid,
        &id,
        json!({"role": "assistant", "parts": sdk_parts(), "status": "complete"}),
    )
    .await;
    let after = get_thread(&app, &tid).await;
    assert_eq!(after["active_leaf_id"], next["id"]);
    assert_eq!(after["message_count"], before["message_count"]);
    assert!(str_of(&after, "updated_at") > str_of(&before, "updated_at"));
    assert_eq!(get_message(&app, &tid, &id).await, done);
}

async fn put_refuses_a_changed_role_or_parent_and_foreign_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let q = app.append("alice", &tid, "q").await;
    let id = uuid::Uuid::new_v4().to_string();
    let (status, reply) = put(
        &app,
        &tid,
        &id,
        json!({"role": "assistant", "content": "a"}),
    )
    .await;
    assert_eq!(status, 201);
    for body in [
        json!({"role": "user", "content": "a"}),
        json!({"role": "assistant", "content": "a", "parent_id": null}),
        json!({"role": "assistant", "content": "a", "parent_id": uuid::Uuid::new_v4()}),
        json!({"role": "assistant", "content": "a", "parent_id": id}),
    ] {
        let res = app
            .put(&message_path(&tid, &id), "alice", body.clone())
            .await;
        assert_eq!(
            problem(res, 409).await["code"],
            "message_conflict",
            "{body}"
        );
    }
    // Naming the stored parent is fine.
    let (status, _) = put(
        &app,
        &tid,
        &id,
        json!({"role": "assistant", "content": "b", "parent_id": q["id"]}),
    )
    .await;
    assert_eq!(status, 200);
    // The id of a message in another thread, or of another user's: `id_conflict`.
    let other = str_of(&app.create_thread("alice", "other").await, "id").to_owned();
    let res = app
        .put(
            &message_path(&other, &id),
            "alice",
            json!({"role": "assistant", "content": "x"}),
        )
        .await;
    assert_eq!(problem(res, 409).await["code"], "id_conflict");
    let bobs = str_of(&app.create_thread("bob", "b").await, "id").to_owned();
    let res = app
        .as_user(Method::PUT, &message_path(&bobs, &id), "bob")
        .json(&json!({"role": "assistant", "content": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 409).await["code"], "id_conflict");
    let mut unchanged = reply;
    unchanged["content"] = json!("b");
    unchanged["parts"] = json!([{"type": "text", "text": "b"}]);
    let read = get_message(&app, &tid, &id).await;
    assert_eq!(read["content"], unchanged["content"]);
    assert_eq!(read["parts"], unchanged["parts"]);
}

async fn put_honours_if_match_also_before_the_message_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"role": "assistant", "content": "x"});
    for tag in ["\"1\"", "*"] {
        let res = app
            .as_user(Method::PUT, &message_path(&tid, &id), "alice")
            .header("if-match", tag)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            problem(res, 412).await["code"],
            "precondition_failed",
            "{tag}"
        );
    }
    assert_eq!(get_thread(&app, &tid).await["message_count"], 0);
    let res = app
        .as_user(
            Method::PUT,
            &message_path(&uuid::Uuid::new_v4().to_string(), &id),
            "alice",
        )
        .header("if-match", "*")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 404).await["code"], "thread_not_found");

    let res = app
        .put(&message_path(&tid, &id), "alice", body.clone())
        .await;
    assert_eq!(res.status(), 201);
    let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    let with = |tag: &str, text: &str| {
        app.as_user(Method::PUT, &message_path(&tid, &id), "alice")
            .header("if-match", tag.to_owned())
            .json(&json!({"role": "assistant", "content": text}))
            .send()
    };
    let res = with(&etag, "y").await.expect("request");
    assert_eq!(res.status(), 200);
    let newer = res.headers()["etag"].to_str().expect("etag").to_owned();
    assert_ne!(newer, etag);
    let res = with(&etag, "stale").await.expect("request");
    assert_eq!(problem(res, 412).await["code"], "precondition_failed");
    let res = with("*", "z").await.expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(get_message(&app, &tid, &id).await["content"], "z");
}

async fn active_stream_id_is_set_and_cleared_without_moving_updated_at(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "t").await;
    let tid = str_of(&thread, "id").to_owned();
    let path = format!("/api/v1/threads/{tid}");
    let etag = |res: &reqwest::Response| res.headers()["etag"].to_str().expect("etag").to_owned();
    let res = app.get(&path, "alice").await;
    let first_tag = etag(&res);

    let res = app
        .as_user(Method::PATCH, &path, "alice")
        .header("if-match", first_tag.clone())
        .json(&json!({"active_stream_id": "stream_1.a-B"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let tag = etag(&res);
    assert_ne!(tag, first_tag);
    let set: Value = res.json().await.expect("json");
    assert_eq!(set["active_stream_id"], "stream_1.a-B");
    assert_eq!(set["updated_at"], thread["updated_at"]);
    // A compare-and-set: a second writer holding the old ETag loses.
    let res = app
        .as_user(Method::PATCH, &path, "alice")
        .header("if-match", first_tag)
        .json(&json!({"active_stream_id": "stream_2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 412).await["code"], "precondition_failed");
    for bad in [
        json!(""),
        json!("a b"),
        json!("x".repeat(129)),
        json!(5),
        json!("ü"),
    ] {
        let res = app
            .patch(&path, "alice", json!({"active_stream_id": bad}))
            .await;
        assert_eq!(
            problem(res, 422).await["field"],
            "active_stream_id",
            "{bad}"
        );
    }
    let cleared: Value = app
        .patch(&path, "alice", json!({"active_stream_id": null}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(cleared["active_stream_id"], Value::Null);
    assert_eq!(cleared["updated_at"], thread["updated_at"]);
    // With another field the patch is an edit like any other.
    let renamed: Value = app
        .patch(
            &path,
            "alice",
            json!({"active_stream_id": "s", "title": "new"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(renamed["updated_at"], thread["updated_at"]);
    assert_eq!(renamed["active_stream_id"], "s");
}

async fn feedback_is_set_replaced_and_cleared_without_moving_updated_at(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let m = app.append("alice", &tid, "answer").await;
    let mid = str_of(&m, "id").to_owned();
    let thread_before = get_thread(&app, &tid).await;
    let path = format!("{}/feedback", message_path(&tid, &mid));

    let res = app.put(&path, "alice", json!({"rating": "up"})).await;
    assert_eq!(res.status(), 200);
    let feedback: Value = res.json().await.expect("json");
    assert_eq!(feedback["rating"], "up");
    assert_eq!(feedback["comment"], Value::Null);
    assert_eq!(feedback["tags"], json!([]));
    assert!(feedback["updated_at"].is_string());
    let read = get_message(&app, &tid, &mid).await;
    assert_eq!(read["feedback"], feedback);
    assert_eq!(read["updated_at"], m["updated_at"]);

    let res = app
        .put(
            &path,
            "alice",
            json!({"rating": "down", "comment": "wrong year", "tags": ["factual", "dates"]}),
        )
        .await;
    let replaced: Value = res.json().await.expect("json");
    assert_eq!(replaced["comment"], "wrong year");
    assert_eq!(replaced["tags"], json!(["factual", "dates"]));
    assert_eq!(get_message(&app, &tid, &mid).await["feedback"], replaced);

    for (bad, field) in [
        (json!({"rating": "meh"}), "rating"),
        (json!({}), "rating"),
        (
            json!({"rating": "up", "comment": "x".repeat(2001)}),
            "comment",
        ),
        (json!({"rating": "up", "tags": [""]}), "tags[0]"),
        (json!({"rating": "up", "tags": vec!["t"; 17]}), "tags"),
        (json!({"rating": "up", "comment": null}), "comment"),
    ] {
        let res = app.put(&path, "alice", bad.clone()).await;
        assert_eq!(problem(res, 422).await["field"], field, "{bad}");
    }
    assert_eq!(get_message(&app, &tid, &mid).await["feedback"], replaced);

    for _ in 0..2 {
        let res = app.delete(&path, "alice").await;
        assert_eq!(res.status(), 204);
    }
    let read = get_message(&app, &tid, &mid).await;
    assert_eq!(read["feedback"], Value::Null);
    assert_eq!(read["updated_at"], m["updated_at"]);
    assert_eq!(
        get_thread(&app, &tid).await["updated_at"],
        thread_before["updated_at"]
    );

    let missing = format!(
        "{}/feedback",
        message_path(&tid, &uuid::Uuid::new_v4().to_string())
    );
    let res = app.put(&missing, "alice", json!({"rating": "up"})).await;
    assert_eq!(problem(res, 404).await["code"], "message_not_found");
    let res = app.delete(&missing, "alice").await;
    assert_eq!(problem(res, 404).await["code"], "message_not_found");
}

async fn fork_copies_parts_and_status_but_not_feedback(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    app.append("alice", &tid, "q").await;
    let reply = create(
        &app,
        &tid,
        json!({"role": "assistant", "parts": sdk_parts(), "status": "aborted"}),
    )
    .await;
    let rid = str_of(&reply, "id");
    let res = app
        .put(
            &format!("{}/feedback", message_path(&tid, rid)),
            "alice",
            json!({"rating": "up"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/fork"),
            "alice",
            json!({"message_id": rid}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let fork: Value = res.json().await.expect("json");
    let page: Value = app
        .get(&messages_path(str_of(&fork, "id")), "alice")
        .await
        .json()
        .await
        .expect("json");
    let copy = &page["data"][1];
    assert_eq!(copy["parts"], sdk_parts());
    assert_eq!(copy["status"], "aborted");
    assert_eq!(copy["content"], reply["content"]);
    assert_eq!(copy["feedback"], Value::Null);
    assert_eq!(
        page["data"][0]["parts"],
        json!([{"type": "text", "text": "q"}])
    );
}

async fn search_and_markdown_read_what_the_parts_say(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let reply = create(
        &app,
        &tid,
        json!({"role": "assistant", "parts": sdk_parts()}),
    )
    .await;
    let hits: Value = app
        .get("/api/v1/search?q=warmly", "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(hits["data"][0]["message"]["id"], reply["id"]);
    assert_eq!(hits["data"][0]["message"]["parts"], sdk_parts());

    let res = app
        .get(
            &format!("/api/v1/threads/{tid}/export?format=markdown"),
            "alice",
        )
        .await;
    assert_eq!(res.status(), 200);
    let md = res.text().await.expect("text");
    for expected in [
        "It is -3 °C in Oslo.",
        "> The user wants the weather.",
        "**Tool `weather`** (output-available)",
        "\"city\": \"Oslo\"",
        "\"celsius\": -3",
        "[MET](<https://met.no/oslo>)",
        "**Data `chart`**",
        "**Part `x-from-the-future`**",
        "Dress warmly.",
    ] {
        assert!(md.contains(expected), "{expected:?} in\n{md}");
    }
    let json_export: Value = app
        .get(&format!("/api/v1/threads/{tid}/export"), "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(json_export["messages"][0]["parts"], sdk_parts());
}

async fn a_replay_compares_parts_and_status_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"id": id, "role": "assistant", "parts": sdk_parts(), "status": "aborted"});
    create(&app, &tid, body.clone()).await;
    let res = app.post(&messages_path(&tid), "alice", body.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    for changed in [
        json!({"id": id, "role": "assistant", "parts": sdk_parts()}),
        json!({"id": id, "role": "assistant", "parts": [], "status": "aborted"}),
    ] {
        let res = app.post(&messages_path(&tid), "alice", changed).await;
        assert_eq!(problem(res, 409).await["code"], "idempotency_conflict");
    }
}

async fn concurrent_puts_of_one_new_id_create_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = str_of(&app.create_thread("alice", "t").await, "id").to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    let path = message_path(&tid, &id);
    let bodies: Vec<Value> = (0..16)
        .map(|i| json!({"role": "assistant", "content": format!("version {i}"), "status": "streaming"}))
        .collect();
    let writers = bodies.into_iter().map(|body| app.put(&path, "alice", body));
    let statuses: Vec<u16> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(|res| res.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 201].contains(s)),
        "{statuses:?}"
    );
    let thread = get_thread(&app, &tid).await;
    assert_eq!(thread["message_count"], 1);
    assert_eq!(thread["active_leaf_id"], id);
    assert!(str_of(&get_message(&app, &tid, &id).await, "content").starts_with("version "));
}
