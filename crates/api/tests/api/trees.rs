//! Conversations as trees (API.md Part 2): parents, the active leaf, path listings with
//! `sibling_ids`, switching, splice and subtree deletes, fork, export, on both backends.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, on_both_backends, problem, spawn_app, str_of};

on_both_backends!(
    a_client_that_never_sends_parent_id_gets_one_linear_path,
    edit_and_regenerate_keep_every_version_and_the_new_one_becomes_active,
    a_parent_must_be_a_message_of_the_same_thread,
    a_batch_chains_its_messages_unless_one_names_its_parent,
    switching_the_active_leaf_keeps_updated_at_but_changes_the_etag,
    through_lists_the_path_through_a_message_and_down_its_newest_children,
    listing_rules_refuse_mixed_parameters_and_cursors,
    a_path_cursor_stays_on_its_path_and_sees_the_path_grow,
    deleting_a_message_splices_its_children_and_subtree_prunes_the_branch,
    fork_copies_the_path_into_a_new_thread_and_replays_by_id,
    export_has_every_branch_in_json_and_the_active_path_in_markdown,
    search_covers_every_branch,
    an_omitted_parent_matches_whatever_was_stored_on_replay,
);

/// Appends a message with `extra` fields (`parent_id`, `role`, ...) and returns it.
async fn append_with(app: &TestApp, thread: &str, content: &str, extra: Value) -> Value {
    let mut body = json!({"role": "user", "content": content});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let res = app
        .post(&format!("/api/v1/threads/{thread}/messages"), "alice", body)
        .await;
    assert_eq!(res.status(), 201, "append {content}");
    res.json().await.expect("json")
}

/// Appends a child of `parent` (a message id, or `null` for a root).
async fn child(app: &TestApp, thread: &str, content: &str, parent: Value) -> String {
    let m = append_with(app, thread, content, json!({"parent_id": parent})).await;
    assert_eq!(m["parent_id"], parent);
    str_of(&m, "id").to_owned()
}

/// Reads every page of a listing (`query` without `cursor`), following `next_cursor`.
async fn walk(app: &TestApp, thread: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let path = match &cursor {
            Some(c) => format!("/api/v1/threads/{thread}/messages?{query}{sep}cursor={c}"),
            None => format!("/api/v1/threads/{thread}/messages?{query}"),
        };
        let res = app.get(&path, "alice").await;
        assert_eq!(res.status(), 200, "{path}");
        let page: Value = res.json().await.expect("page");
        out.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The contents of a listing, in its order.
async fn contents(app: &TestApp, thread: &str, query: &str) -> Vec<String> {
    walk(app, thread, query)
        .await
        .iter()
        .map(|m| str_of(m, "content").to_owned())
        .collect()
}

async fn thread_of(app: &TestApp, thread: &str) -> (Value, String) {
    let res = app.get(&format!("/api/v1/threads/{thread}"), "alice").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    (res.json().await.expect("thread"), etag)
}

async fn new_thread(app: &TestApp) -> String {
    str_of(&app.create_thread("alice", "tree").await, "id").to_owned()
}

async fn a_client_that_never_sends_parent_id_gets_one_linear_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let mut ids: Vec<String> = Vec::new();
    for i in 0..3 {
        let m = app.append("alice", &tid, &format!("m{i}")).await;
        let expected_parent = ids.last().map_or(Value::Null, |p| json!(p));
        assert_eq!(
            m["parent_id"], expected_parent,
            "the active leaf is the parent"
        );
        ids.push(str_of(&m, "id").to_owned());
        let (thread, _) = thread_of(&app, &tid).await;
        assert_eq!(thread["active_leaf_id"], json!(ids.last()));
    }
    let path = walk(&app, &tid, "").await;
    assert_eq!(path.len(), 3);
    for (m, id) in path.iter().zip(&ids) {
        assert_eq!(m["id"], json!(id));
        assert_eq!(
            m["sibling_ids"],
            json!([id]),
            "a linear path has no versions"
        );
    }
    let all = walk(&app, &tid, "branch=all").await;
    let all_ids: Vec<&str> = all.iter().map(|m| str_of(m, "id")).collect();
    assert_eq!(all_ids, ids);
    assert!(
        all.iter().all(|m| m.get("sibling_ids").is_none()),
        "branch=all carries no siblings"
    );
    // A single message read has no siblings either.
    let one: Value = app
        .get(
            &format!("/api/v1/threads/{tid}/messages/{}", ids[1]),
            "alice",
        )
        .await
        .json()
        .await
        .expect("message");
    assert_eq!(one["parent_id"], json!(ids[0]));
    assert!(one.get("sibling_ids").is_none());
}

