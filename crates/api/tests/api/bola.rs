//! Broken object-level authorization: every operation of the OpenAPI document, every
//! method, with the real ids of another user's threads and messages (and mixes of real and
//! random ids), and with the ids of the caller's own temporary chat once it has expired,
//! must answer exactly as it answers for a resource that does not exist, and
//! must leave the other user's data as it was. The operations are read from
//! `/openapi.json`, so a route added later is covered, or this test fails until it is.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, on_both_backends, spawn_app, str_of};

on_both_backends!(every_operation_answers_another_users_ids_exactly_like_missing_ones);

/// A word only Alice's data contains.
const SECRET: &str = "zanzibarsecret";

/// Status, content type and body, byte for byte: what a client can observe.
type Answer = (u16, String, String);

async fn send(app: &TestApp, method: &Method, path: &str, body: Option<&Value>) -> Answer {
    let mut req = app.as_user(method.clone(), path, "mallory");
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, res.text().await.expect("body"))
}

/// A valid body for an operation with ids in its path, so that only the ids decide.
fn body_for(method: &Method, template: &str, message_id: &str) -> Option<Value> {
    let message = json!({"id": message_id, "role": "user", "content": "injected"});
    match (method.as_str(), template) {
        ("GET" | "DELETE", _) => None,
        ("PATCH", "/api/v1/threads/{thread_id}") => Some(json!({"title": "pwned"})),
        ("PATCH", "/api/v1/threads/{thread_id}/messages/{message_id}") => {
            Some(json!({"content": "pwned"}))
        }
        ("POST", "/api/v1/threads/{thread_id}/messages") => Some(message),
        ("PUT", "/api/v1/threads/{thread_id}/messages/{message_id}") => {
            Some(json!({"role": "assistant", "parts": [{"type": "text", "text": "pwned"}]}))
        }
        ("PUT", "/api/v1/threads/{thread_id}/messages/{message_id}/feedback") => {
            Some(json!({"rating": "down", "comment": "pwned"}))
        }
        ("POST", "/api/v1/threads/{thread_id}/messages/batch") => {
            Some(json!({"messages": [message]}))
        }
        ("POST", "/api/v1/threads/{thread_id}/fork") => {
            Some(json!({"message_id": uuid::Uuid::now_v7().to_string(), "id": message_id}))
        }
        _ => panic!("{method} {template}: give this new operation a valid body here"),
    }
}

/// Query strings each operation is tried with (every export format, for one).
fn queries_for(template: &str) -> &'static [&'static str] {
    match template {
        "/api/v1/threads/{thread_id}/export" => &["", "?format=json", "?format=markdown"],
        "/api/v1/threads/{thread_id}/messages" => &[
            "",
            "?order=desc&limit=100",
            "?branch=all",
            "?branch=active&order=desc",
        ],
        "/api/v1/threads/{thread_id}/messages/{message_id}" => &["", "?subtree=true"],
        "/api/v1/threads" => &["?archived=all&limit=100"],
        "/api/v1/search" => &["?q=zanzibarsecret", "?q=zanzibarsecret&limit=100"],
        _ => &[""],
    }
}

fn fill(template: &str, thread: &str, message: &str) -> String {
    template
        .replace("{thread_id}", thread)
        .replace("{message_id}", message)
}

/// Everything of Alice's that Mallory must not be able to see or change.
async fn alices_view(app: &TestApp, tid: &str) -> Vec<String> {
    let mut view = Vec::new();
    for path in [
        format!("/api/v1/threads/{tid}"),
        format!("/api/v1/threads/{tid}/messages?limit=100"),
        format!("/api/v1/threads/{tid}/export"),
        "/api/v1/threads?archived=all".to_owned(),
    ] {
        let res = app.get(&path, "alice").await;
        assert_eq!(res.status(), 200, "{path}");
        view.push(res.text().await.expect("body"));
    }
    view
}

