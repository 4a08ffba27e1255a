//! Live events (API.md Part 2, "Live events"): every write's events after it commits, the
//! `thread_id` filter, `Last-Event-ID` replay and `reset`, heartbeats, the per-user stream
//! limit, a slow reader, shutdown, isolation, and (PostgreSQL) two replicas and a lost
//! listener connection.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    Backend, TestApp, on_both_backends, problem, spawn_app, spawn_app_with, start, str_of,
    test_settings, token,
};

on_both_backends!(
    every_write_produces_its_events_in_commit_order,
    event_data_is_what_the_api_returns,
    a_thread_filter_keeps_only_that_threads_events,
    the_feeds_reads_of_the_outbox_are_counted,
    a_thread_filter_must_name_one_of_the_callers_threads,
    last_event_id_replays_what_came_after_it,
    unknown_or_expired_ids_get_a_reset_first,
    idle_streams_get_comment_lines,
    a_user_may_hold_only_so_many_streams,
    shutdown_ends_streams_cleanly,
    users_see_only_their_own_events_under_concurrent_writes,
    imports_and_the_sweeper_produce_their_events,
);

/// Longest wait for anything a test expects to arrive (a guard against hanging, not a
/// measure: every wait ends as soon as what it waits for is there).
const PATIENCE: Duration = Duration::from_secs(20);

/// One server-sent event block.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    comment: bool,
}

impl Sse {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("data is JSON")
    }

    fn kind(&self) -> &str {
        self.event.as_deref().unwrap_or("")
    }
}

/// Reads an event stream block by block.
struct Reader {
    res: Response,
    /// Bytes read and not yet split into blocks (a chunk may end inside a character).
    buffer: Vec<u8>,
    /// The first block of the stream (`retry`, `id`, or a `reset` event).
    opening: Option<Sse>,
}

impl Reader {
    async fn open(app: &TestApp, user: &str, query: &str, last_event_id: Option<&str>) -> Self {
        Self::open_at(&app.address, user, query, last_event_id).await
    }

    async fn open_at(address: &str, user: &str, query: &str, last_event_id: Option<&str>) -> Self {
        let res = open_at(address, user, query, last_event_id).await;
        assert_eq!(res.status(), 200, "event stream opens");
        assert_eq!(
            res.headers()["content-type"].to_str().expect("type"),
            "text/event-stream"
        );
        let mut reader = Self {
            res,
            buffer: Vec::new(),
            opening: None,
        };
        let opening = reader.block().await.expect("opening block");
        assert!(opening.event.is_none() || opening.kind() == "reset");
        reader.opening = Some(opening);
        reader
    }

    /// The next block, `None` when the stream ended.
    async fn block(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let bytes: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(bytes).expect("UTF-8");
                let mut block = Sse {
                    id: None,
                    event: None,
                    data: None,
                    comment: false,
                };
                for line in text.lines() {
                    if line.starts_with(':') {
                        block.comment = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        block.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        block.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        assert!(block.data.is_none(), "one data line per event");
                        block.data = Some(v.to_owned());
                    }
                }
                return Some(block);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.res.chunk())
                .await
                .expect("the stream went silent")
                .expect("the stream failed")?;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next event (skipping comments and blocks without data); heartbeats do not
    /// stretch the wait beyond [`PATIENCE`].
    async fn event(&mut self) -> Sse {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let block = tokio::time::timeout_at(deadline, self.block())
                .await
                .expect("no event arrived")
                .expect("the stream ended");
            if block.data.is_some() {
                return block;
            }
        }
    }

    /// The next `n` events.
    async fn events(&mut self, n: usize) -> Vec<Sse> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.event().await);
        }
        events
    }
}

async fn open(app: &TestApp, user: &str, query: &str, last_event_id: Option<&str>) -> Response {
    open_at(&app.address, user, query, last_event_id).await
}