async fn edit_and_regenerate_keep_every_version_and_the_new_one_becomes_active(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let u2 = child(&app, &tid, "u2", json!(a1)).await;
    let _a2 = child(&app, &tid, "a2", json!(u2)).await;
    // Edit u2: a sibling under a1, then its reply.
    let u2b = child(&app, &tid, "u2b", json!(a1)).await;
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["active_leaf_id"], json!(u2b));
    let a2b = child(&app, &tid, "a2b", json!(u2b)).await;
    // Regenerate a2b: a sibling reply.
    let a2c = child(&app, &tid, "a2c", json!(u2b)).await;

    let path = walk(&app, &tid, "").await;
    let names: Vec<&str> = path.iter().map(|m| str_of(m, "content")).collect();
    assert_eq!(names, ["u1", "a1", "u2b", "a2c"]);
    assert_eq!(path[0]["sibling_ids"], json!([u1]));
    assert_eq!(path[1]["sibling_ids"], json!([a1]));
    assert_eq!(
        path[2]["sibling_ids"],
        json!([u2, u2b]),
        "edit: version 2 / 2"
    );
    assert_eq!(
        path[3]["sibling_ids"],
        json!([a2b, a2c]),
        "regenerate: 2 / 2"
    );
    assert_eq!(
        contents(&app, &tid, "order=desc").await,
        ["a2c", "u2b", "a1", "u1"],
        "desc is leaf first"
    );
    assert_eq!(
        contents(&app, &tid, "branch=all").await,
        ["u1", "a1", "u2", "a2", "u2b", "a2b", "a2c"],
        "every version stays readable"
    );
    assert_eq!(
        contents(&app, &tid, "branch=all&order=desc&limit=2").await,
        ["a2c", "a2b", "u2b", "a2", "u2", "a1", "u1"]
    );
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["message_count"], 7, "every branch counts");
    assert_eq!(thread["active_leaf_id"], json!(a2c));

    // A new root is a version of the first message.
    let r2 = child(&app, &tid, "r2", Value::Null).await;
    let path = walk(&app, &tid, "").await;
    assert_eq!(path.len(), 1);
    assert_eq!(
        path[0]["sibling_ids"],
        json!([u1, r2]),
        "roots are siblings"
    );
}

async fn a_parent_must_be_a_message_of_the_same_thread(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let other = new_thread(&app).await;
    let elsewhere = str_of(&app.append("alice", &other, "elsewhere").await, "id").to_owned();
    let root = str_of(&app.append("alice", &tid, "root").await, "id").to_owned();
    let (before, etag) = thread_of(&app, &tid).await;
    for parent in [elsewhere, uuid::Uuid::now_v7().to_string()] {
        let res = app
            .post(
                &format!("/api/v1/threads/{tid}/messages"),
                "alice",
                json!({"role": "user", "content": "x", "parent_id": parent}),
            )
            .await;
        let p = problem(res, 422).await;
        assert_eq!(p["code"], "unknown_message");
        assert_eq!(p["field"], "parent_id");
    }
    let res = app
        .post(
            &format!("/api/v1/threads/{tid}/messages"),
            "alice",
            json!({"role": "user", "content": "x", "parent_id": "not-a-uuid"}),
        )
        .await;
    let p = problem(res, 422).await;
    assert_eq!(p["field"], "parent_id");
    let (after, etag_after) = thread_of(&app, &tid).await;
    assert_eq!(after, before, "a refused append changes nothing");
    assert_eq!(etag_after, etag);
    assert_eq!(contents(&app, &tid, "branch=all").await, ["root"]);
    // A parent in a thread that is missing is still thread_not_found.
    let res = app
        .post(
            &format!("/api/v1/threads/{}/messages", uuid::Uuid::now_v7()),
            "alice",
            json!({"role": "user", "content": "x", "parent_id": root}),
        )
        .await;
    assert_eq!(problem(res, 404).await["code"], "thread_not_found");
}

