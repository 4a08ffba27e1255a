//! Throwaway databases and builders for the contract tests.
//!
//! PostgreSQL: every test gets `CREATE DATABASE chtest_db_<secs>_<pid>_<n> TEMPLATE
//! chtest_tpl_<hash>` and drops it at the end (also when the test panics). The template is
//! built once and reused across runs: its name is a hash of the migration set (the names of
//! the migrations and the schema they produce), so a new or changed migration gets a new
//! template. Building, cloning and cleaning up happen under one PostgreSQL advisory lock,
//! which makes them safe when nextest runs every test in a process of its own. At start,
//! per-test databases older than an hour (left by killed runs), half-built templates and
//! templates of other migration sets are dropped.

use domain::ParentChoice;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::{
    Limits, Message, MessageContent, MessageId, MessageRepository, Metadata, Role, SearchHit,
    SearchKey, SearchQuery, SearchRepository, SearchRequest, Sources, Thread, ThreadId,
    ThreadRepository, ThreadTitle, Timestamp, UserId, Version,
};
use infra_postgres::{Backend, Store, StoreOptions};
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Serializes template builds, clones and cleanups of all test processes ("chtest" + 1).
const TEST_DB_LOCK_KEY: i64 = 0x6368_7465_7374_0001;
const DB_PREFIX: &str = "chtest_db_";
const TEMPLATE_PREFIX: &str = "chtest_tpl_";
/// A per-test database older than this was left behind by a killed run.
const STALE_AFTER_SECS: u64 = 3600;

/// The repositories of one test database.
#[derive(Clone)]
pub struct Repos {
    pub threads: Arc<dyn ThreadRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub search: Arc<dyn SearchRepository>,
}

impl Repos {
    /// The repositories of `store`.
    pub fn of(store: &Store) -> Self {
        Self {
            threads: store.thread_repository(),
            messages: store.message_repository(),
            search: store.search_repository(),
        }
    }
}

/// A store on a database that lives as long as this value.
pub struct TestStore {
    store: Option<Store>,
    database: Backing,
}

/// What the store's data lives in.
enum Backing {
    Postgres(PostgresDatabase),
    Sqlite(tempfile::TempDir),
}

/// Small pools: many test databases are open at once.
pub fn test_options() -> StoreOptions {
    StoreOptions {
        max_connections: 5,
        acquire_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        statement_timeout: None,
        ..StoreOptions::default()
    }
}

impl TestStore {
    /// A fresh, migrated PostgreSQL database cloned from the template.
    pub async fn postgres() -> Self {
        let database = PostgresDatabase::from_template().await;
        let store = Store::connect(&database.url(), test_options())
            .await
            .expect("connect to the test database");
        assert_eq!(store.backend(), Backend::Postgres);
        Self {
            store: Some(store),
            database: Backing::Postgres(database),
        }
    }

    /// A fresh SQLite file in a directory that does not exist yet (the store creates it),
    /// migrated through the store.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("not").join("yet").join("chat-history.db");
        let store = Store::connect(&sqlite_url(&file), test_options())
            .await
            .expect("open the SQLite database");
        assert_eq!(store.backend(), Backend::Sqlite);
        store.migrate().await.expect("migrate SQLite");
        Self {
            store: Some(store),
            database: Backing::Sqlite(dir),
        }
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("store is open until finish")
    }

    pub fn repos(&self) -> Repos {
        Repos::of(self.store())
    }

    /// Closes the store, then drops the database.
    pub async fn finish(mut self) {
        if let Some(store) = self.store.take() {
            store.close().await;
        }
        match self.database {
            Backing::Postgres(database) => database.finish().await,
            Backing::Sqlite(dir) => drop(dir),
        }
    }
}

/// `sqlite://<file>?mode=rwc`.
pub fn sqlite_url(file: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// A PostgreSQL database of this test, dropped when this value goes (also when the test
/// panics).
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    dropped: bool,
}

impl PostgresDatabase {
    fn admin_url() -> String {
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
    }

    /// A migrated database cloned from the template.
    pub async fn from_template() -> Self {
        let admin_url = Self::admin_url();
        let template = template_name().await;
        let name = create_postgres_database(&admin_url, Some(&template)).await;
        Self {
            admin_url,
            name,
            dropped: false,
        }
    }

    /// An empty database, with no table at all.
    pub async fn empty() -> Self {
        let admin_url = Self::admin_url();
        let name = create_postgres_database(&admin_url, None).await;
        Self {
            admin_url,
            name,
            dropped: false,
        }
    }

    pub fn url(&self) -> String {
        database_url(&self.admin_url, &self.name)
    }

