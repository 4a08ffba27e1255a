//! A database slower than the pool can absorb: every query blocks on a lock that another
//! session holds, so the pool's connections stay busy and requests queue for them.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
use serde_json::{Value, json};

use crate::load::{create_thread, stored_messages};
use crate::support::{Backend, Server, TestDatabase, eventually, token};

/// Bound on one answer: the statement timeout (2 s) plus the acquire timeout (1 s), with a
/// wide margin for a loaded machine. A hang or a deadlock would exceed it.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);
const REQUESTS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_cannot_keep_up_requests_wait_a_bounded_time_then_get_503() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", db.url.clone()),
            ("DB_MAX_CONNECTIONS", "2".to_owned()),
            ("DB_ACQUIRE_TIMEOUT_SECS", "1".to_owned()),
            ("DB_STATEMENT_TIMEOUT_SECS", "2".to_owned()),
        ],
    );
    let base = server.base().to_owned();
    let thread = create_thread(&base, "alice", "slow").await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");

    // Another session locks the threads table: every request's first statement waits.
    let locker = crate::support::connect(&db.url).await.expect("connect");
    let lock = locker.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE chat_threads IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");

    let mut appends = Vec::new();
    let mut requests = Vec::new();
    for i in 0..REQUESTS {
        let http = http.clone();
        let (method, url, body) = match i % 3 {
            0 => {
                let id = uuid::Uuid::new_v4().to_string();
                let body = json!({"id": id, "role": "user", "content": format!("slow {i}")});
                appends.push(body.clone());
                (
                    reqwest::Method::POST,
                    format!("{base}/api/v1/threads/{thread}/messages"),
                    Some(body),
                )
            }
            1 => (reqwest::Method::GET, format!("{base}/api/v1/threads"), None),
            _ => (
                reqwest::Method::GET,
                format!("{base}/api/v1/threads/{thread}"),
                None,
            ),
        };
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut req = http
                .request(method.clone(), &url)
                .bearer_auth(token("alice"));
            if let Some(body) = body {
                req = req.json(&body);
            }
            let res = req.send().await.expect("an answer");
            let status = res.status().as_u16();
            let retry_after = res.headers().contains_key("retry-after");
            let problem: Value = res.json().await.unwrap_or(Value::Null);
            (
                format!("{method} {url}"),
                status,
                retry_after,
                problem,
                started.elapsed(),
            )
        }));
    }
    // The process itself stays responsive meanwhile.
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    for request in requests {
        let (what, status, retry_after, problem, took) = request.await.expect("task");
        assert_eq!(status, 503, "{what}: {problem}");
        assert!(retry_after, "{what}: Retry-After");
        assert_eq!(problem["code"], "service_unavailable", "{what}");
        assert!(took < ANSWER_WITHIN, "{what} waited {took:?}");
    }

    // The lock goes away: the same process serves again, nothing is stuck.
    lock.rollback().await.expect("release the lock");
    locker.close().await.expect("close");
    eventually(Duration::from_secs(30), "appends succeed again", || {
        let http = http.clone();
        let url = format!("{base}/api/v1/threads/{thread}/messages");
        async move {
            http.post(url)
                .bearer_auth(token("alice"))
                .json(&json!({"role": "user", "content": "after"}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 201)
        }
    })
    .await;
    // A 503 stored nothing here (the lock kept every write out), so retrying each with
    // the same id stores it now, once.
    for body in &appends {
        let res = http
            .post(format!("{base}/api/v1/threads/{thread}/messages"))
            .bearer_auth(token("alice"))
            .json(body)
            .send()
            .await
            .expect("retry");
        assert_eq!(res.status(), 201, "retry of {body}");
    }
    let stored = stored_messages(&base, "alice", &thread).await;
    let after = stored.iter().filter(|m| m["content"] == "after").count();
    assert_eq!(stored.len(), appends.len() + after);
    for body in &appends {
        assert_eq!(
            stored.iter().filter(|m| m["id"] == body["id"]).count(),
            1,
            "{body} stored once"
        );
    }
    let statuses = server.answered_statuses();
    assert!(
        statuses.iter().all(|s| *s < 500 || *s == 503),
        "no 5xx but 503: {statuses:?}"
    );
    eprintln!(
        "chaos slow database: {REQUESTS} requests against a pool of 2 blocked by a lock, all answered 503 + Retry-After within {ANSWER_WITHIN:?}; recovered; {} retried appends stored once",
        appends.len()
    );
    server.signal("-TERM");
    assert!(
        server.exit_status(Duration::from_secs(40)).await.success(),
        "clean exit"
    );
}