async fn a_batch_chains_its_messages_unless_one_names_its_parent(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let root = str_of(&app.append("alice", &tid, "root").await, "id").to_owned();
    let batch = |messages: Value| async {
        let messages = messages;
        app.post(
            &format!("/api/v1/threads/{tid}/messages/batch"),
            "alice",
            json!({ "messages": messages }),
        )
        .await
    };
    let first = uuid::Uuid::now_v7().to_string();
    let res = batch(json!([
        {"id": first, "role": "user", "content": "b0"},
        {"role": "assistant", "content": "b1"},
        {"role": "assistant", "content": "b2", "parent_id": first},
        {"role": "user", "content": "b3", "parent_id": null},
        {"role": "user", "content": "b4", "parent_id": root},
    ]))
    .await;
    assert_eq!(res.status(), 201);
    let stored: Value = res.json().await.expect("batch");
    let stored = stored["data"].as_array().expect("data").clone();
    assert_eq!(
        stored[0]["parent_id"],
        json!(root),
        "first: the active leaf"
    );
    assert_eq!(
        stored[1]["parent_id"],
        json!(first),
        "later: the one before"
    );
    assert_eq!(
        stored[2]["parent_id"],
        json!(first),
        "named: an earlier one"
    );
    assert_eq!(stored[3]["parent_id"], Value::Null, "null: a root");
    assert_eq!(
        stored[4]["parent_id"],
        json!(root),
        "named: a thread message"
    );
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(
        thread["active_leaf_id"], stored[4]["id"],
        "the last is active"
    );
    assert_eq!(thread["message_count"], 6);
    assert_eq!(contents(&app, &tid, "").await, ["root", "b4"]);
    let b0 = str_of(&stored[0], "id");
    let path = walk(&app, &tid, &format!("through={b0}")).await;
    let names: Vec<&str> = path.iter().map(|m| str_of(m, "content")).collect();
    assert_eq!(names, ["root", "b0", "b2"], "through b0: its newest child");
    assert_eq!(path[1]["sibling_ids"], json!([b0, stored[4]["id"]]));
    assert_eq!(
        path[2]["sibling_ids"],
        json!([stored[1]["id"], stored[2]["id"]])
    );

    // Naming a later message of the batch, or one that is not in the thread, writes
    // nothing and names the field.
    let (before, _) = thread_of(&app, &tid).await;
    let later = uuid::Uuid::now_v7().to_string();
    for (messages, field) in [
        (
            json!([
                {"role": "user", "content": "x"},
                {"role": "user", "content": "y", "parent_id": later},
                {"id": later, "role": "user", "content": "z"},
            ]),
            "messages[1].parent_id",
        ),
        (
            json!([
                {"role": "user", "content": "x"},
                {"role": "user", "content": "y"},
                {"role": "user", "content": "z", "parent_id": uuid::Uuid::now_v7().to_string()},
            ]),
            "messages[2].parent_id",
        ),
        (
            json!([{"role": "user", "content": "x", "parent_id": uuid::Uuid::now_v7().to_string()}]),
            "messages[0].parent_id",
        ),
    ] {
        let p = problem(batch(messages).await, 422).await;
        assert_eq!(p["code"], "unknown_message");
        assert_eq!(p["field"], field);
    }
    let (after, _) = thread_of(&app, &tid).await;
    assert_eq!(after, before, "a refused batch writes nothing");
}

