//! The `chat-history` binary as an operator runs it: commands, configuration errors,
//! development mode, signals, and durability across `kill -9`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_chat-history");

/// A command with a clean environment: only what the test sets.
fn chat_history(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running server: the process, its base URL, and its log lines so far (all of them
/// once the process has exited and `logs` has been joined).
struct Served {
    child: Child,
    base: String,
    logs: std::thread::JoinHandle<Vec<String>>,
}

/// Starts `serve` on a free port; the base URL is read from the "listening" log line.
fn serve(cmd: &mut Command) -> (Child, String) {
    let served = serve_with_logs(cmd);
    (served.child, served.base)
}

/// A development token for "alice", then `serve`, both with the environment `env`.
fn token_and_server(dir: &Path, env: &[(&str, &str)]) -> (String, Served) {
    let (ok, token, stderr) = run(chat_history(dir)
        .args(["dev-token", "alice"])
        .envs(env.iter().copied()));
    assert!(ok, "{stderr}");
    let served = serve_with_logs(chat_history(dir).envs(env.iter().copied()));
    (token.trim().to_owned(), served)
}

fn serve_with_logs(cmd: &mut Command) -> Served {
    let mut child = cmd
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs before it exits")
            .expect("log line");
        let listening = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(|entry| entry["message"] == "chat-history is listening")
            .and_then(|entry| entry["addr"].as_str().map(str::to_owned));
        seen.push(line);
        if let Some(addr) = listening {
            break addr;
        }
    };
    // Keep draining the logs so the server never blocks on a full pipe.
    let logs = std::thread::spawn(move || {
        seen.extend(lines.map_while(Result::ok));
        seen
    });
    Served {
        child,
        base: format!("http://{addr}"),
        logs,
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Environment, arguments, and the setting the error must name.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    &'static str,
);

#[test]
fn unusable_settings_stop_the_binary_with_one_line_naming_them() {
    let dir = tempfile::tempdir().expect("dir");
    let cases: [Case; 6] = [
        (&[("DATABASE_URL", "nosuchdb://x")], &[], "DATABASE_URL"),
        (&[("DB_POOLER", "sometimes")], &[], "db-pooler"),
        (
            &[
                ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
                ("DB_POOLER", "transaction"),
            ],
            &["migrate"],
            "MIGRATE_DATABASE_URL",
        ),
        (&[("LISTEN_ADDR", "not-an-address")], &[], "listen-addr"),
        (&[], &["--no-such-option"], "--no-such-option"),
        (
            &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
            &["migrate"],
            "DATABASE_URL",
        ),
    ];
    for (env, args, named) in cases {
        let mut cmd = chat_history(dir.path());
        cmd.args(args).envs(env.iter().copied());
        let (ok, _, stderr) = run(&mut cmd);
        assert!(!ok, "{env:?} {args:?} must fail");
        assert!(stderr.contains(named), "{named} not named in: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let first = stderr.lines().find(|l| l.contains(named)).expect("line");
        assert!(first.len() < 400, "one readable line: {first}");
    }
}

#[test]
fn help_never_prints_the_values_of_urls_or_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let secrets = [
        ("DATABASE_URL", "postgres://app:hunter2-db@db.internal/chat"),
        (
            "MIGRATE_DATABASE_URL",
            "postgres://owner:hunter2-migrate@db.internal/chat",
        ),
        (
            "BETTER_AUTH_DATABASE_URL",
            "postgres://auth:hunter2-auth@db.internal/auth",
        ),
        (
            "BETTER_AUTH_SECRET",
            "hunter2-better-auth-secret-0123456789",
        ),
        ("JWT_HS256_SECRET", "hunter2-jwt-secret-0123456789abcdef"),
    ];
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
    ] {
        let mut cmd = chat_history(dir.path());
        cmd.args(args).envs(secrets.iter().copied());
        let (ok, stdout, stderr) = run(&mut cmd);
        assert!(ok, "{args:?}: {stderr}");
        assert!(stdout.contains("DATABASE_URL"), "the setting is documented");
        assert!(
            stdout.contains("MIGRATE_DATABASE_URL"),
            "the setting is documented"
        );
        assert!(
            !stdout.contains("hunter2") && !stderr.contains("hunter2"),
            "{args:?} prints a secret: {stdout}"
        );
    }
}

#[test]
fn dev_token_mints_a_token_that_the_development_server_accepts() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, token, stderr) = run(chat_history(dir.path()).args(["dev-token", "alice"]));
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let secret = dir.path().join("data/dev-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret)
            .expect("secret file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let Served {
        mut child,
        base,
        logs,
    } = serve_with_logs(&mut chat_history(dir.path()));
    let client = reqwest::blocking::Client::new();
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .header("X-Request-Id", "trace-me-1")
        .send()
        .expect("request")
        .json()
        .expect("json");
    assert_eq!(me, json!({"user_id": "alice", "auth": "jwt"}));
    let res = client
        .get(format!("{base}/api/v1/me"))
        .send()
        .expect("request");
    assert_eq!(
        res.status(),
        401,
        "no unauthenticated access in development mode"
    );
    assert!(dir.path().join("data/chat-history.db").exists());
    signal(&child, "-TERM");
    assert!(
        child.wait().expect("exit").success(),
        "clean exit on SIGTERM"
    );

    let logs = logs.join().expect("logs");
    assert!(
        logs.iter().any(|l| l.contains("DEVELOPMENT MODE")),
        "development mode is announced"
    );
    let request = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["message"] == "request" && e["request_id"] == "trace-me-1")
        .expect("one JSON line per request");
    assert_eq!(request["route"], "/api/v1/me");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["status"], 200);
    assert_eq!(request["user_id"], "alice");
    assert!(request["latency_ms"].is_number());
    let signature = token.rsplit('.').next().expect("signature");
    assert!(
        logs.iter().all(|l| !l.contains(signature)),
        "tokens never reach the logs"
    );
}

