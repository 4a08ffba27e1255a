//! Temporary chats (`expires_at`) and the retention sweeper. That an expired thread's ids
//! answer exactly like missing ones on every route is checked with the other users' ids
//! in `bola.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestDb, on_both_backends, problem, spawn_app, spawn_app_with, spawn_on,
    str_of, test_settings,
};

on_both_backends!(
    a_temporary_chat_carries_expires_at_which_must_lie_in_the_future,
    an_expired_thread_leaves_lists_search_and_events_at_once,
    the_sweeper_deletes_expired_threads_and_threads_past_retention,
);

const FUTURE: &str = "2999-01-01T00:00:00.000000Z";

async fn a_temporary_chat_carries_expires_at_which_must_lie_in_the_future(backend: Backend) {
    let app = spawn_app(backend).await;
    // Any offset is taken and answered in UTC with microseconds.
    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "temp", "expires_at": "2999-01-01T01:00:00.5+01:00"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let thread: Value = res.json().await.expect("json");
    assert_eq!(thread["expires_at"], "2999-01-01T00:00:00.500000Z");
    let id = str_of(&thread, "id").to_owned();
    let path = format!("/api/v1/threads/{id}");
    let read: Value = app.get(&path, "alice").await.json().await.expect("json");
    assert_eq!(read, thread);

    // Repeating the create is a replay only with the same expiry.
    let again = json!({"id": id, "title": "temp", "expires_at": "2999-01-01T00:00:00.5Z"});
    let res = app.post("/api/v1/threads", "alice", again).await;
    assert_eq!(res.status(), 200);
    let other = json!({"id": id, "title": "temp", "expires_at": FUTURE});
    let res = app.post("/api/v1/threads", "alice", other).await;
    assert_eq!(problem(res, 409).await["code"], "idempotency_conflict");

    // A time in the past, or not a time, is 422 naming the field; nothing changes.
    for bad in [
        json!("2000-01-01T00:00:00Z"),
        json!("tomorrow"),
        json!("2999-01-01"),
        json!(12),
    ] {
        let res = app
            .post("/api/v1/threads", "alice", json!({"expires_at": bad}))
            .await;
        let body = problem(res, 422).await;
        assert_eq!(body["code"], "validation_failed", "{bad}");
        assert_eq!(body["field"], "expires_at", "{body}");
        let res = app.patch(&path, "alice", json!({"expires_at": bad})).await;
        assert_eq!(
            problem(res, 422).await["code"],
            "validation_failed",
            "{bad}"
        );
    }
    let res = app
        .post("/api/v1/threads", "alice", json!({"expires_at": null}))
        .await;
    assert_eq!(problem(res, 422).await["code"], "validation_failed");
    let unchanged: Value = app.get(&path, "alice").await.json().await.expect("json");
    assert_eq!(unchanged, thread);

    // PATCH moves it (bumping `updated_at`, like any field) and `null` keeps it forever.
    let res = app
        .patch(&path, "alice", json!({"expires_at": FUTURE}))
        .await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.expect("json");
    assert_eq!(moved["expires_at"], FUTURE);
    assert!(str_of(&moved, "updated_at") > str_of(&thread, "updated_at"));
    let res = app.patch(&path, "alice", json!({"expires_at": null})).await;
    let kept: Value = res.json().await.expect("json");
    assert_eq!(kept["expires_at"], Value::Null);

    // A fork of a temporary chat expires with it.
    let res = app
        .patch(&path, "alice", json!({"expires_at": FUTURE}))
        .await;
    assert_eq!(res.status(), 200);
    let message = app.append("alice", &id, "hello").await;
    let res = app
        .post(
            &format!("/api/v1/threads/{id}/fork"),
            "alice",
            json!({"message_id": message["id"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.json::<Value>().await.expect("json")["expires_at"],
        FUTURE
    );
}

/// A GET's status and body.
async fn read(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app.get(path, "alice").await;
    (res.status().as_u16(), res.json().await.expect("json"))
}

async fn an_expired_thread_leaves_lists_search_and_events_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let kept = app.create_thread("alice", "kept").await;
    let kept_id = str_of(&kept, "id").to_owned();
    app.append("alice", &kept_id, "walrus facts").await;
    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "temporary", "expires_at": FUTURE}),
        )
        .await;
    let temporary: Value = res.json().await.expect("json");
    let tid = str_of(&temporary, "id").to_owned();
    app.append("alice", &tid, "walrus secrets").await;
    let (_, listed) = read(&app, "/api/v1/threads?archived=all").await;
    assert_eq!(listed["data"].as_array().expect("data").len(), 2);
    let (_, found) = read(&app, "/api/v1/search?q=walrus").await;
    assert_eq!(found["data"].as_array().expect("data").len(), 2);

    app.db.expire(&tid).await;

    let (status, listed) = read(&app, "/api/v1/threads?archived=all").await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!(kept_id)]);
    let (_, found) = read(&app, "/api/v1/search?q=walrus").await;
    let hits = found["data"].as_array().expect("data");
    assert_eq!(hits.len(), 1, "{found}");
    assert_eq!(hits[0]["thread"]["id"], json!(kept_id));
    let missing = uuid::Uuid::now_v7();
    let (expired_status, expired_body) =
        read(&app, &format!("/api/v1/events?thread_id={tid}")).await;
    let (missing_status, missing_body) =
        read(&app, &format!("/api/v1/events?thread_id={missing}")).await;
    assert_eq!(
        (expired_status, &expired_body["code"]),
        (404, &json!("thread_not_found"))
    );
    assert_eq!(
        (expired_status, &expired_body["code"]),
        (missing_status, &missing_body["code"])
    );
    // Deleting it is 404 too: it is already gone for the user; the sweeper removes it.
    let res = app.delete(&format!("/api/v1/threads/{tid}"), "alice").await;
    assert_eq!(problem(res, 404).await["code"], "thread_not_found");
    // `DELETE /me/history` removes it with the rest.
    let res = app.delete("/api/v1/me/history", "alice").await;
    assert_eq!(res.status(), 204);
    let remaining = count_threads(&app.db).await;
    assert_eq!(remaining, 0);
}

