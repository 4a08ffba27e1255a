//! Behind PgBouncer in transaction mode (`DB_POOLER=transaction`): a PgBouncer of the
//! test's own (Debian's `pgbouncer`, on a free port, two server connections for many
//! clients) in front of a fresh database, migrations through a direct
//! `MIGRATE_DATABASE_URL`, then concurrent clients exercising every kind of statement and
//! transaction the service runs, and the statement timeout cancelling a statement stuck
//! behind a lock (it is set with `SET LOCAL`, since PgBouncer refuses the `options`
//! startup parameter).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::support::{Backend, Server, TestDatabase, token};

fn pgbouncer_binary() -> String {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            panic!("PgBouncer is needed for this test: `apt-get install pgbouncer` (.ci/run installs it)")
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A PgBouncer in transaction mode for one database; killed when dropped.
struct PgBouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    fn start(database: &str, server: &url::Url) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let host = server.host_str().unwrap_or("127.0.0.1");
        let server_port = server.port().unwrap_or(5432);
        let user = if server.username().is_empty() {
            "postgres"
        } else {
            server.username()
        };
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n")).expect("users");
        let ini = format!(
            "[databases]\n{database} = host={host} port={server_port} dbname={database} user={user}\n\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {}/users.txt\npool_mode = transaction\n\
             default_pool_size = 2\nmax_client_conn = 200\n\
             ignore_startup_parameters = extra_float_digits\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).expect("ini");
        // PgBouncer refuses to run as root; `-u` switches to an unprivileged user, who
        // must be able to read the files.
        let mut cmd = Command::new(pgbouncer_binary());
        let root = std::env::var("USER").is_ok_and(|u| u == "root")
            || Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if root {
            use std::os::unix::fs::PermissionsExt as _;
            for entry in [
                dir.path().to_path_buf(),
                dir.path().join("users.txt"),
                dir.path().join("pgbouncer.ini"),
            ] {
                let mode = if entry.is_dir() { 0o755 } else { 0o644 };
                std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PgBouncer did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(
    client: &Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token("alice"))
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// [`call`], checking the status; the body.
async fn expect(
    client: &Client,
    base: &str,
    (method, path): (Method, String),
    body: Option<Value>,
    status: u16,
) -> Value {
    let (got, answer) = call(client, base, method.clone(), &path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer
}

/// One client's work: a thread with a batch, appends, a streamed reply, edits, a search,
/// listings, an export and deletes; every answer checked.
async fn session(client: Client, base: String, n: usize) {
    let (c, b) = (&client, base.as_str());
    let thread = expect(
        c,
        b,
        (Method::POST, "/api/v1/threads".into()),
        Some(json!({"title": format!("pooled {n}")})),
        201,
    )
    .await;
    let t = thread["id"].as_str().expect("id").to_owned();
    let batch = expect(
        c,
        b,
        (Method::POST, format!("/api/v1/threads/{t}/messages/batch")),
        Some(json!({"messages": [
            {"role": "user", "content": format!("zanzibar question {n}")},
            {"role": "assistant", "content": "an answer"},
        ]})),
        201,
    )
    .await;
    let reply = uuid::Uuid::now_v7();
    for (i, status) in ["streaming", "streaming", "complete"]
        .into_iter()
        .enumerate()
    {
        let body = json!({"role": "assistant", "parts": [{"type": "text", "text": format!("part {i}")}], "status": status});
        expect(
            c,
            b,
            (Method::PUT, format!("/api/v1/threads/{t}/messages/{reply}")),
            Some(body),
            if i == 0 { 201 } else { 200 },
        )
        .await;
    }
    let first = batch["data"][0]["id"].as_str().expect("id").to_owned();
    expect(
        c,
        b,
        (
            Method::PATCH,
            format!("/api/v1/threads/{t}/messages/{first}"),
        ),
        Some(json!({"content": format!("zanzibar edited {n}")})),
        200,
    )
    .await;
    expect(
        c,
        b,
        (
            Method::PUT,
            format!("/api/v1/threads/{t}/messages/{reply}/feedback"),
        ),
        Some(json!({"rating": "up"})),
        200,
    )
    .await;
    let page = expect(
        c,
        b,
        (Method::GET, format!("/api/v1/threads/{t}/messages")),
        None,
        200,
    )
    .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(3));
    expect(
        c,
        b,
        (Method::GET, "/api/v1/search?q=zanzibar".into()),
        None,
        200,
    )
    .await;
    expect(
        c,
        b,
        (
            Method::GET,
            format!("/api/v1/threads/{t}/export?format=markdown"),
        ),
        None,
        200,
    )
    .await;
    expect(
        c,
        b,
        (
            Method::DELETE,
            format!("/api/v1/threads/{t}/messages/{first}"),
        ),
        None,
        204,
    )
    .await;
    let thread = expect(
        c,
        b,
        (Method::GET, format!("/api/v1/threads/{t}")),
        None,
        200,
    )
    .await;
    assert_eq!(thread["message_count"].as_i64(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_works_behind_pgbouncer_in_transaction_mode() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let direct = url::Url::parse(&db.url).expect("url");
    let database = direct.path().trim_start_matches('/').to_owned();
    let bouncer = PgBouncer::start(&database, &direct);
    let mut pooled = direct.clone();
    pooled.set_port(Some(bouncer.port)).expect("port");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", pooled.to_string()),
            ("DB_POOLER", "transaction".to_owned()),
            ("MIGRATE_DATABASE_URL", db.url.clone()),
            ("DB_STATEMENT_TIMEOUT_SECS", "2".to_owned()),
            ("DB_MAX_CONNECTIONS", "6".to_owned()),
        ],
    );
    let client = Client::new();
    let base = server.base().to_owned();

    // Twelve clients at once over two server connections: statements of different
    // clients interleave on the same server sessions.
    let sessions: Vec<_> = (0..12)
        .map(|n| tokio::spawn(session(client.clone(), base.clone(), n)))
        .collect();
    for s in sessions {
        s.await.expect("session");
    }
    let (status, list) = call(
        &client,
        &base,
        Method::GET,
        "/api/v1/threads?limit=100",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(12));

    // The statement timeout reaches the server through the pooler: a thread row locked by
    // another session makes an edit wait, and the wait is cut at 2 s (503), not hung on.
    let t = list["data"][0]["id"].as_str().expect("id").to_owned();
    let locker = crate::support::connect(db.url.as_str())
        .await
        .expect("direct");
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    let txn = locker.begin().await.expect("begin");
    txn.execute_unprepared(&format!(
        "SELECT 1 FROM chat_threads WHERE id = '{t}' FOR UPDATE"
    ))
    .await
    .expect("lock");
    let started = Instant::now();
    let (status, body) = call(
        &client,
        &base,
        Method::PATCH,
        &format!("/api/v1/threads/{t}"),
        Some(json!({"title": "blocked"})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "cut by the timeout, not before: {waited:?}"
    );
    txn.rollback().await.expect("rollback");
    let _ = locker.close().await;
    let (status, _) = call(
        &client,
        &base,
        Method::PATCH,
        &format!("/api/v1/threads/{t}"),
        Some(json!({"title": "free"})),
    )
    .await;
    assert_eq!(status, 200, "the connection recovered");

    assert!(
        !server.answered_statuses().contains(&500),
        "no 500 behind the pooler"
    );
    drop(bouncer);
    eprintln!(
        "pgbouncer (transaction mode, 2 server connections): 12 concurrent clients, every statement kind; statement timeout 503 after {waited:?}"
    );
}