async fn open_at(address: &str, user: &str, query: &str, last_event_id: Option<&str>) -> Response {
    let mut req = reqwest::Client::new()
        .get(format!("{address}/api/v1/events{query}"))
        .bearer_auth(token(user));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.expect("request")
}

fn kinds(events: &[Sse]) -> Vec<&str> {
    events.iter().map(Sse::kind).collect()
}

/// The events of one write whose thread event may come before or after its message
/// events: sorted by kind for comparison, the message events kept in order.
fn sorted_kinds(events: &[Sse]) -> Vec<&str> {
    let mut kinds = kinds(events);
    kinds.sort_unstable();
    kinds
}

/// The thread an event's data is about.
fn thread_of(data: &Value) -> Value {
    data.get("thread")
        .map(|t| t["id"].clone())
        .or_else(|| data.get("message").map(|m| m["thread_id"].clone()))
        .or_else(|| data.get("thread_id").cloned())
        .expect("a thread, a message or a thread id")
}

fn assert_increasing(events: &[Sse]) {
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.id.as_deref().expect("id"))
        .collect();
    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1], "ids increase: {ids:?}");
        assert!(pair[0].parse::<u64>().expect("digits") < pair[1].parse::<u64>().expect("digits"));
    }
}

async fn every_write_produces_its_events_in_commit_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    let mut seen = Vec::new();

    // Create, with an idempotent replay that produces nothing.
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({"id": id, "title": "Trip"});
    assert_eq!(
        app.post("/api/v1/threads", "alice", body.clone())
            .await
            .status(),
        201
    );
    assert_eq!(
        app.post("/api/v1/threads", "alice", body).await.status(),
        200
    );
    let created = stream.event().await;
    assert_eq!(created.kind(), "thread.created");
    assert_eq!(str_of(&created.json()["thread"], "id"), id);
    seen.push(created);

    // An append: its message, and the thread's new counters.
    let first = app.append("alice", &id, "hello").await;
    let events = stream.events(2).await;
    assert_eq!(sorted_kinds(&events), ["message.created", "thread.updated"]);
    let thread = events
        .iter()
        .find(|e| e.kind() == "thread.updated")
        .expect("thread");
    assert_eq!(thread.json()["thread"]["message_count"], 1);
    seen.extend(events);

    // A batch: one message.created per message, in order, and one thread.updated.
    let res = app
        .post(
            &format!("/api/v1/threads/{id}/messages/batch"),
            "alice",
            json!({"messages": [
                {"role": "assistant", "content": "one"},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "three"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let events = stream.events(4).await;
    let contents: Vec<String> = events
        .iter()
        .filter(|e| e.kind() == "message.created")
        .map(|e| str_of(&e.json()["message"], "content").to_owned())
        .collect();
    assert_eq!(contents, ["one", "two", "three"]);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind() == "thread.updated")
            .count(),
        1
    );
    seen.extend(events);

    // The thread's own fields.
    let res = app
        .patch(
            &format!("/api/v1/threads/{id}"),
            "alice",
            json!({"title": "Oslo trip"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated = stream.event().await;
    assert_eq!(updated.kind(), "thread.updated");
    assert_eq!(updated.json()["thread"]["title"], "Oslo trip");
    seen.push(updated);

    // An edit changes the message and the thread's updated_at.
    let first_id = str_of(&first, "id").to_owned();
    let res = app
        .patch(
            &format!("/api/v1/threads/{id}/messages/{first_id}"),
            "alice",
            json!({"content": "hello there"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let events = stream.events(2).await;
    assert_eq!(sorted_kinds(&events), ["message.updated", "thread.updated"]);
    seen.extend(events);

    // Feedback: the message only.
    let res = app
        .put(
            &format!("/api/v1/threads/{id}/messages/{first_id}/feedback"),
            "alice",
            json!({"rating": "up"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let feedback = stream.event().await;
    assert_eq!(feedback.kind(), "message.updated");
    assert_eq!(feedback.json()["message"]["feedback"]["rating"], "up");
    seen.push(feedback);

    // A splice delete: the message goes, its child gets a new parent, the thread changes.
    let res = app
        .delete(
            &format!("/api/v1/threads/{id}/messages/{first_id}"),
            "alice",
        )
        .await;
    assert_eq!(res.status(), 204);
    let events = stream.events(3).await;
    assert_eq!(
        sorted_kinds(&events),
        ["message.deleted", "message.updated", "thread.updated"]
    );
    let deleted = events
        .iter()
        .find(|e| e.kind() == "message.deleted")
        .expect("deleted");
    assert_eq!(
        deleted.json(),
        json!({"thread_id": id, "message_id": first_id})
    );
    let moved = events
        .iter()
        .find(|e| e.kind() == "message.updated")
        .expect("moved")
        .json();
    assert_eq!(moved["message"]["parent_id"], Value::Null);
    let thread = events
        .iter()
        .find(|e| e.kind() == "thread.updated")
        .expect("thread");
    assert_eq!(thread.json()["thread"]["message_count"], 3);
    seen.extend(events);

    // Switching the active leaf.
    let root = str_of(&moved["message"], "id").to_owned();
    let res = app
        .patch(
            &format!("/api/v1/threads/{id}"),
            "alice",
            json!({"active_leaf_id": root}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let switched = stream.event().await;
    assert_eq!(switched.kind(), "thread.updated");
    assert_eq!(switched.json()["thread"]["active_leaf_id"], root.as_str());
    seen.push(switched);

    // A fork: the new thread, then one message.created per copy.
    let res = app
        .post(
            &format!("/api/v1/threads/{id}/fork"),
            "alice",
            json!({"message_id": root}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let fork: Value = res.json().await.expect("fork");
    let events = stream.events(2).await;
    assert_eq!(kinds(&events), ["thread.created", "message.created"]);
    assert_eq!(events[0].json()["thread"]["id"], fork["id"]);
    assert_eq!(events[1].json()["message"]["thread_id"], fork["id"]);
    seen.extend(events);

    // Deleting a thread: one thread.deleted, nothing per message.
    let res = app.delete(&format!("/api/v1/threads/{id}"), "alice").await;
    assert_eq!(res.status(), 204);
    let gone = stream.event().await;
    assert_eq!(gone.kind(), "thread.deleted");
    assert_eq!(gone.json(), json!({"thread_id": id}));
    seen.push(gone);

    // DELETE /me/history: one thread.deleted per thread.
    app.create_thread("alice", "another").await;
    seen.push(stream.event().await);
    let res = app.delete("/api/v1/me/history", "alice").await;
    assert_eq!(res.status(), 204);
    let events = stream.events(2).await;
    assert_eq!(kinds(&events), ["thread.deleted", "thread.deleted"]);
    seen.extend(events);

    // A write that fails produces nothing: the next event is the next successful write's.
    let res = app
        .post(
            "/api/v1/threads/00000000-0000-7000-8000-000000000000/messages",
            "alice",
            json!({"role": "user", "content": "nowhere"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    // So does a batch that rolls back (its second id is taken): none of its messages.
    let taken = str_of(&app.create_thread("alice", "holder").await, "id").to_owned();
    seen.push(stream.event().await);
    let held = app.append("alice", &taken, "held").await;
    seen.extend(stream.events(2).await);
    let res = app
        .post(
            &format!("/api/v1/threads/{taken}/messages/batch"),
            "alice",
            json!({"messages": [
                {"role": "user", "content": "would be first"},
                {"id": held["id"], "role": "user", "content": "a taken id"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 409);
    let last = app.create_thread("alice", "last").await;
    let event = stream.event().await;
    assert_eq!(event.kind(), "thread.created");
    assert_eq!(event.json()["thread"]["id"], last["id"]);
    seen.push(event);

    assert_increasing(&seen);
}

async fn event_data_is_what_the_api_returns(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    let thread = app.create_thread("alice", "Shapes").await;
    let id = str_of(&thread, "id").to_owned();
    let event = stream.event().await;
    assert_eq!(event.json()["thread"], thread);
    let res = app
        .post(
            &format!("/api/v1/threads/{id}/messages"),
            "alice",
            json!({"role": "assistant", "parts": [
                {"type": "reasoning", "text": "hm"},
                {"type": "text", "text": "Hi — grüße 🌍 ⟦x⟧\nline two"},
                {"type": "tool-x", "toolCallId": "c", "state": "input-available", "input": {"a": [1, 2]}}
            ], "status": "streaming", "sources": [{"url": "https://e.x"}], "metadata": {"k": "v"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let message: Value = res.json().await.expect("json");
    let events = stream.events(2).await;
    let created = events
        .iter()
        .find(|e| e.kind() == "message.created")
        .expect("created");
    assert_eq!(created.json()["message"], message);
    let updated = events
        .iter()
        .find(|e| e.kind() == "thread.updated")
        .expect("updated");
    let res = app.get(&format!("/api/v1/threads/{id}"), "alice").await;
    let now: Value = res.json().await.expect("json");
    assert_eq!(updated.json()["thread"], now);
}

async fn a_thread_filter_keeps_only_that_threads_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_thread("alice", "a").await;
    let b = app.create_thread("alice", "b").await;
    let (a, b) = (str_of(&a, "id").to_owned(), str_of(&b, "id").to_owned());
    let mut only_a = Reader::open(&app, "alice", &format!("?thread_id={a}"), None).await;
    app.append("alice", &b, "in b").await;
    app.append("alice", &a, "in a").await;
    let res = app.delete(&format!("/api/v1/threads/{b}"), "alice").await;
    assert_eq!(res.status(), 204);
    app.append("alice", &a, "in a again").await;
    let events = only_a.events(4).await;
    for event in &events {
        assert_eq!(thread_of(&event.json()), a.as_str(), "{event:?}");
    }
    assert_increasing(&events);
}

async fn the_feeds_reads_of_the_outbox_are_counted(backend: Backend) {
    let app = spawn_app(backend).await;
    // Nobody listens: nothing is read.
    app.create_thread("alice", "unheard").await;
    let reads = "chat_history_event_reads_total";
    assert_eq!(app.metric(reads).await, 0.0);
    let mut stream = Reader::open(&app, "alice", "", None).await;
    app.create_thread("alice", "heard").await;
    assert_eq!(stream.event().await.kind(), "thread.created");
    assert!(app.metric(reads).await >= 1.0);
}

async fn a_thread_filter_must_name_one_of_the_callers_threads(backend: Backend) {
    let app = spawn_app(backend).await;
    let bobs = app.create_thread("bob", "bob's").await;
    let res = open(
        &app,
        "alice",
        &format!("?thread_id={}", str_of(&bobs, "id")),
        None,
    )
    .await;
    let body = problem(res, 404).await;
    assert_eq!(body["code"], "thread_not_found");
    let res = open(
        &app,
        "alice",
        &format!("?thread_id={}", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    let missing = problem(res, 404).await;
    assert_eq!(missing["detail"], body["detail"]);
    let res = open(&app, "alice", "?thread_id=not-a-uuid", None).await;
    assert_eq!(problem(res, 400).await["code"], "invalid_query");
    let res = app
        .request(Method::GET, "/api/v1/events")
        .send()
        .await
        .expect("request");
    assert_eq!(problem(res, 401).await["code"], "unauthenticated");
}

async fn last_event_id_replays_what_came_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut live = Reader::open(&app, "alice", "", None).await;
    let thread = app.create_thread("alice", "replay").await;
    let id = str_of(&thread, "id").to_owned();
    for text in ["one", "two", "three"] {
        app.append("alice", &id, text).await;
    }
    let events = live.events(7).await;
    assert_increasing(&events);
    // Reconnecting after the second event: the five after it, same ids, same data.
    let after = events[1].id.clone().expect("id");
    let mut again = Reader::open(&app, "alice", "", Some(&after)).await;
    assert_eq!(again.opening.as_ref().map(Sse::kind), Some(""));
    let replayed = again.events(5).await;
    assert_eq!(replayed, events[2..]);
    // And live events continue on the replayed stream, without duplicates.
    app.append("alice", &id, "four").await;
    let next = again.events(2).await;
    let live_next = live.events(2).await;
    assert_eq!(next, live_next);
    assert!(next[0].id > replayed[4].id);
    // The newest id: nothing to replay, live events follow.
    let newest = live_next[1].id.clone().expect("id");
    let mut caught_up = Reader::open(&app, "alice", "", Some(&newest)).await;
    app.create_thread("alice", "later").await;
    assert_eq!(caught_up.event().await.kind(), "thread.created");
}

async fn unknown_or_expired_ids_get_a_reset_first(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.events_retention_secs = 1).await;
    let mut live = Reader::open(&app, "alice", "", None).await;
    app.create_thread("alice", "old").await;
    let old = live.event().await.id.expect("id");
    for unknown in ["9999999999999999", "garbage", "0000000000000000", "42"] {
        let reader = Reader::open(&app, "alice", "", Some(unknown)).await;
        let reset = reader.opening.expect("opening");
        assert_eq!(reset.kind(), "reset", "{unknown}");
        assert!(
            reset.data.is_some(),
            "browsers deliver only events with data"
        );
        assert_eq!(
            reset.id.as_deref(),
            Some(old.as_str()),
            "resume from the newest"
        );
    }
    // Past retention (1 s here): reset, then live events.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut late = Reader::open(&app, "alice", "", Some(&old)).await;
    assert_eq!(late.opening.as_ref().map(Sse::kind), Some("reset"));
    app.create_thread("alice", "new").await;
    let event = late.event().await;
    assert_eq!(event.kind(), "thread.created");
    assert_eq!(event.json()["thread"]["title"], "new");
}

async fn idle_streams_get_comment_lines(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.events_heartbeat_secs = 1).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    let block = stream.block().await.expect("a block");
    assert!(block.comment && block.data.is_none(), "{block:?}");
}

async fn a_user_may_hold_only_so_many_streams(backend: Backend) {
    // A client that went away is noticed at the next write: the heartbeat at the latest.
    let app = spawn_app_with(backend, |s| {
        s.events_max_streams_per_user = 2;
        s.events_heartbeat_secs = 1;
    })
    .await;
    let first = Reader::open(&app, "alice", "", None).await;
    let _second = Reader::open(&app, "alice", "", None).await;
    let res = open(&app, "alice", "", None).await;
    assert_eq!(problem(res, 429).await["code"], "too_many_streams");
    assert_eq!(
        app.metric("chat_history_event_streams").await,
        2.0,
        "the open streams are counted"
    );
    // Others are not affected.
    let _bobs = Reader::open(&app, "bob", "", None).await;
    // A closed stream frees its place (once the server notices the client is gone).
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let res = open(&app, "alice", "", None).await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

mod a_slow_reader_is_dropped_with_a_clean_end {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_slow_reader_is_dropped_with_a_clean_end(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_slow_reader_is_dropped_with_a_clean_end(Backend::Sqlite).await;
    }
}

async fn a_slow_reader_is_dropped_with_a_clean_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let thread = app.create_thread("alice", "big").await;
    let id = str_of(&thread, "id").to_owned();
    // A client that sends its request and then reads nothing, with a small receive window.
    let addr = app.address.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let mut slow = socket
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let request = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token("alice")
    );
    slow.write_all(request.as_bytes()).await.expect("send");
    // A client that reads as events come: each batch's events before the next batch.
    let mut fast = Reader::open(&app, "alice", "", None).await;
    // Batches of 100 messages of 10 kB: 1,515 events, 30 MB with their parts, far more
    // than socket buffers and a stream's queue hold, and more than a stream may fall
    // behind.
    const BATCHES: usize = 15;
    const WRITES: usize = BATCHES * 100;
    let content = "x".repeat(10_000);
    let mut newest = String::new();
    let batch = json!({"messages": (0..100)
        .map(|_| json!({"role": "user", "content": content}))
        .collect::<Vec<_>>()});
    for _ in 0..BATCHES {
        let res = app
            .post(
                &format!("/api/v1/threads/{id}/messages/batch"),
                "alice",
                batch.clone(),
            )
            .await;
        assert_eq!(res.status(), 201);
        // The fast reader gets everything, though each batch comes as one burst...
        let events = fast.events(101).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind() == "message.created")
                .count(),
            100
        );
        newest = events.last().and_then(|e| e.id.clone()).expect("an id");
    }
    // ...the slow one, once it reads, what was queued, then a clean end.
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, slow.read_to_end(&mut received))
        .await
        .expect("the slow stream was ended")
        .expect("read");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..100.min(text.len())]
    );
    assert!(
        text.ends_with("\r\n0\r\n\r\n"),
        "the chunked body is terminated"
    );
    let delivered = text.matches("event: message.created").count();
    assert!(
        delivered < WRITES,
        "the slow reader was dropped ({delivered} delivered)"
    );
    // Its client reconnects with the last id it got and misses nothing: every later
    // event, in order, up to the newest.
    let last_id: u64 = text
        .rmatch_indices("\nid: ")
        .next()
        .map(|(at, _)| text[at + 5..at + 21].parse().expect("an id"))
        .expect("an id");
    let newest: u64 = newest.parse().expect("newest id");
    assert!(last_id < newest);
    let mut resumed = Reader::open(&app, "alice", "", Some(&format!("{last_id:016}"))).await;
    for expected in last_id + 1..=newest {
        let event = resumed.event().await;
        let id: u64 = event.id.as_deref().expect("id").parse().expect("digits");
        assert_eq!(id, expected, "replayed in order, without gaps");
    }
}

async fn shutdown_ends_streams_cleanly(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    let ended = tokio::spawn(async move {
        loop {
            match stream.block().await {
                None => return true,
                Some(block) if block.data.is_some() => return false,
                Some(_) => {}
            }
        }
    });
    let stopped = tokio::time::timeout(PATIENCE, app.stop()).await;
    assert!(
        stopped.is_ok(),
        "a graceful stop does not wait for the streams"
    );
    assert!(
        ended.await.expect("reader"),
        "the stream ended without an event"
    );
}

async fn users_see_only_their_own_events_under_concurrent_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut alice = Reader::open(&app, "alice", "", None).await;
    let mut bob = Reader::open(&app, "bob", "", None).await;
    let a = str_of(&app.create_thread("alice", "a").await, "id").to_owned();
    let b = str_of(&app.create_thread("bob", "b").await, "id").to_owned();
    let writes = |user: &'static str, thread: String| {
        let app = &app;
        async move {
            for i in 0..20 {
                app.append(user, &thread, &format!("{user} {i}")).await;
            }
        }
    };
    tokio::join!(writes("alice", a.clone()), writes("bob", b.clone()));
    for (reader, user, thread) in [(&mut alice, "alice", &a), (&mut bob, "bob", &b)] {
        let events = reader.events(41).await;
        assert_increasing(&events);
        for event in &events {
            let data = event.json();
            assert_eq!(
                thread_of(&data),
                thread.as_str(),
                "{user} sees only their own events"
            );
            if let Some(content) = data.pointer("/message/content") {
                assert!(content.as_str().expect("content").starts_with(user));
            }
        }
    }
}

#[tokio::test]
async fn a_write_through_one_replica_reaches_subscribers_of_another() {
    let app = spawn_app(Backend::Postgres).await;
    let (other, other_stop) = start(test_settings(&app.db.url)).await;
    let mut on_other = Reader::open_at(&other, "alice", "", None).await;
    let mut on_first = Reader::open(&app, "alice", "", None).await;
    let thread = app.create_thread("alice", "shared").await;
    let id = str_of(&thread, "id").to_owned();
    let res = reqwest::Client::new()
        .post(format!("{other}/api/v1/threads/{id}/messages"))
        .bearer_auth(token("alice"))
        .json(&json!({"role": "user", "content": "from the other replica"}))
        .send()
        .await
        .expect("append through the other replica");
    assert_eq!(res.status(), 201);
    let there = on_other.events(3).await;
    let here = on_first.events(3).await;
    assert_eq!(
        there, here,
        "both replicas deliver the same events, same ids"
    );
    assert_eq!(there[0].json()["thread"], thread);
    other_stop.stop(true).await;
}

#[tokio::test]
async fn a_lost_listener_connection_ends_streams_and_they_reconnect() {
    let app = spawn_app(Backend::Postgres).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    app.create_thread("alice", "before").await;
    let before = stream.event().await.id.expect("id");
    let admin = crate::helpers::connect(&app.db.url).await.expect("admin");
    use sea_orm::ConnectionTrait as _;
    admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'chat-history events' AND datname = current_database()",
        )
        .await
        .expect("terminate the listener");
    // The stream ends (no event, no hang)...
    loop {
        match stream.block().await {
            None => break,
            Some(block) => assert!(block.data.is_none(), "{block:?}"),
        }
    }
    // ...and a reconnect with the last id works once the listener is back (503 with
    // Retry-After until then), missing nothing written in between.
    app.create_thread("alice", "between").await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut resumed = loop {
        let res = open(&app, "alice", "", Some(&before)).await;
        if res.status() == 200 {
            break Reader {
                res,
                buffer: Vec::new(),
                opening: None,
            };
        }
        assert_eq!(res.status(), 503);
        assert!(res.headers().contains_key("retry-after"));
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let event = resumed.event().await;
    assert_eq!(event.json()["thread"]["title"], "between");
}

async fn imports_and_the_sweeper_produce_their_events(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.retention_sweep_secs = 1).await;
    let mut stream = Reader::open(&app, "alice", "", None).await;
    let file: &[u8] = include_bytes!("../fixtures/import/claude.json");
    let import = || {
        app.as_user(
            reqwest::Method::POST,
            "/api/v1/me/import?format=claude",
            "alice",
        )
        .body(file.to_vec())
        .send()
    };
    let report: Value = import().await.expect("import").json().await.expect("json");
    assert_eq!(report["threads_created"], 3, "{report}");
    assert_eq!(report["messages_created"], 6);
    // Each thread as created, then its messages, in order; nothing else.
    let events = stream.events(9).await;
    let mut threads_seen = Vec::new();
    for event in &events {
        match event.kind() {
            "thread.created" => threads_seen.push(str_of(&event.json()["thread"], "id").to_owned()),
            "message.created" => {
                let thread = str_of(&event.json()["message"], "thread_id").to_owned();
                assert_eq!(threads_seen.last(), Some(&thread), "after its thread");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(threads_seen.len(), 3);
    assert_increasing(&events);

    // Importing again stores nothing, so it says nothing: the next event is the next write.
    let again: Value = import().await.expect("import").json().await.expect("json");
    assert_eq!(again["threads_skipped"], 3);
    let res = app
        .post(
            "/api/v1/threads",
            "alice",
            json!({"title": "temporary", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    let temporary: Value = res.json().await.expect("json");
    let created = stream.event().await;
    assert_eq!(created.kind(), "thread.created");
    assert_eq!(created.json()["thread"], temporary);

    // Expired, the sweeper deletes it: other tabs hear of it.
    app.db.expire(str_of(&temporary, "id")).await;
    let deleted = stream.event().await;
    assert_eq!(deleted.kind(), "thread.deleted");
    assert_eq!(deleted.json()["thread_id"], temporary["id"]);
}
