//! Spawning the real server on a random port against a fresh database of either backend.

use std::sync::OnceLock;

use api::startup::Stopper;
use reqwest::{Method, RequestBuilder, Response};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use api::{Application, Settings};
use auth::Secret;
use domain::UserId;

pub use crate::db_support::connect;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs an async test function once per backend, as two tests named after it.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn on_postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }

                #[tokio::test]
                async fn on_sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

pub const TRUSTED_ORIGIN: &str = "https://app.example";

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("chat-history.db").display()
                );
                Self {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("chtest_api_{}", uuid::Uuid::new_v4().simple());
                let admin = connect(admin_url()).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {} ({e}). Start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                         or point TEST_DATABASE_URL at a server.",
                        admin_url()
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.expect("close admin connection");
                Self {
                    url: with_database(&admin_url(), &name),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// The same database for a second server (a replica); dropped by the original only.
    pub fn sharing(other: &TestDb) -> Self {
        Self {
            url: other.url.clone(),
            postgres_name: None,
            _dir: None,
        }
    }

    /// Which backend this database is.
    pub fn backend(&self) -> Backend {
        if self.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// Runs `sql` on the database directly, on a connection of its own (behind the
    /// service's back: no event, no version change).
    pub async fn sql(&self, sql: &str) {
        let conn = connect(&self.url).await.expect("connect");
        conn.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.expect("close");
    }

    /// `id` as a literal of this backend's uuid column.
    pub fn uuid_literal(&self, id: &str) -> String {
        match self.backend() {
            Backend::Postgres => format!("'{id}'"),
            Backend::Sqlite => format!("X'{}'", id.replace('-', "")),
        }
    }

    /// Makes the thread expired: its `expires_at` becomes a moment long past, as if the
    /// time the client chose had come.
    pub async fn expire(&self, thread: &str) {
        self.sql(&format!(
            "UPDATE chat_threads SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = {}",
            self.uuid_literal(thread)
        ))
        .await;
    }

    /// Drops the database now, even while the server still holds connections.
    pub async fn drop_now(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            drop_postgres(name).await;
        }
    }
}

async fn drop_postgres(name: String) {
    if let Ok(admin) = connect(admin_url()).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            // Drop cannot be async: run the cleanup on a runtime of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_postgres(name));
                }
            })
            .join();
        }
    }
}

fn test_secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| Secret::new(format!("test-{}", uuid::Uuid::new_v4().simple())))
}

/// Settings of a test server: port 0, a fresh database, a static HS256 secret.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::defaults();
    settings.database_url = database_url.to_owned();
    settings.listen_addr = "127.0.0.1:0".parse().expect("address");
    settings.jwt_hs256_secret = Some(test_secret().expose().to_owned());
    settings.better_auth_secret = None;
    settings.better_auth_url = None;
    settings.jwt_jwks_url = None;
    settings.jwt_public_key_file = None;
    settings.jwt_issuer = None;
    settings.jwt_audience = None;
    settings.trusted_origins = vec![TRUSTED_ORIGIN.to_owned()];
    settings.migrate_on_start = true;
    // Tests make requests in quick succession; the limiter has tests of its own.
    settings.rate_limit_per_minute = 0;
    settings
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub client: reqwest::Client,
    handle: Stopper,
}

pub async fn start(settings: Settings) -> (String, Stopper) {
    let app = Application::build(settings).await.expect("server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, handle)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with settings adjusted by `adjust`.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    adjust(&mut settings);
    spawn_on(db, settings).await
}

/// Starts a server on an existing test database.
pub async fn spawn_on(db: TestDb, settings: Settings) -> TestApp {
    let (address, handle) = start(settings).await;
    TestApp {
        address,
        db,
        client: reqwest::Client::new(),
        handle,
    }
}

/// A valid token for `user`.
pub fn token(user: &str) -> String {
    auth::mint_hs256(test_secret(), &UserId::parse(user).expect("user id"), 3600).expect("token")
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// The value of one sample of `/metrics` (its name and labels as written there), 0
    /// when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self
            .request(Method::GET, "/metrics")
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// The OpenAPI document the service serves at `/openapi.json`.
    pub async fn openapi_doc(&self) -> Value {
        self.request(Method::GET, "/openapi.json")
            .send()
            .await
            .expect("openapi.json")
            .json()
            .await
            .expect("openapi.json is JSON")
    }

    pub fn as_user(&self, method: Method, path: &str, user: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token(user))
    }

    pub async fn get(&self, path: &str, user: &str) -> Response {
        self.as_user(Method::GET, path, user)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, user: &str, body: Value) -> Response {
        self.as_user(Method::POST, path, user)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, user: &str, body: Value) -> Response {
        self.as_user(Method::PATCH, path, user)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn put(&self, path: &str, user: &str, body: Value) -> Response {
        self.as_user(Method::PUT, path, user)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str, user: &str) -> Response {
        self.as_user(Method::DELETE, path, user)
            .send()
            .await
            .expect("request")
    }

    /// Creates a thread and returns its JSON.
    pub async fn create_thread(&self, user: &str, title: &str) -> Value {
        let res = self
            .post(
                "/api/v1/threads",
                user,
                serde_json::json!({ "title": title }),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.expect("json")
    }

    /// Appends a user message and returns its JSON.
    pub async fn append(&self, user: &str, thread: &str, content: &str) -> Value {
        let res = self
            .post(
                &format!("/api/v1/threads/{thread}/messages"),
                user,
                serde_json::json!({ "role": "user", "content": content }),
            )
            .await;
        assert_eq!(res.status(), 201, "append");
        res.json().await.expect("json")
    }

    /// Stops the server gracefully and returns the database for a restart.
    pub async fn stop(self) -> TestDb {
        self.handle.stop(true).await;
        self.db
    }
}

/// Reads a problem+json answer, checking its media type and status member.
pub async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "content type"
    );
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {v}"))
}
