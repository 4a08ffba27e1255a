//! PostgreSQL stops (cleanly, then like a crash) and comes back while clients append.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::load::{
    Stats, assert_stored_exactly_once, create_thread, join_clients, plan, start_clients,
};
use crate::private_postgres::PrivatePostgres;
use crate::support::{Server, eventually, execute, token};

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 40;
/// Longest a request may take while the database is down: the acquire timeout (1 s) and
/// connecting (refused at once), with a wide margin for a loaded machine. A hang would
/// exceed it; a fast answer is not what is asserted.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// Sends one request and returns its status, `Retry-After`, body and how long it took.
async fn probe(
    client: &reqwest::Client,
    user: &str,
    method: Method,
    url: String,
    body: Option<Value>,
) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let mut req = client.request(method, url).bearer_auth(token(user));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, retry_after, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_requests_get_503_and_the_same_process_recovers_by_itself() {
    let mut postgres = PrivatePostgres::start();
    execute(&postgres.url("postgres"), "CREATE DATABASE chat").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", postgres.url("chat")),
            ("DB_ACQUIRE_TIMEOUT_SECS", "1".to_owned()),
            ("DB_MAX_CONNECTIONS", "8".to_owned()),
        ],
    );
    let pid = server.pid();
    let base = server.base().to_owned();
    let threads = vec![
        (
            "alice".to_owned(),
            create_thread(&base, "alice", "load").await,
        ),
        ("bob".to_owned(), create_thread(&base, "bob", "load").await),
    ];
    // Probes write to a thread of their own, so that the load's threads hold exactly the
    // load's messages.
    let probe_thread = create_thread(&base, "alice", "probes").await;
    let plan = plan(&threads, CLIENTS, PER_CLIENT);
    let stats = Arc::new(Stats::default());
    let shared_base = Arc::new(RwLock::new(base.clone()));
    let clients = start_clients(&shared_base, &plan, &stats, Duration::from_secs(150));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");

    let mut outage_answers = 0;
    for (i, mode) in ["fast", "immediate"].into_iter().enumerate() {
        let at = 70 * (i + 1);
        eventually(Duration::from_secs(90), "appends are acknowledged", || {
            let stats = Arc::clone(&stats);
            async move { stats.acknowledged() >= at || !stats.unexpected().is_empty() }
        })
        .await;
        postgres.stop(mode);

        // While it is down: every kind of request is answered 503 with Retry-After, in
        // bounded time; the liveness probe still answers.
        let requests = [
            (Method::GET, "/readyz".to_owned(), None),
            (Method::GET, "/api/v1/threads".to_owned(), None),
            (
                Method::GET,
                format!("/api/v1/threads/{probe_thread}/messages"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/threads/{probe_thread}/messages"),
                Some(json!({"role": "user", "content": "while down"})),
            ),
            (
                Method::POST,
                "/api/v1/threads".to_owned(),
                Some(json!({"title": "while down"})),
            ),
        ];
        for (method, path, body) in requests {
            let (status, retry_after, problem, took) = probe(
                &http,
                "alice",
                method.clone(),
                format!("{base}{path}"),
                body,
            )
            .await;
            assert_eq!(
                status, 503,
                "{method} {path} while PostgreSQL is down: {problem}"
            );
            assert!(retry_after.is_some(), "{method} {path}: Retry-After");
            assert_eq!(problem["code"], "service_unavailable", "{method} {path}");
            assert!(took < ANSWER_WITHIN, "{method} {path} hung for {took:?}");
            outage_answers += 1;
        }
        // (Someone else's whole history: alice's must stay, whatever happens.)
        let (status, retry_after, ..) = probe(
            &http,
            "carol",
            Method::DELETE,
            format!("{base}/api/v1/me/history"),
            None,
        )
        .await;
        assert_eq!(
            (status, retry_after.is_some()),
            (503, true),
            "DELETE history"
        );
        outage_answers += 1;
        let (status, ..) =
            probe(&http, "alice", Method::GET, format!("{base}/healthz"), None).await;
        assert_eq!(status, 200, "the process itself is alive");

        postgres.start_server();
        // The same process recovers by itself: no restart, no operator.
        eventually(Duration::from_secs(60), "/readyz recovers", || {
            let http = http.clone();
            let url = format!("{base}/readyz");
            async move { probe(&http, "alice", Method::GET, url, None).await.0 == 200 }
        })
        .await;
        let (status, ..) = probe(
            &http,
            "alice",
            Method::POST,
            format!("{base}/api/v1/threads/{probe_thread}/messages"),
            Some(json!({"role": "user", "content": "after recovery"})),
        )
        .await;
        assert_eq!(status, 201, "appends work again after the {mode} restart");
    }

    let acknowledged = join_clients(clients).await;
    assert_eq!(
        stats.unexpected(),
        Vec::<String>::new(),
        "only 201, 200 replays, 503 with Retry-After, or no answer"
    );
    assert!(server.is_running(), "the same process served throughout");
    assert_eq!(server.pid(), pid);
    let found = assert_stored_exactly_once(&base, &plan, &acknowledged).await;
    assert_eq!(found, CLIENTS * PER_CLIENT);
    let errors = server
        .answered_statuses()
        .into_iter()
        .filter(|s| *s >= 500 && *s != 503)
        .count();
    assert_eq!(errors, 0, "no 5xx other than 503");
    eprintln!(
        "chaos PostgreSQL restarts: 2 restarts (fast, immediate) under {CLIENTS} clients; {outage_answers} probes answered 503 + Retry-After while down; {}; {found} found stored, each exactly once",
        stats.summary(),
    );
    server.signal("-TERM");
    assert!(
        server.exit_status(Duration::from_secs(40)).await.success(),
        "clean exit"
    );
}