async fn switching_the_active_leaf_keeps_updated_at_but_changes_the_etag(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let a1b = child(&app, &tid, "a1b", json!(u1)).await;
    let _below = child(&app, &tid, "below a1", json!(a1)).await;
    let thread_path = format!("/api/v1/threads/{tid}");
    let (before, etag) = thread_of(&app, &tid).await;

    // Exactly the message named: no descent to its children.
    let res = app
        .patch(&thread_path, "alice", json!({"active_leaf_id": a1}))
        .await;
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    let switched: Value = res.json().await.expect("thread");
    assert_eq!(switched["active_leaf_id"], json!(a1));
    assert_eq!(
        switched["updated_at"], before["updated_at"],
        "keeps its place"
    );
    assert_ne!(new_etag, etag, "but it is a new version");
    assert_eq!(contents(&app, &tid, "").await, ["u1", "a1"]);
    let (read, read_etag) = thread_of(&app, &tid).await;
    assert_eq!(read, switched);
    assert_eq!(read_etag, new_etag);

    // If-Match is honoured.
    let res = app
        .as_user(reqwest::Method::PATCH, &thread_path, "alice")
        .header("if-match", &etag)
        .json(&json!({"active_leaf_id": a1b}))
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 412).await["code"], "precondition_failed");
    let res = app
        .as_user(reqwest::Method::PATCH, &thread_path, "alice")
        .header("if-match", &new_etag)
        .json(&json!({"active_leaf_id": a1b}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(contents(&app, &tid, "").await, ["u1", "a1b"]);

    // Another thread's message, or a random id: 422 naming the field, nothing changes.
    let other = new_thread(&app).await;
    let foreign = str_of(&app.append("alice", &other, "x").await, "id").to_owned();
    let (before, etag) = thread_of(&app, &tid).await;
    for id in [foreign, uuid::Uuid::now_v7().to_string()] {
        let res = app
            .patch(&thread_path, "alice", json!({"active_leaf_id": id}))
            .await;
        let p = problem(res, 422).await;
        assert_eq!(p["code"], "unknown_message");
        assert_eq!(p["field"], "active_leaf_id");
    }
    assert_eq!(thread_of(&app, &tid).await, (before, etag));

    // null: the path through the newest root, down its newest children.
    let r2 = child(&app, &tid, "r2", Value::Null).await;
    let _r2a = child(&app, &tid, "r2a", json!(r2)).await;
    let res = app
        .patch(&thread_path, "alice", json!({"active_leaf_id": null}))
        .await;
    assert_eq!(res.status(), 200);
    let cleared: Value = res.json().await.expect("thread");
    assert_eq!(cleared["active_leaf_id"], Value::Null);
    assert_eq!(contents(&app, &tid, "").await, ["r2", "r2a"]);
    // Another field with it bumps updated_at as usual.
    let res = app
        .patch(
            &thread_path,
            "alice",
            json!({"active_leaf_id": u1, "title": "renamed"}),
        )
        .await;
    let both: Value = res.json().await.expect("thread");
    assert!(str_of(&both, "updated_at") > str_of(&cleared, "updated_at"));
    assert_eq!(both["active_leaf_id"], json!(u1));
}

async fn through_lists_the_path_through_a_message_and_down_its_newest_children(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let u2 = child(&app, &tid, "u2", json!(a1)).await;
    let _a2 = child(&app, &tid, "a2", json!(u2)).await;
    let _a2b = child(&app, &tid, "a2b", json!(u2)).await;
    let _u2b = child(&app, &tid, "u2b", json!(a1)).await;
    // Switch back to the first branch so that `through` and active differ.
    app.patch(
        &format!("/api/v1/threads/{tid}"),
        "alice",
        json!({"active_leaf_id": u1}),
    )
    .await;
    assert_eq!(contents(&app, &tid, "").await, ["u1"]);
    assert_eq!(
        contents(&app, &tid, &format!("through={u2}")).await,
        ["u1", "a1", "u2", "a2b"],
        "newest child at each step"
    );
    assert_eq!(
        contents(&app, &tid, &format!("through={u1}")).await,
        ["u1", "a1", "u2b"]
    );
    assert_eq!(
        contents(
            &app,
            &tid,
            &format!("through={u2}&branch=active&order=desc&limit=1")
        )
        .await,
        ["a2b", "u2", "a1", "u1"],
        "branch=active with through is through"
    );
    let missing = format!(
        "/api/v1/threads/{tid}/messages?through={}",
        uuid::Uuid::now_v7()
    );
    let p = problem(app.get(&missing, "alice").await, 404).await;
    assert_eq!(p["code"], "message_not_found");
    // A missing thread is thread_not_found, whichever message `through` names.
    let elsewhere = format!(
        "/api/v1/threads/{}/messages?through={u2}",
        uuid::Uuid::now_v7()
    );
    let p = problem(app.get(&elsewhere, "alice").await, 404).await;
    assert_eq!(p["code"], "thread_not_found");
    let p = problem(
        app.get(
            &format!("/api/v1/threads/{tid}/messages?through={u2}"),
            "bob",
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        p["code"], "thread_not_found",
        "another user's thread does not exist"
    );
}

async fn listing_rules_refuse_mixed_parameters_and_cursors(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let _a1b = child(&app, &tid, "a1b", json!(u1)).await;
    let _u2 = child(&app, &tid, "u2", json!(a1)).await;
    let list = format!("/api/v1/threads/{tid}/messages");
    for query in [
        format!("branch=all&through={u1}"),
        "branch=some".to_owned(),
        "branch=".to_owned(),
        "through=not-a-uuid".to_owned(),
    ] {
        let p = problem(app.get(&format!("{list}?{query}"), "alice").await, 400).await;
        assert_eq!(p["code"], "invalid_query", "{query}");
    }
    let cursor_of = |query: String| {
        let app = &app;
        let list = &list;
        async move {
            let page: Value = app
                .get(&format!("{list}?limit=1&{query}"), "alice")
                .await
                .json()
                .await
                .expect("page");
            str_of(&page, "next_cursor").to_owned()
        }
    };
    let active = cursor_of(String::new()).await;
    let all = cursor_of("branch=all".to_owned()).await;
    let through_a1 = cursor_of(format!("through={a1}")).await;
    let desc = cursor_of("order=desc".to_owned()).await;
    for (cursor, query) in [
        (&active, "branch=all".to_owned()),
        (&all, String::new()),
        (&all, "branch=active".to_owned()),
        (&through_a1, String::new()),
        (&active, format!("through={a1}")),
        (&through_a1, format!("through={u1}")),
        (&active, "order=desc".to_owned()),
        (&desc, String::new()),
    ] {
        let path = format!("{list}?limit=1&{query}&cursor={cursor}");
        let p = problem(app.get(&path, "alice").await, 400).await;
        assert_eq!(p["code"], "invalid_cursor", "{path}");
    }
    // Each cursor works on its own listing.
    for (cursor, query) in [
        (&active, String::new()),
        (&active, "branch=active".to_owned()),
        (&all, "branch=all".to_owned()),
        (&through_a1, format!("through={a1}")),
        (&desc, "order=desc".to_owned()),
    ] {
        let path = format!("{list}?limit=1&{query}&cursor={cursor}");
        assert_eq!(app.get(&path, "alice").await.status(), 200, "{path}");
    }
}

async fn a_path_cursor_stays_on_its_path_and_sees_the_path_grow(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let u2 = child(&app, &tid, "u2", json!(a1)).await;
    let a2 = child(&app, &tid, "a2", json!(u2)).await;
    let u3 = child(&app, &tid, "u3", json!(a2)).await;
    let list = format!("/api/v1/threads/{tid}/messages?limit=2");
    let page: Value = app.get(&list, "alice").await.json().await.expect("page");
    let cursor = str_of(&page, "next_cursor").to_owned();

    // Another branch from a1 becomes active; the walk goes on along the old path.
    let other = child(&app, &tid, "other", json!(a1)).await;
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["active_leaf_id"], json!(other));
    let page: Value = app
        .get(&format!("{list}&cursor={cursor}"), "alice")
        .await
        .json()
        .await
        .expect("page");
    let names: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| str_of(m, "content"))
        .collect();
    assert_eq!(names, ["u2", "a2"]);
    assert_eq!(page["data"][0]["sibling_ids"], json!([u2, other]));
    let cursor = str_of(&page, "next_cursor").to_owned();

    // The walked path grows below its end (u3, not the active leaf): later pages show it.
    let a3 = child(&app, &tid, "a3", json!(u3)).await;
    let page: Value = app
        .get(&format!("{list}&cursor={cursor}"), "alice")
        .await
        .json()
        .await
        .expect("page");
    assert_eq!(page["data"][0]["id"], json!(u3));
    assert_eq!(page["data"][1]["id"], json!(a3));
    assert_eq!(page["next_cursor"], Value::Null);

    // Leaf-first walks page up to the root.
    assert_eq!(
        contents(&app, &tid, "order=desc&limit=1").await,
        ["a3", "u3", "a2", "u2", "a1", "u1"]
    );
}