/// Rows in `chat_threads`, read directly.
async fn count_threads(db: &TestDb) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = crate::helpers::connect(&db.url).await.expect("connect");
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT count(*) AS n FROM chat_threads",
        ))
        .await
        .expect("count")
        .expect("a row");
    let n: i64 = row.try_get("", "n").expect("n");
    conn.close().await.expect("close");
    n
}

/// Waits (at most a minute, polling) until the database holds `want` threads.
async fn until_threads(db: &TestDb, want: i64) {
    for _ in 0..600 {
        if count_threads(db).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the database never held {want} threads");
}

const EXPIRED_THREADS: &str =
    "chat_history_retention_deleted_total{kind=\"threads\",reason=\"expired\"}";
const EXPIRED_MESSAGES: &str =
    "chat_history_retention_deleted_total{kind=\"messages\",reason=\"expired\"}";
const OLD_THREADS: &str =
    "chat_history_retention_deleted_total{kind=\"threads\",reason=\"retention\"}";

async fn the_sweeper_deletes_expired_threads_and_threads_past_retention(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.retention_days = Some(30);
        s.retention_sweep_secs = 1;
    })
    .await;
    let fresh = app.create_thread("alice", "fresh").await;
    let old = app.create_thread("alice", "old").await;
    let old_id = str_of(&old, "id").to_owned();
    let res = app
        .post(
            "/api/v1/threads",
            "bob",
            json!({"title": "temporary", "expires_at": FUTURE}),
        )
        .await;
    let temporary: Value = res.json().await.expect("json");
    let tid = str_of(&temporary, "id").to_owned();
    for i in 0..3 {
        app.append("bob", &tid, &format!("message {i}")).await;
    }
    app.db.expire(&tid).await;
    app.db
        .sql(&format!(
            "UPDATE chat_threads SET updated_at = '2001-01-01T00:00:00.000000Z' WHERE id = {}",
            app.db.uuid_literal(&old_id)
        ))
        .await;

    until_threads(&app.db, 1).await;
    let (status, listed) = read(&app, "/api/v1/threads").await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().expect("data").len(), 1);
    assert_eq!(listed["data"][0]["id"], fresh["id"]);
    assert_eq!(app.metric(EXPIRED_THREADS).await, 1.0);
    assert_eq!(app.metric(EXPIRED_MESSAGES).await, 3.0);
    assert_eq!(app.metric(OLD_THREADS).await, 1.0);
}

/// Several replicas sweep the same database at once: everything expired goes, nothing
/// is counted twice, nothing fails.
#[tokio::test]
async fn two_replicas_sweep_one_postgres_database_together() {
    let first = spawn_app_with(Backend::Postgres, |s| s.retention_sweep_secs = 3_600).await;
    // 450 expired threads of 3 users (more than four batches), one that is not.
    first
        .db
        .sql(
            "INSERT INTO chat_threads (id, user_id, title, metadata, message_count, \
             created_at, updated_at, version, expires_at) \
             SELECT gen_random_uuid(), 'user' || (i % 3), 'temporary', '{}', 0, \
             now(), now(), 1, TIMESTAMPTZ '2000-01-01 00:00:00Z' \
             FROM generate_series(1, 450) AS i",
        )
        .await;
    let kept = first.create_thread("alice", "kept").await;
    let mut settings = test_settings(&first.db.url);
    settings.retention_sweep_secs = 1;
    let db = TestDb::sharing(&first.db);
    let second = spawn_on(db, settings.clone()).await;
    let third = spawn_on(TestDb::sharing(&first.db), settings).await;

    until_threads(&first.db, 1).await;
    let swept = second.metric(EXPIRED_THREADS).await + third.metric(EXPIRED_THREADS).await;
    let first_swept = first.metric(EXPIRED_THREADS).await;
    assert_eq!(first_swept + swept, 450.0, "each thread counted once");
    let (_, listed) = read(&first, "/api/v1/threads").await;
    assert_eq!(listed["data"][0]["id"], kept["id"]);
    for app in [&first, &second, &third] {
        let res = app.get("/readyz", "alice").await;
        assert_eq!(res.status(), 200);
    }
}