#[test]
fn secrets_can_be_given_as_files_and_never_reach_the_logs() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = "file-secret-0123456789abcdef0123456789abcdef";
    let db = dir.path().join("from-file.db");
    let url_file = dir.path().join("database-url");
    let secret_file = dir.path().join("jwt-secret");
    std::fs::write(&url_file, format!("sqlite://{}?mode=rwc\n", db.display())).expect("write");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("write");
    let files = [
        ("DATABASE_URL_FILE", url_file.to_str().expect("utf-8")),
        (
            "JWT_HS256_SECRET_FILE",
            secret_file.to_str().expect("utf-8"),
        ),
    ];
    let (token, served) = token_and_server(dir.path(), &files);
    let Served {
        mut child,
        base,
        logs,
    } = served;
    let me: Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .expect("request")
        .json()
        .expect("json");
    assert_eq!(me, json!({"user_id": "alice", "auth": "jwt"}));
    assert!(db.exists(), "DATABASE_URL came from its file");
    assert!(
        !dir.path().join("data").exists(),
        "not development mode: the secret came from its file"
    );
    signal(&child, "-TERM");
    assert!(child.wait().expect("exit").success());
    let logs = logs.join().expect("logs");
    assert!(
        logs.iter().all(|l| !l.contains(secret)),
        "the secret is never logged"
    );

    // Refusals name the variables: both forms, a missing file, an empty one.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").expect("write");
    let missing = dir.path().join("missing");
    let cases: [(Vec<(&str, &str)>, &str); 3] = [
        (
            vec![
                ("JWT_HS256_SECRET", secret),
                (
                    "JWT_HS256_SECRET_FILE",
                    secret_file.to_str().expect("utf-8"),
                ),
            ],
            "JWT_HS256_SECRET and JWT_HS256_SECRET_FILE are both set",
        ),
        (
            vec![("BETTER_AUTH_SECRET_FILE", missing.to_str().expect("utf-8"))],
            "BETTER_AUTH_SECRET_FILE: cannot read",
        ),
        (
            vec![("DATABASE_URL_FILE", empty.to_str().expect("utf-8"))],
            "DATABASE_URL_FILE:",
        ),
    ];
    for (env, named) in cases {
        let (ok, _, stderr) = run(chat_history(dir.path()).arg("migrate").envs(env.clone()));
        assert!(!ok, "{env:?} must fail");
        assert!(stderr.contains(named), "{named} not in: {stderr}");
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

#[test]
fn a_5xx_log_line_carries_the_request_id_the_client_got() {
    let dir = tempfile::tempdir().expect("dir");
    let (url, drop_database) = postgres_database();
    let env = [
        ("DATABASE_URL", url.as_str()),
        (
            "JWT_HS256_SECRET",
            "span-secret-0123456789abcdef0123456789abcd",
        ),
        ("DB_ACQUIRE_TIMEOUT_SECS", "1"),
    ];
    let (token, served) = token_and_server(dir.path(), &env);
    let Served {
        mut child,
        base,
        logs,
    } = served;
    let client = reqwest::blocking::Client::new();
    let list = format!("{base}/api/v1/threads");
    let res = client
        .get(&list)
        .bearer_auth(&token)
        .send()
        .expect("request");
    assert_eq!(res.status(), 200);
    // The database goes away under the server: the next request fails with a 5xx.
    drop_database();
    let res = client
        .get(&list)
        .bearer_auth(&token)
        .header("X-Request-Id", "trace-5xx-1")
        .send()
        .expect("request");
    assert!(res.status().is_server_error(), "{}", res.status());
    assert_eq!(res.headers()["x-request-id"], "trace-5xx-1");
    signal(&child, "-TERM");
    assert!(child.wait().expect("exit").success());

    // The line that says why, found by the id the client got.
    let logs: Vec<Value> = logs
        .join()
        .expect("logs")
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failure = logs
        .iter()
        .find(|e| e["message"] == "request failed")
        .expect("the 5xx is logged with its cause");
    assert_eq!(failure["level"], "ERROR");
    assert_eq!(failure["span"]["request_id"], "trace-5xx-1", "{failure}");
    let request = logs
        .iter()
        .find(|e| e["message"] == "request" && e["request_id"] == "trace-5xx-1")
        .expect("the request line");
    assert!(request["status"].as_u64().is_some_and(|s| s >= 500));
}

#[test]
fn healthcheck_exits_0_only_when_the_server_at_listen_addr_is_ready() {
    let dir = tempfile::tempdir().expect("dir");
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let (ok, _, stderr) = run(chat_history(dir.path())
        .arg("healthcheck")
        .env("LISTEN_ADDR", free.to_string()));
    assert!(!ok, "nothing listens there");
    assert!(stderr.contains("not ready"), "{stderr}");

    let Served {
        mut child, base, ..
    } = serve_with_logs(&mut chat_history(dir.path()));
    let addr = base.trim_start_matches("http://").to_owned();
    let port = addr.rsplit(':').next().expect("port").to_owned();
    for listen in [addr, format!("0.0.0.0:{port}")] {
        let (ok, _, stderr) = run(chat_history(dir.path())
            .arg("healthcheck")
            .env("LISTEN_ADDR", &listen));
        assert!(ok, "{listen}: {stderr}");
    }
    signal(&child, "-TERM");
    assert!(child.wait().expect("exit").success());
}

fn postgres_database() -> (String, impl FnOnce()) {
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("chtest_bin_{}", uuid::Uuid::new_v4().simple());
    let sql = |statement: String| {
        let admin = admin.clone();
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sea_orm::ConnectionTrait as _;
                let db = sea_orm::Database::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL is not reachable at {admin} ({e}); start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
                        )
                    });
                db.execute_unprepared(&statement).await.expect("sql");
            });
        }
    };
    sql(format!("CREATE DATABASE \"{name}\""))();
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path(&format!("/{name}"));
    (
        url.to_string(),
        sql(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")),
    )
}

