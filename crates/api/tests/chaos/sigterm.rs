//! SIGTERM while requests are in flight.

use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _};
use serde_json::{Value, json};

use crate::load::{create_thread, stored_messages};
use crate::support::{Backend, Server, TestDatabase, eventually, token};

const IN_FLIGHT: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_cleanly() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let env = [("DATABASE_URL", db.url.clone())];
    let mut server = Server::start(dir.path(), &env);
    let base = server.base().to_owned();
    let addr = server.addr().to_owned();
    let thread = create_thread(&base, "alice", "stopping").await;

    // Inserts wait on this lock, which keeps the appends below in flight for as long as
    // the test needs; reads are not blocked.
    let locker = crate::support::connect(&db.url).await.expect("connect");
    let lock = locker.begin().await.expect("begin");
    // A second connection watches `pg_stat_activity` (the locker's one is in the
    // transaction, whose view of the statistics would not change).
    let watcher = crate::support::connect(&db.url).await.expect("connect");
    lock.execute_unprepared("LOCK TABLE chat_messages IN EXCLUSIVE MODE")
        .await
        .expect("lock");

    let mut in_flight = Vec::new();
    let mut ids = Vec::new();
    for i in 0..IN_FLIGHT {
        let id = uuid::Uuid::new_v4().to_string();
        ids.push(id.clone());
        let url = format!("{base}/api/v1/threads/{thread}/messages");
        in_flight.push(tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .bearer_auth(token("alice"))
                .json(&json!({"id": id, "role": "user", "content": format!("in flight {i}")}))
                .send()
                .await
                .expect("an in-flight request is answered");
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    // All of them have reached the database and wait there.
    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*)::bigint AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'chat-history' \
         AND wait_event_type = 'Lock'",
    );
    eventually(
        Duration::from_secs(30),
        "the appends wait on the lock",
        || {
            let watcher = watcher.clone();
            let waiting = waiting.clone();
            async move {
                let row = watcher.query_one_raw(waiting).await.ok().flatten();
                row.and_then(|r| r.try_get::<i64>("", "n").ok())
                    .is_some_and(|n| n >= IN_FLIGHT as i64)
            }
        },
    )
    .await;

    server.signal("-TERM");
    // New connections are refused from now on (the listener is closed).
    eventually(
        Duration::from_secs(20),
        "new connections are refused",
        || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.is_err() }
        },
    )
    .await;
    let refused = reqwest::Client::new()
        .get(format!("{base}/api/v1/threads"))
        .bearer_auth(token("alice"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new request gets no answer: {refused:?}"
    );
    assert!(
        server.is_running(),
        "still finishing the in-flight requests"
    );

    // The database lets them through: every in-flight request completes.
    lock.commit().await.expect("release the lock");
    for request in in_flight {
        let (status, body) = tokio::time::timeout(Duration::from_secs(30), request)
            .await
            .expect("the in-flight request completes")
            .expect("task");
        assert_eq!(status, 201, "{body}");
    }
    let status = server.exit_status(Duration::from_secs(40)).await;
    assert!(status.success(), "clean exit: {status}");
    let logs = server.logs();
    assert!(
        !logs.iter().any(|l| l.contains("\"level\":\"ERROR\"")),
        "no error logged while stopping"
    );

    // Everything they were told is stored.
    let server = Server::start(dir.path(), &env);
    let stored = stored_messages(server.base(), "alice", &thread).await;
    let stored_ids: Vec<&str> = stored.iter().filter_map(|m| m["id"].as_str()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut found = stored_ids.clone();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, expected);
    eprintln!(
        "chaos SIGTERM: 1 SIGTERM with {IN_FLIGHT} appends in flight: all answered 201 and stored; new connections refused; exit 0"
    );
    locker.close().await.expect("close");
    watcher.close().await.expect("close");
}
