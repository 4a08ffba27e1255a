//! Clients that append messages with ids of their own and retry with the same id until
//! the server acknowledges them, and the check that every message is stored exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::token;

/// One message a client will append.
#[derive(Debug, Clone)]
pub struct Planned {
    pub user: String,
    pub thread: String,
    pub id: String,
    pub content: String,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages acknowledged: 201, or 200 `Idempotent-Replayed` for a retry of a message
    /// whose first answer was lost.
    pub acknowledged: AtomicUsize,
    /// Of those, answered 200 (a retry found the message already stored).
    pub replayed: AtomicUsize,
    /// Requests sent.
    pub requests: AtomicUsize,
    /// Requests that failed without an HTTP answer (connection refused or reset, timeout).
    pub transport_errors: AtomicUsize,
    /// 503 answers (each with `Retry-After`).
    pub unavailable: AtomicUsize,
    /// Anything else: a 500, a 503 without `Retry-After`, a 409, a 4xx. Must stay empty.
    pub unexpected: Mutex<Vec<String>>,
}

impl Stats {
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::SeqCst)
    }

    pub fn unexpected(&self) -> Vec<String> {
        self.unexpected.lock().expect("lock").clone()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} acknowledged ({} of them on a retry, as 200 replays), {} requests, {} without an answer, {} answered 503",
            self.acknowledged(),
            self.replayed.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
            self.transport_errors.load(Ordering::SeqCst),
            self.unavailable.load(Ordering::SeqCst),
        )
    }
}

/// Where the clients send requests: changes when a killed server is replaced.
pub type Base = Arc<RwLock<String>>;