    pub async fn finish(mut self) {
        drop_database(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for PostgresDatabase {
    /// A test that panicked never reaches `finish`: drop its database here, on a runtime of
    /// its own (the test's runtime cannot be blocked on from inside).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Options for a connection of a test's own, beside the store: one connection, and no
/// sqlx maintenance task (its sweep can spin for ever and hang the test's runtime at
/// shutdown; see `connect_sqlite` in the crate's store).
fn own_connection(url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    options
}

/// A connection to the database at `url` that bypasses the store (to look at or change
/// what the store wrote), as [`own_connection`] describes.
pub async fn raw(url: &str) -> DatabaseConnection {
    Database::connect(own_connection(url))
        .await
        .unwrap_or_else(|err| panic!("open {url}: {err}"))
}

async fn admin_connection(admin_url: &str) -> DatabaseConnection {
    match Database::connect(own_connection(admin_url)).await {
        Ok(conn) => conn,
        Err(err) => panic!(
            "PostgreSQL is not reachable at {admin_url} ({err}). The contract tests need it: \
             start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
             start` (check with `pg_isready -h 127.0.0.1`), or point TEST_DATABASE_URL at a \
             PostgreSQL server whose user may create databases."
        ),
    }
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    if let Err(err) = conn.execute_unprepared(sql).await {
        panic!("{sql}: {err}");
    }
}

async fn exec_with(conn: &DatabaseConnection, sql: &str, key: i64) {
    let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, [key.into()]);
    if let Err(err) = conn.execute_raw(stmt).await {
        panic!("{sql}: {err}");
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Creates a per-test database, from the template (built first if needed) or empty.
async fn create_postgres_database(admin_url: &str, template: Option<&str>) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{DB_PREFIX}{}_{}_{}",
        unix_secs(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let admin = admin_connection(admin_url).await;
    exec_with(&admin, "SELECT pg_advisory_lock($1)", TEST_DB_LOCK_KEY).await;
    remove_stale_databases(&admin, template).await;
    match template {
        Some(template) => {
            ensure_template(&admin, admin_url, template).await;
            exec(
                &admin,
                &format!("CREATE DATABASE {name} TEMPLATE {template}"),
            )
            .await;
        }
        None => exec(&admin, &format!("CREATE DATABASE {name}")).await,
    }
    exec_with(&admin, "SELECT pg_advisory_unlock($1)", TEST_DB_LOCK_KEY).await;
    let _ = admin.close().await;
    name
}

async fn database_names(admin: &DatabaseConnection) -> Vec<String> {
    let stmt = Statement::from_string(
        admin.get_database_backend(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'chtest\\_%'",
    );
    admin
        .query_all_raw(stmt)
        .await
        .expect("list test databases")
        .iter()
        .map(|row| row.try_get::<String>("", "datname").expect("datname"))
        .collect()
}

/// Drops what earlier runs left behind. Runs under the advisory lock, so no other test
/// process is building or cloning a template meanwhile.
async fn remove_stale_databases(admin: &DatabaseConnection, template: Option<&str>) {
    let now = unix_secs();
    for name in database_names(admin).await {
        let stale = if let Some(rest) = name.strip_prefix(DB_PREFIX) {
            rest.split('_')
                .next()
                .and_then(|secs| secs.parse::<u64>().ok())
                .is_some_and(|secs| secs + STALE_AFTER_SECS < now)
        } else {
            // Templates of other migration sets; a half-built one (`_tmp`) of this set too.
            // A test that wants no template leaves the templates alone.
            template.is_some_and(|template| name.starts_with(TEMPLATE_PREFIX) && name != template)
        };
        if stale {
            exec(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// Builds the template under a temporary name and renames it when complete, so a run killed
/// half-way never leaves a template that looks usable.
async fn ensure_template(admin: &DatabaseConnection, admin_url: &str, template: &str) {
    if database_names(admin).await.iter().any(|n| n == template) {
        return;
    }
    let building = format!("{template}_tmp");
    exec(admin, &format!("CREATE DATABASE {building}")).await;
    let store = Store::connect(&database_url(admin_url, &building), test_options())
        .await
        .expect("connect to the template being built");
    store.migrate().await.expect("migrate the template");
    store.close().await;
    exec(
        admin,
        &format!("ALTER DATABASE {building} RENAME TO {template}"),
    )
    .await;
}

/// `chtest_tpl_<fnv1a64>` of the migration names, of the migration crate's sources (so a
/// PostgreSQL-only statement changed while a migration is being written means another
/// template too) and of the schema they produce on an in-memory SQLite database.
async fn template_name() -> String {
    let mut fingerprint = String::new();
    for migration in migration::Migrator::migrations() {
        fingerprint.push_str(migration.name());
        fingerprint.push('\n');
    }
    let sources = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migration/src");
    let mut files: Vec<_> = std::fs::read_dir(sources)
        .expect("the migration crate's sources")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    for file in files {
        fingerprint.push_str(&std::fs::read_to_string(&file).expect("a migration source"));
    }
    let sqlite = raw("sqlite::memory:").await;
    migration::Migrator::up(&sqlite, None)
        .await
        .expect("migrate in-memory SQLite");
    let stmt = Statement::from_string(
        sqlite.get_database_backend(),
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name <> 'seaql_migrations' \
         ORDER BY name",
    );
    for row in sqlite.query_all_raw(stmt).await.expect("read the schema") {
        fingerprint.push_str(&row.try_get::<String>("", "sql").expect("sql"));
        fingerprint.push('\n');
    }
    let _ = sqlite.close().await;
    let hash = fingerprint.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{TEMPLATE_PREFIX}{hash:016x}")
}

async fn drop_database(admin_url: &str, name: &str) {
    let admin = admin_connection(admin_url).await;
    exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    let _ = admin.close().await;
}

// ---------------------------------------------------------------------------------------
// Builders

/// 2026-11-29T12:15:30.123456Z plus `micros`.
pub fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(1_795_954_530_123_456 + micros).expect("in range")
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).expect("valid user id")
}

pub fn title(text: &str) -> ThreadTitle {
    ThreadTitle::parse(text).expect("valid title")
}

pub fn metadata(value: serde_json::Value) -> Metadata {
    Metadata::parse(value).expect("valid metadata")
}

pub fn sources(value: serde_json::Value) -> Sources {
    Sources::parse(value).expect("valid sources")
}

pub fn content(text: &str) -> MessageContent {
    MessageContent::parse(text, &Limits::default()).expect("valid content")
}

/// `text` as a patch's content with the parts derived from it.
pub fn text(text: &str) -> Option<(MessageContent, domain::MessageParts)> {
    let content = content(text);
    let parts = domain::MessageParts::from_content(&content);
    Some((content, parts))
}

/// A new, empty thread as the service would build it at `created`.
pub fn new_thread(owner: &UserId, created: Timestamp) -> Thread {
    Thread {
        id: ThreadId::generate(),
        user_id: owner.clone(),
        title: ThreadTitle::default(),
        metadata: Metadata::default(),
        archived_at: None,
        pinned_at: None,
        message_count: 0,
        last_message_at: None,
        created_at: created,
        updated_at: created,
        version: Version::new(created.as_micros()),
        active_leaf_id: None,
        active_stream_id: None,
        expires_at: None,
    }
}

/// A batch as the service builds one when no message names its parent: each message
/// after the first is the child of the one before (the first follows the active leaf).
pub fn chain(mut messages: Vec<Message>) -> Vec<Message> {
    for i in 1..messages.len() {
        messages[i].parent_id = Some(messages[i - 1].id);
    }
    messages
}

/// A new message as the service would build it at `created`.
pub fn new_message(thread: ThreadId, text: &str, created: Timestamp) -> Message {
    Message {
        id: MessageId::generate(),
        thread_id: thread,
        parent_id: None,
        role: Role::User,
        content: content(text),
        parts: domain::MessageParts::from_content(&content(text)),
        status: domain::MessageStatus::Complete,
        sources: Sources::default(),
        metadata: Metadata::default(),
        feedback: None,
        created_at: created,
        updated_at: created,
        version: Version::new(created.as_micros()),
    }
}

impl Repos {
    /// Stores a new empty thread of `owner` created at `created`.
    pub async fn thread_of(&self, owner: &UserId, created: Timestamp) -> Thread {
        let thread = new_thread(owner, created);
        self.threads
            .insert_thread(&thread)
            .await
            .expect("insert thread");
        thread
    }

    /// Appends one message per text, 1 µs apart from `first`, at `now = first`.
    pub async fn append(
        &self,
        owner: &UserId,
        thread: ThreadId,
        texts: &[&str],
        first: Timestamp,
    ) -> Vec<Message> {
        let messages = chain(
            texts
                .iter()
                .zip(0i64..)
                .map(|(text, i)| new_message(thread, text, first.plus_micros(i)))
                .collect(),
        );
        self.messages
            .append_messages(owner, thread, ParentChoice::Omitted, messages, first)
            .await
            .expect("append messages")
    }

    /// One page of `owner`'s search for `q` after `after`.
    pub async fn search_page(
        &self,
        owner: &UserId,
        q: &str,
        after: Option<SearchKey>,
        limit: u64,
    ) -> Vec<SearchHit> {
        let request = SearchRequest {
            query: SearchQuery::parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}")),
            after,
            limit,
        };
        self.search
            .search_messages(owner, request)
            .await
            .unwrap_or_else(|e| panic!("search {q:?}: {e:?}"))
    }

    /// The first (at most) 100 hits of `owner`'s search for `q`.
    pub async fn search(&self, owner: &UserId, q: &str) -> Vec<SearchHit> {
        self.search_page(owner, q, None, 100).await
    }

    /// The ids of the first 100 hits of `owner`'s search for `q`, in result order.
    pub async fn search_ids(&self, owner: &UserId, q: &str) -> Vec<MessageId> {
        self.search(owner, q)
            .await
            .iter()
            .map(|h| h.message.id)
            .collect()
    }

    pub async fn thread(&self, owner: &UserId, id: ThreadId) -> Thread {
        self.threads
            .get_thread(owner, id)
            .await
            .expect("get thread")
    }
}

/// How many migrations `Migrator::down` must undo to undo the one named `name` (it and
/// every later one).
pub fn migrations_since(name: &str) -> u32 {
    let migrations = migration::Migrator::migrations();
    let position = migrations
        .iter()
        .rev()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration named {name}"));
    u32::try_from(position + 1).expect("few migrations")
}