async fn deleting_a_message_splices_its_children_and_subtree_prunes_the_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = child(&app, &tid, "a1", json!(u1)).await;
    let u2 = child(&app, &tid, "u2", json!(a1)).await;
    let a1b = child(&app, &tid, "a1b", json!(u1)).await;
    let u2b = child(&app, &tid, "u2b", json!(a1b)).await;
    let msg = |id: &str| format!("/api/v1/threads/{tid}/messages/{id}");

    // Splice: a1's child takes u1 as its parent.
    assert_eq!(app.delete(&msg(&a1), "alice").await.status(), 204);
    let moved: Value = app.get(&msg(&u2), "alice").await.json().await.expect("u2");
    assert_eq!(moved["parent_id"], json!(u1));
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["message_count"], 4);
    assert_eq!(
        thread["active_leaf_id"],
        json!(u2b),
        "the leaf was not touched"
    );
    let path = walk(&app, &tid, &format!("through={u2}")).await;
    assert_eq!(path.len(), 2);
    assert_eq!(
        path[1]["sibling_ids"],
        json!([u2, a1b]),
        "u2 joined a1b's siblings"
    );

    // Subtree: a1b and u2b go; the active leaf (u2b) becomes a1b's parent.
    let res = app
        .delete(&format!("{}?subtree=true", msg(&a1b)), "alice")
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        problem(app.get(&msg(&u2b), "alice").await, 404).await["code"],
        "message_not_found"
    );
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["message_count"], 2);
    assert_eq!(thread["active_leaf_id"], json!(u1));
    assert_eq!(contents(&app, &tid, "").await, ["u1"]);
    assert_eq!(contents(&app, &tid, "branch=all").await, ["u1", "u2"]);

    // Deleting a root makes its children roots; deleting the active root clears the leaf.
    let res = app
        .delete(&format!("{}?subtree=false", msg(&u1)), "alice")
        .await;
    assert_eq!(res.status(), 204);
    let root: Value = app.get(&msg(&u2), "alice").await.json().await.expect("u2");
    assert_eq!(root["parent_id"], Value::Null);
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["active_leaf_id"], Value::Null);
    assert_eq!(thread["message_count"], 1);
    assert_eq!(thread["last_message_at"], root["created_at"]);
    assert_eq!(
        contents(&app, &tid, "").await,
        ["u2"],
        "the newest root's path"
    );

    // A bad `subtree` changes nothing; the last message's subtree empties the thread.
    let p = problem(
        app.delete(&format!("{}?subtree=yes", msg(&u2)), "alice")
            .await,
        400,
    )
    .await;
    assert_eq!(p["code"], "invalid_query");
    assert_eq!(
        app.delete(&format!("{}?subtree=true", msg(&u2)), "alice")
            .await
            .status(),
        204
    );
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["message_count"], 0);
    assert_eq!(thread["last_message_at"], Value::Null);
    assert_eq!(thread["active_leaf_id"], Value::Null);
    assert!(walk(&app, &tid, "").await.is_empty());
}

