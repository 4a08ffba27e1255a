use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, problem, spawn_app, spawn_app_with};

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

/// Reads from `stream` until the server closes it or `done` holds for what arrived;
/// bounded only so that a broken server cannot hang CI.
async fn read_until(stream: &mut tokio::net::TcpStream, done: impl Fn(&str) -> bool) -> String {
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if done(&String::from_utf8_lossy(&answer)) {
                return answer;
            }
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server answers or closes by itself");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected_and_others_are_served() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.client_timeout_secs = 1).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /api/v1/threads HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    // Meanwhile another client is served.
    assert_eq!(app.get("/api/v1/threads", "alice").await.status(), 200);
    // The server gives up on the head by itself: a 408, then the connection is closed.
    let answer = read_until(&mut slow, |_| false).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_without_reading_it_all() {
    let app = spawn_app(Backend::Sqlite).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/threads HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        crate::helpers::token("alice")
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // 3 MiB in 64 KiB chunks, no Content-Length; the server may stop reading early, so
    // write errors are expected and ignored.
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
    for _ in 0..48 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_until(&mut stream, |a| a.contains("payload_too_large")).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let page: serde_json::Value = app
        .get("/api/v1/threads", "alice")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"], json!([]), "nothing was stored");
}