/// `clients` × `per_client` messages spread over `threads` (user, thread id), client `c`
/// writing to thread `c % threads.len()`.
pub fn plan(threads: &[(String, String)], clients: usize, per_client: usize) -> Vec<Vec<Planned>> {
    (0..clients)
        .map(|c| {
            let (user, thread) = &threads[c % threads.len()];
            (0..per_client)
                .map(|i| Planned {
                    user: user.clone(),
                    thread: thread.clone(),
                    id: uuid::Uuid::new_v4().to_string(),
                    content: format!("client {c} message {i}"),
                })
                .collect()
        })
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Appends each message in order, retrying each (same id, same body) until it is
/// acknowledged; gives up at `deadline`. Returns the ids acknowledged.
pub async fn run_client(
    base: Base,
    messages: Vec<Planned>,
    stats: Arc<Stats>,
    deadline: Instant,
) -> Vec<String> {
    let client = client();
    let mut acknowledged = Vec::new();
    for m in messages {
        let body = json!({"id": m.id, "role": "user", "content": m.content});
        let bearer = token(&m.user);
        let mut backoff = Duration::from_millis(20);
        loop {
            if Instant::now() > deadline {
                return acknowledged;
            }
            let url = format!(
                "{}/api/v1/threads/{}/messages",
                base.read().expect("base"),
                m.thread
            );
            stats.requests.fetch_add(1, Ordering::SeqCst);
            match client
                .post(url)
                .bearer_auth(&bearer)
                .json(&body)
                .send()
                .await
            {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let replayed = res.headers().contains_key("idempotent-replayed");
                    let retry_after = res.headers().contains_key("retry-after");
                    let answer = res.json::<Value>().await;
                    match (status, answer) {
                        (201, Ok(v)) | (200, Ok(v)) if v["id"] == m.id.as_str() => {
                            if status == 200 {
                                assert!(replayed, "a 200 append is a replay");
                                stats.replayed.fetch_add(1, Ordering::SeqCst);
                            }
                            stats.acknowledged.fetch_add(1, Ordering::SeqCst);
                            acknowledged.push(m.id.clone());
                            break;
                        }
                        // The answer was cut off with the connection: a retry tells.
                        (201 | 200, Err(_)) => {
                            stats.transport_errors.fetch_add(1, Ordering::SeqCst);
                        }
                        (503, _) if retry_after => {
                            stats.unavailable.fetch_add(1, Ordering::SeqCst);
                        }
                        (status, answer) => {
                            stats
                                .unexpected
                                .lock()
                                .expect("lock")
                                .push(format!("{status} {answer:?}"));
                            return acknowledged;
                        }
                    }
                }
                Err(_) => {
                    stats.transport_errors.fetch_add(1, Ordering::SeqCst);
                }
            }
            // A client's retry delay, not a wait for a condition.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }
    acknowledged
}

/// Starts one task per client.
pub fn start_clients(
    base: &Base,
    plan: &[Vec<Planned>],
    stats: &Arc<Stats>,
    within: Duration,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    let deadline = Instant::now() + within;
    plan.iter()
        .map(|messages| {
            tokio::spawn(run_client(
                Arc::clone(base),
                messages.clone(),
                Arc::clone(stats),
                deadline,
            ))
        })
        .collect()
}

/// Waits for every client and returns the ids they saw acknowledged.
pub async fn join_clients(handles: Vec<tokio::task::JoinHandle<Vec<String>>>) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for handle in handles {
        acknowledged.extend(handle.await.expect("client task"));
    }
    acknowledged
}

/// Every message of a thread, page by page.
pub async fn stored_messages(base: &str, user: &str, thread: &str) -> Vec<Value> {
    let client = client();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/threads/{thread}/messages?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = client
            .get(url)
            .bearer_auth(token(user))
            .send()
            .await
            .expect("list messages");
        assert_eq!(res.status(), 200, "list messages");
        let page: Value = res.json().await.expect("a page");
        all.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Checks, through the API of the server at `base`, that every planned message was
/// acknowledged and is stored exactly once with its content, that nothing else is stored
/// in those threads, and that each thread's `message_count` agrees. Returns how many
/// messages were found.
pub async fn assert_stored_exactly_once(
    base: &str,
    plan: &[Vec<Planned>],
    acknowledged: &[String],
) -> usize {
    let planned: Vec<&Planned> = plan.iter().flatten().collect();
    let mut acked: HashMap<&str, usize> = HashMap::new();
    for id in acknowledged {
        *acked.entry(id.as_str()).or_default() += 1;
    }
    for m in &planned {
        assert_eq!(
            acked.get(m.id.as_str()),
            Some(&1),
            "message {} was acknowledged once",
            m.id
        );
    }
    let mut by_thread: BTreeMap<(&str, &str), Vec<&Planned>> = BTreeMap::new();
    for m in &planned {
        by_thread
            .entry((m.user.as_str(), m.thread.as_str()))
            .or_default()
            .push(m);
    }
    let mut found = 0;
    for ((user, thread), expected) in by_thread {
        let stored = stored_messages(base, user, thread).await;
        let mut stored_ids: HashMap<String, &Value> = HashMap::new();
        for m in &stored {
            let id = m["id"].as_str().expect("id").to_owned();
            assert!(
                stored_ids.insert(id.clone(), m).is_none(),
                "message {id} is listed twice"
            );
        }
        for m in &expected {
            let row = stored_ids
                .get(&m.id)
                .unwrap_or_else(|| panic!("acknowledged message {} is lost", m.id));
            assert_eq!(row["content"], m.content.as_str(), "content of {}", m.id);
        }
        assert_eq!(
            stored.len(),
            expected.len(),
            "thread {thread} holds exactly the acknowledged messages, none twice"
        );
        let res = client()
            .get(format!("{base}/api/v1/threads/{thread}"))
            .bearer_auth(token(user))
            .send()
            .await
            .expect("get thread");
        let t: Value = res.json().await.expect("thread");
        assert_eq!(
            t["message_count"],
            json!(expected.len()),
            "message_count of {thread}"
        );
        found += stored.len();
    }
    found
}

/// Creates a thread for `user` through the server at `base`.
pub async fn create_thread(base: &str, user: &str, title: &str) -> String {
    let res = client()
        .post(format!("{base}/api/v1/threads"))
        .bearer_auth(token(user))
        .json(&json!({"title": title}))
        .send()
        .await
        .expect("create thread");
    assert_eq!(res.status(), 201, "create thread");
    let thread: Value = res.json().await.expect("thread");
    thread["id"].as_str().expect("id").to_owned()
}
