use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, problem, spawn_app_with};

#[tokio::test]
async fn a_user_over_the_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_per_minute = 1;
        s.rate_limit_burst = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/threads", "alice").await.status(), 200);
    }
    let res = app.get("/api/v1/threads", "alice").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body = problem(res, 429).await;
    assert_eq!(body["code"], "rate_limited");
    // Writes are limited too, and nothing is stored.
    let res = app.post("/api/v1/threads", "alice", json!({})).await;
    problem(res, 429).await;
    assert_eq!(app.get("/api/v1/threads", "bob").await.status(), 200);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_gets_408_and_its_connection_back() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.client_timeout_secs = 1).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/threads HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        crate::helpers::token("alice")
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // The server answers by itself; the bound only keeps a broken server from hanging CI.
    let read_answer = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&answer).contains("request_timeout") {
                return answer;
            }
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), read_answer)
        .await
        .expect("the server answers a stalled body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    let res = app.get("/api/v1/threads", "alice").await;
    assert_eq!(res.status(), 200, "nothing was stored");
}