fn every_acknowledged_message_survives_kill_9(database_url: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let start = || {
        let mut cmd = chat_history(dir.path());
        cmd.env("DATABASE_URL", database_url)
            .env("JWT_HS256_SECRET", "kill-nine-secret");
        serve(&mut cmd)
    };
    let (_, token, _) = run(chat_history(dir.path())
        .env("JWT_HS256_SECRET", "kill-nine-secret")
        .args(["dev-token", "alice"]));
    let token = token.trim().to_owned();
    let client = reqwest::blocking::Client::new();

    let (mut child, base) = start();
    let thread: Value = client
        .post(format!("{base}/api/v1/threads"))
        .bearer_auth(&token)
        .json(&json!({"title": "durable"}))
        .send()
        .expect("request")
        .json()
        .expect("json");
    let tid = thread["id"].as_str().expect("id").to_owned();
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let res = client
            .post(format!("{base}/api/v1/threads/{tid}/messages"))
            .bearer_auth(&token)
            .json(&json!({"role": "user", "content": format!("m{i}")}))
            .send()
            .expect("request");
        if res.status() == 201 {
            let m: Value = res.json().expect("json");
            acknowledged.push(m["id"].as_str().expect("id").to_owned());
        }
    }
    signal(&child, "-KILL");
    let _ = child.wait();

    let (mut child, base) = start();
    let page: Value = client
        .get(format!("{base}/api/v1/threads/{tid}/messages?limit=100"))
        .bearer_auth(&token)
        .send()
        .expect("request")
        .json()
        .expect("json");
    let stored: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(acknowledged.len(), 50);
    assert_eq!(stored, acknowledged);
    signal(&child, "-TERM");
    assert!(child.wait().expect("exit").success());
}

#[test]
fn every_acknowledged_message_survives_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    every_acknowledged_message_survives_kill_9(&url);
}

#[test]
fn every_acknowledged_message_survives_kill_9_on_postgres() {
    let (url, drop_database) = postgres_database();
    every_acknowledged_message_survives_kill_9(&url);
    drop_database();
}