async fn fork_copies_the_path_into_a_new_thread_and_replays_by_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "Source", "metadata": {"model": "m", "forked_from": "old"}}),
        )
        .await;
    let source: Value = res.json().await.expect("thread");
    let tid = str_of(&source, "id").to_owned();
    let u1 = child(&app, &tid, "u1", Value::Null).await;
    let a1 = append_with(
        &app,
        &tid,
        "a1",
        json!({"parent_id": u1, "role": "assistant", "sources": [{"url": "https://x.test"}], "metadata": {"k": 1}}),
    )
    .await;
    let a1_id = str_of(&a1, "id").to_owned();
    let _u2 = child(&app, &tid, "u2", json!(a1_id)).await;
    let _a1b = child(&app, &tid, "a1b", json!(u1)).await;

    let fork_path = format!("/api/v1/threads/{tid}/fork");
    let fork_id = uuid::Uuid::now_v7().to_string();
    let body = json!({"message_id": a1_id, "id": fork_id});
    let res = app.post(&fork_path, "alice", body.clone()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["location"].to_str().expect("location"),
        format!("/api/v1/threads/{fork_id}")
    );
    assert!(res.headers().contains_key("etag"));
    let fork: Value = res.json().await.expect("fork");
    assert_eq!(fork["id"], json!(fork_id));
    assert_eq!(fork["title"], "Source");
    assert_eq!(
        fork["metadata"],
        json!({"model": "m", "forked_from": {"thread_id": tid, "message_id": a1_id}})
    );
    assert_eq!(fork["message_count"], 2);
    let copies = walk(&app, &fork_id, "").await;
    assert_eq!(copies.len(), 2);
    let originals = walk(&app, &tid, &format!("through={a1_id}")).await;
    for (copy, original) in copies.iter().zip(&originals) {
        assert_ne!(copy["id"], original["id"], "new ids");
        assert_eq!(copy["thread_id"], json!(fork_id));
        for field in ["role", "content", "sources", "metadata", "created_at"] {
            assert_eq!(copy[field], original[field], "{field}");
        }
        assert_eq!(
            copy["sibling_ids"],
            json!([copy["id"]]),
            "one path, no versions"
        );
    }
    assert_eq!(copies[1]["parent_id"], copies[0]["id"]);
    assert_eq!(
        fork["active_leaf_id"], copies[1]["id"],
        "the last copy is active"
    );
    assert_eq!(fork["last_message_at"], a1["created_at"]);

    // The same request again is a replay; a different one with the same id a conflict.
    let res = app.post(&fork_path, "alice", body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.expect("fork"), fork);
    assert_eq!(
        walk(&app, &fork_id, "branch=all").await.len(),
        2,
        "nothing twice"
    );
    for conflicting in [
        json!({"message_id": u1, "id": fork_id}),
        json!({"message_id": a1_id, "id": fork_id, "title": "Another"}),
    ] {
        let res = app.post(&fork_path, "alice", conflicting).await;
        assert_eq!(problem(res, 409).await["code"], "idempotency_conflict");
    }
    let titled = uuid::Uuid::now_v7().to_string();
    let body = json!({"message_id": a1_id, "id": titled, "title": "Titled"});
    assert_eq!(
        app.post(&fork_path, "alice", body.clone()).await.status(),
        201
    );
    assert_eq!(app.post(&fork_path, "alice", body).await.status(), 200);
    let res = app
        .post(
            &fork_path,
            "alice",
            json!({"message_id": a1_id, "id": titled}),
        )
        .await;
    assert_eq!(
        problem(res, 409).await["code"],
        "idempotency_conflict",
        "an omitted title is the source's"
    );

    // A title of its own; the source is unchanged.
    let res = app
        .post(
            &fork_path,
            "alice",
            json!({"message_id": u1, "title": "Mine"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let own: Value = res.json().await.expect("fork");
    assert_eq!(own["title"], "Mine");
    assert_eq!(own["message_count"], 1);
    assert_eq!(
        contents(&app, &tid, "branch=all").await,
        ["u1", "a1", "u2", "a1b"]
    );

    // Refusals: a message not in the source, a source that is not the caller's.
    let other = new_thread(&app).await;
    let foreign = str_of(&app.append("alice", &other, "x").await, "id").to_owned();
    for id in [foreign, uuid::Uuid::now_v7().to_string()] {
        let res = app
            .post(&fork_path, "alice", json!({"message_id": id}))
            .await;
        let p = problem(res, 422).await;
        assert_eq!(p["code"], "unknown_message");
        assert_eq!(p["field"], "message_id");
    }
    let res = app.post(&fork_path, "bob", json!({"message_id": u1})).await;
    assert_eq!(problem(res, 404).await["code"], "thread_not_found");
    let res = app.post(&fork_path, "alice", json!({})).await;
    assert_eq!(problem(res, 422).await["field"], "message_id");
    let list: Value = app
        .get("/api/v1/threads?limit=100", "alice")
        .await
        .json()
        .await
        .expect("threads");
    assert_eq!(
        list["data"].as_array().expect("data").len(),
        5,
        "no partial forks"
    );
}

async fn export_has_every_branch_in_json_and_the_active_path_in_markdown(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "first question", Value::Null).await;
    let a1 = child(&app, &tid, "old answer", json!(u1)).await;
    let a1b = child(&app, &tid, "new answer", json!(u1)).await;
    let export: Value = app
        .get(&format!("/api/v1/threads/{tid}/export"), "alice")
        .await
        .json()
        .await
        .expect("export");
    assert_eq!(export["thread"]["active_leaf_id"], json!(a1b));
    let messages = export["messages"].as_array().expect("messages");
    let ids: Vec<&str> = messages.iter().map(|m| str_of(m, "id")).collect();
    assert_eq!(ids, [&u1, &a1, &a1b]);
    assert_eq!(messages[1]["parent_id"], json!(u1));
    assert!(messages.iter().all(|m| m.get("sibling_ids").is_none()));
    let markdown = app
        .get(
            &format!("/api/v1/threads/{tid}/export?format=markdown"),
            "alice",
        )
        .await
        .text()
        .await
        .expect("markdown");
    assert!(markdown.contains("first question") && markdown.contains("new answer"));
    assert!(
        !markdown.contains("old answer"),
        "markdown is the active path"
    );
}

async fn search_covers_every_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let u1 = child(&app, &tid, "question", Value::Null).await;
    let hidden = child(&app, &tid, "an answer about quokkas", json!(u1)).await;
    let _shown = child(&app, &tid, "another answer", json!(u1)).await;
    let found: Value = app
        .get("/api/v1/search?q=quokkas", "alice")
        .await
        .json()
        .await
        .expect("results");
    let data = found["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["message"]["id"], json!(hidden));
}

async fn an_omitted_parent_matches_whatever_was_stored_on_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let tid = new_thread(&app).await;
    let root = child(&app, &tid, "root", Value::Null).await;
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({"id": id, "role": "user", "content": "reply", "parent_id": root});
    let list = format!("/api/v1/threads/{tid}/messages");
    assert_eq!(app.post(&list, "alice", body.clone()).await.status(), 201);
    // The active leaf moves on; a retry without parent_id is still the same message.
    let _later = child(&app, &tid, "later", json!(id)).await;
    let res = app
        .post(
            &list,
            "alice",
            json!({"id": id, "role": "user", "content": "reply"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let replayed: Value = res.json().await.expect("message");
    assert_eq!(replayed["parent_id"], json!(root));
    assert_eq!(app.post(&list, "alice", body).await.status(), 200);
    // Another parent (a root, here) is another message: 409.
    let res = app
        .post(
            &list,
            "alice",
            json!({"id": id, "role": "user", "content": "reply", "parent_id": null}),
        )
        .await;
    assert_eq!(problem(res, 409).await["code"], "idempotency_conflict");
    let (thread, _) = thread_of(&app, &tid).await;
    assert_eq!(thread["message_count"], 3);
}