async fn every_operation_answers_another_users_ids_exactly_like_missing_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    // Alice: two threads (one archived), messages with a secret; Mallory: a thread and a
    // message of her own.
    let alices = app.create_thread("alice", SECRET).await;
    let tid = str_of(&alices, "id").to_owned();
    let mut alice_messages = Vec::new();
    for i in 0..3 {
        let m = app.append("alice", &tid, &format!("{SECRET} {i}")).await;
        alice_messages.push(str_of(&m, "id").to_owned());
    }
    let archived = app.create_thread("alice", SECRET).await;
    let archived_id = str_of(&archived, "id").to_owned();
    let res = app
        .patch(
            &format!("/api/v1/threads/{archived_id}"),
            "alice",
            json!({"archived": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mallorys = app.create_thread("mallory", "mine").await;
    let own = str_of(&mallorys, "id").to_owned();
    let own_message = str_of(&app.append("mallory", &own, "mine").await, "id").to_owned();
    // A message of Mallory's in another thread of hers: a PUT that names it on her own
    // thread is an `id_conflict`, which is what naming Alice's must answer too.
    let elsewhere = app.create_thread("mallory", "elsewhere").await;
    let elsewhere_message = str_of(
        &app.append("mallory", str_of(&elsewhere, "id"), "there")
            .await,
        "id",
    )
    .to_owned();
    // A temporary chat of Mallory's own that has expired: gone for her too, exactly like a
    // thread that does not exist.
    let temporary = app
        .post(
            "/api/v1/threads",
            "mallory",
            json!({"title": "temporary", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(temporary.status(), 201);
    let expired = str_of(&temporary.json::<Value>().await.expect("json"), "id").to_owned();
    let expired_message = str_of(&app.append("mallory", &expired, "gone").await, "id").to_owned();
    app.db.expire(&expired).await;
    let before = alices_view(&app, &tid).await;

    let doc: Value = app.openapi_doc().await;
    let mut covered = BTreeSet::new();
    let mut documented = BTreeSet::new();
    let random = || uuid::Uuid::now_v7().to_string();
    let all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut compared = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !template.starts_with("/api/v1/") {
            continue;
        }
        for method_name in all_methods {
            let method: Method = method_name.parse().expect("method");
            let served = item.get(method_name.to_lowercase()).is_some();
            if served {
                documented.insert(format!("{method_name} {template}"));
            }
            if !template.contains("{thread_id}") {
                continue;
            }
            // (Alice's ids or a mix, the missing ids to compare with.)
            let mut cases = vec![
                (
                    (tid.clone(), alice_messages[0].clone()),
                    (random(), random()),
                ),
                ((archived_id.clone(), random()), (random(), random())),
                ((tid.clone(), random()), (random(), random())),
                ((expired.clone(), random()), (random(), random())),
            ];
            if template.contains("{message_id}") {
                cases.push(((random(), alice_messages[1].clone()), (random(), random())));
                cases.push((
                    (expired.clone(), expired_message.clone()),
                    (random(), random()),
                ));
                // Her own thread with Alice's message: like a message missing from it; for
                // a PUT, which creates a missing id, like an id she used elsewhere herself.
                let twin = if method_name == "PUT" && !template.ends_with("/feedback") {
                    elsewhere_message.clone()
                } else {
                    random()
                };
                cases.push((
                    (own.clone(), alice_messages[2].clone()),
                    (own.clone(), twin),
                ));
            }
            for ((thread, message), (missing_thread, missing_message)) in cases {
                // Creates carry a fresh client id: only the path's ids differ.
                let body = served
                    .then(|| body_for(&method, template, &random()))
                    .flatten();
                for query in queries_for(template) {
                    let theirs = format!("{}{query}", fill(template, &thread, &message));
                    let missing = format!(
                        "{}{query}",
                        fill(template, &missing_thread, &missing_message)
                    );
                    let got = send(&app, &method, &theirs, body.as_ref()).await;
                    let expected = send(&app, &method, &missing, body.as_ref()).await;
                    assert!(
                        [404, 405].contains(&got.0) || (method_name == "PUT" && got.0 == 409),
                        "{method} {theirs}: {got:?}"
                    );
                    assert_eq!(got, expected, "{method} {theirs} vs a missing resource");
                    assert!(!got.2.contains(SECRET), "{method} {theirs} leaks data");
                    compared += 1;
                }
            }
            if served {
                covered.insert(format!("{method_name} {template}"));
            }
        }
    }

    // Client ids: taking Alice's ids answers `id_conflict`, the same answer as for an id
    // Mallory used herself elsewhere, so it says nothing about whose it is.
    let other_thread = app.create_thread("mallory", "other").await;
    let other = str_of(&other_thread, "id").to_owned();
    let post_message = |thread: &str, id: &str| {
        (
            format!("/api/v1/threads/{thread}/messages"),
            json!({"id": id, "role": "user", "content": "x"}),
        )
    };
    let (path, body) = post_message(&other, &alice_messages[0]);
    let alices_id = send(&app, &Method::POST, &path, Some(&body)).await;
    let (path, body) = post_message(&other, &own_message);
    let her_own_id = send(&app, &Method::POST, &path, Some(&body)).await;
    assert_eq!(alices_id.0, 409);
    assert_eq!(alices_id, her_own_id, "id_conflict reveals nothing else");
    let batch = json!({"messages": [{"id": alice_messages[1], "role": "user", "content": "x"}]});
    let res = send(
        &app,
        &Method::POST,
        &format!("/api/v1/threads/{other}/messages/batch"),
        Some(&batch),
    )
    .await;
    assert_eq!(res.0, 409, "{res:?}");
    assert!(!res.2.contains(SECRET));
    let res = send(
        &app,
        &Method::POST,
        "/api/v1/threads",
        Some(&json!({"id": tid, "title": "x"})),
    )
    .await;
    assert_eq!(res.0, 409, "{res:?}");
    assert!(res.2.contains("id_conflict") && !res.2.contains(SECRET));

    // Alice's message ids named in bodies and queries on Mallory's own thread answer
    // exactly like random ids: as a parent, an active leaf, a fork point, a `through`.
    let named = |id: &str| {
        let mid = uuid::Uuid::now_v7().to_string();
        vec![
            (
                Method::POST,
                format!("/api/v1/threads/{own}/messages"),
                Some(json!({"id": mid, "role": "user", "content": "x", "parent_id": id})),
            ),
            (
                Method::POST,
                format!("/api/v1/threads/{own}/messages/batch"),
                Some(json!({"messages": [
                    {"id": mid, "role": "user", "content": "x"},
                    {"role": "user", "content": "y", "parent_id": id},
                ]})),
            ),
            (
                Method::PATCH,
                format!("/api/v1/threads/{own}"),
                Some(json!({"active_leaf_id": id})),
            ),
            (
                Method::POST,
                format!("/api/v1/threads/{own}/fork"),
                Some(json!({"message_id": id})),
            ),
            (
                Method::GET,
                format!("/api/v1/threads/{own}/messages?through={id}"),
                None,
            ),
        ]
    };
    for (theirs, missing) in named(&alice_messages[0]).into_iter().zip(named(&random())) {
        let (method, path, body) = theirs;
        let got = send(&app, &method, &path, body.as_ref()).await;
        let expected = send(&app, &missing.0, &missing.1, missing.2.as_ref()).await;
        assert!([404, 422].contains(&got.0), "{method} {path}: {got:?}");
        assert_eq!(got, expected, "{method} {path} vs a random id");
        assert!(!got.2.contains(SECRET), "{method} {path} leaks data");
    }

    // Alice's cursors are refused on Mallory's lists exactly like garbage ones.
    let page: Value = app
        .get(&format!("/api/v1/threads/{tid}/messages?limit=1"), "alice")
        .await
        .json()
        .await
        .expect("page");
    let message_cursor = str_of(&page, "next_cursor").to_owned();
    let page: Value = app
        .get("/api/v1/threads?archived=all&limit=1", "alice")
        .await
        .json()
        .await
        .expect("page");
    let thread_cursor = str_of(&page, "next_cursor").to_owned();
    for (path, cursor) in [
        (
            format!("/api/v1/threads/{own}/messages?limit=1"),
            &message_cursor,
        ),
        (
            "/api/v1/threads?archived=all&limit=1".to_owned(),
            &thread_cursor,
        ),
        ("/api/v1/threads?limit=1".to_owned(), &thread_cursor),
    ] {
        let theirs = send(&app, &Method::GET, &format!("{path}&cursor={cursor}"), None).await;
        let garbage = send(
            &app,
            &Method::GET,
            &format!("{path}&cursor=Z2FyYmFnZQ"),
            None,
        )
        .await;
        assert_eq!(theirs.0, 400, "{path}");
        assert_eq!(
            theirs, garbage,
            "{path}: another user's cursor is just garbage"
        );
    }
    // With her cursor on Alice's thread, the thread is still missing.
    let theirs = send(
        &app,
        &Method::GET,
        &format!("/api/v1/threads/{tid}/messages?limit=1&cursor={message_cursor}"),
        None,
    )
    .await;
    let missing = send(
        &app,
        &Method::GET,
        &format!(
            "/api/v1/threads/{}/messages?limit=1&cursor={message_cursor}",
            random()
        ),
        None,
    )
    .await;
    assert_eq!(theirs, missing);

    // Operations without ids act on Mallory's own data only (last: one deletes all of it).
    for op in documented.clone() {
        let (method_name, template) = op.split_once(' ').expect("op");
        if template.contains('{') {
            continue;
        }
        let method: Method = method_name.parse().expect("method");
        if template == "/api/v1/events" {
            // A stream of her own stays open; what can leak is the `thread_id` filter:
            // Alice's thread answers exactly like a missing one (tests/api/events.rs shows
            // that a stream carries only its user's events).
            let theirs = send(&app, &method, &format!("{template}?thread_id={tid}"), None).await;
            let missing = send(
                &app,
                &method,
                &format!("{template}?thread_id={}", random()),
                None,
            )
            .await;
            assert_eq!(theirs.0, 404, "{op}: {theirs:?}");
            assert_eq!(theirs, missing, "{op} with Alice's thread vs a missing one");
            covered.insert(op);
            continue;
        }
        for query in queries_for(template) {
            let path = format!("{template}{query}");
            let body = (method == Method::POST).then(|| json!({"title": "hers"}));
            let (status, _, text) = send(&app, &method, &path, body.as_ref()).await;
            assert!(status < 500, "{op}: {status}");
            for id in alice_messages.iter().chain([&tid, &archived_id]) {
                assert!(!text.contains(id.as_str()), "{op} shows Alice's {id}");
            }
            assert!(!text.contains(SECRET), "{op} shows Alice's content");
        }
        covered.insert(op);
    }
    assert_eq!(covered, documented, "every /api/v1 operation is covered");
    // Alice's own search does find what Mallory's did not.
    if documented.contains("GET /api/v1/search") {
        let mine: Value = app
            .get(&format!("/api/v1/search?q={SECRET}"), "alice")
            .await
            .json()
            .await
            .expect("search page");
        assert!(
            !mine["data"].as_array().expect("data").is_empty(),
            "the search word is searchable"
        );
    }
    eprintln!(
        "BOLA ({backend:?}): {} operations, {compared} requests with another user's ids each answered exactly like a missing resource",
        documented.len()
    );

    // Nothing of Alice's changed; Mallory's own deletes removed only her own data.
    assert_eq!(alices_view(&app, &tid).await, before);
    assert_eq!(
        app.get(&format!("/api/v1/threads/{archived_id}"), "alice")
            .await
            .status(),
        200
    );
}
