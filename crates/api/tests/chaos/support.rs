//! The binary as a child process, test databases, tokens and bounded polling.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait as _;

use auth::Secret;
use domain::UserId;

const BIN: &str = env!("CARGO_BIN_EXE_chat-history");

/// The HS256 secret every server of these tests accepts tokens of.
pub const SECRET: &str = "chaos-tests-secret-0123456789abcdef";

/// A token for `user` that the servers accept.
pub fn token(user: &str) -> String {
    auth::mint_hs256(
        &Secret::new(SECRET),
        &UserId::parse(user).expect("user id"),
        3600,
    )
    .expect("token")
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `chat-history serve`, killed (SIGKILL) when dropped if still running.
pub struct Server {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary in `dir` with a clean environment plus `env`, on a free port of
    /// 127.0.0.1, and waits for its "listening" log line.
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("JWT_HS256_SECRET", SECRET)
            // The load comes from a few users as fast as they can; the limiter has tests
            // of its own.
            .env("RATE_LIMIT_PER_MINUTE", "0")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        // Drains stderr for the life of the process, so the server never blocks on a full
        // pipe, and hands over the address once it is listening.
        std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(tx) = &addr_tx {
                    let addr = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .filter(|e| e["message"] == "chat-history is listening")
                        .and_then(|e| e["addr"].as_str().map(str::to_owned));
                    if let Some(addr) = addr {
                        let _ = tx.send(addr);
                        addr_tx = None;
                    }
                }
                sink.lock().expect("logs").push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!("the server did not start: {:?}", logs.lock().expect("logs"))
            });
        Self {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`-KILL`, `-TERM`) to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {sig}");
    }

    /// SIGKILL, and reap the process.
    pub fn kill_9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit, at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Statuses of the request log lines so far.
    pub fn answered_statuses(&self) -> Vec<u64> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["message"] == "request")
            .filter_map(|e| e["status"].as_u64())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test shows what the server said was wrong.
            for line in self
                .logs()
                .iter()
                .filter(|l| l.contains("\"level\":\"ERROR\""))
            {
                eprintln!("server: {line}");
            }
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a database URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

pub use crate::db_support::connect;

/// Runs one statement on `url`.
pub async fn execute(url: &str, sql: &str) {
    let db = connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url}: {e}"));
    db.execute_unprepared(sql).await.expect(sql);
    db.close().await.expect("close");
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A fresh database for one test: on the shared PostgreSQL (dropped afterwards) or a
/// SQLite file in a temporary directory.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
                Self {
                    url,
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("chtest_chaos_{}", uuid::Uuid::new_v4().simple());
                execute(&admin_url(), &format!("CREATE DATABASE \"{name}\"")).await;
                Self {
                    url: with_database(&admin_url(), &name),
                    postgres: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.postgres.take() {
            // Drop cannot be async: clean up on a runtime of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        if let Ok(db) = connect(&admin_url()).await {
                            let _ = db
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            let _ = db.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}
