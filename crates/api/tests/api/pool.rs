//! One connection budget on PostgreSQL: `DB_MAX_CONNECTIONS` caps every connection the
//! process holds (Better Auth session lookups included), and a request stuck on a lock
//! does not hold up the others while the pool has a free connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{Backend, TRUSTED_ORIGIN, TestDb, spawn_on, str_of, test_settings};

const SECRET: &str = "better-auth-secret-for-pool-tests-012345";

/// Better Auth's tables with one live session per user (`token-<user>`).
async fn with_sessions(db: &TestDb, users: &[&str]) {
    let conn = crate::helpers::connect(&db.url).await.expect("connect");
    conn.execute_unprepared(
        r#"CREATE TABLE "user" (id text PRIMARY KEY);
           CREATE TABLE "session" (id text PRIMARY KEY, "expiresAt" timestamptz NOT NULL,
             token text NOT NULL UNIQUE, "userId" text NOT NULL REFERENCES "user"(id));"#,
    )
    .await
    .expect("Better Auth tables");
    for user in users {
        conn.execute_unprepared(&format!(
            r#"INSERT INTO "user" VALUES ('{user}');
               INSERT INTO "session" VALUES ('s-{user}', now() + interval '1 hour',
                 'token-{user}-0123456789abcdef', '{user}');"#
        ))
        .await
        .expect("session");
    }
    conn.close().await.expect("close");
}

/// `token.signature`, as Better Auth's cookie and `bearer` plugin carry it.
fn signed(user: &str) -> String {
    let token = format!("token-{user}-0123456789abcdef");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(token.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("{token}.{signature}")
}

/// The service's connections to `database` now.
async fn service_backends(admin: &DatabaseConnection, database: &str) -> i64 {
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'chat-history'",
            [database.into()],
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    row.try_get_by_index(0).expect("count")
}

fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_owned()
}

async fn admin() -> DatabaseConnection {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    crate::helpers::connect(url)
        .await
        .expect("admin connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_and_requests_never_hold_more_connections_than_db_max_connections() {
    let db = TestDb::new(Backend::Postgres).await;
    let users = ["alice", "bob", "carol"];
    with_sessions(&db, &users).await;
    let database = database_name(&db.url);
    let mut settings = test_settings(&db.url);
    settings.better_auth_secret = Some(SECRET.to_owned());
    // Every request looks its session up: the lookups compete for the same connections.
    settings.session_cache_ttl_secs = 0;
    settings.db_max_connections = Some(3);
    let app = Arc::new(spawn_on(db, settings).await);

    // One thread per user, created with a session bearer token.
    let mut threads = Vec::new();
    for user in users {
        let res = app
            .request(Method::POST, "/api/v1/threads")
            .bearer_auth(signed(user))
            .json(&json!({"title": user}))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), 201);
        let thread: Value = res.json().await.expect("json");
        threads.push(str_of(&thread, "id").to_owned());
    }

    // A sampler reads pg_stat_activity for as long as the load runs.
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (done, most, database) = (done.clone(), most.clone(), database.clone());
        tokio::spawn(async move {
            let admin = admin().await;
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                let now = service_backends(&admin, &database).await;
                most.fetch_max(now, Ordering::Relaxed);
                samples += 1;
            }
            let _ = admin.close().await;
            samples
        })
    };

    let mut load = JoinSet::new();
    for i in 0..90usize {
        let app = app.clone();
        let user = users[i % users.len()];
        let thread = threads[i % threads.len()].clone();
        load.spawn(async move {
            let path = format!("/api/v1/threads/{thread}/messages");
            let request = match i % 3 {
                // A session bearer token appends (bearer requests need no Origin).
                0 => app
                    .request(Method::POST, &path)
                    .bearer_auth(signed(user))
                    .json(&json!({"role": "user", "content": format!("message {i}")})),
                // The session cookie reads.
                1 => app.request(Method::GET, &path).header(
                    "Cookie",
                    format!("better-auth.session_token={}", signed(user)),
                ),
                // The cookie writes, from the trusted origin.
                _ => app
                    .request(Method::POST, &path)
                    .header(
                        "Cookie",
                        format!("better-auth.session_token={}", signed(user)),
                    )
                    .header("Origin", TRUSTED_ORIGIN)
                    .json(&json!({"role": "assistant", "content": format!("reply {i}")})),
            };
            request.send().await.expect("response").status().as_u16()
        });
    }
    while let Some(status) = load.join_next().await {
        let status = status.expect("request task");
        assert!(status == 200 || status == 201, "status {status}");
    }
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.expect("sampler");
    let most = most.load(Ordering::Relaxed);
    assert!(samples > 0);
    assert!(most >= 1, "the sampler saw the service's connections");
    assert!(
        most <= 3,
        "pg_stat_activity showed {most} connections of the service with DB_MAX_CONNECTIONS=3"
    );
    // Everything was stored: 60 appends over the three threads.
    let mut stored = 0;
    for (user, thread) in users.iter().zip(&threads) {
        let res = app
            .request(Method::GET, &format!("/api/v1/threads/{thread}"))
            .bearer_auth(signed(user))
            .send()
            .await
            .expect("thread");
        let thread: Value = res.json().await.expect("json");
        stored += thread["message_count"].as_i64().expect("count");
    }
    assert_eq!(stored, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_lock_does_not_hold_up_requests_on_the_same_connection() {
    let db = TestDb::new(Backend::Postgres).await;
    let database = database_name(&db.url);
    let url = db.url.clone();
    let mut settings = test_settings(&db.url);
    // Two for requests, one for the events listener.
    settings.db_max_connections = Some(3);
    // Starving requests would get 503 after this; none may.
    settings.db_acquire_timeout_secs = 10;
    settings.db_statement_timeout_secs = 120;
    let app = spawn_on(db, settings).await;
    let locked = app.create_thread("alice", "locked").await;
    let free = app.create_thread("alice", "free").await;
    let locked = str_of(&locked, "id").to_owned();
    let free = str_of(&free, "id").to_owned();
    app.append("alice", &free, "hello").await;

    // Another program holds the thread's row lock.
    let outside = crate::helpers::connect(&url)
        .await
        .expect("outside connection");
    let holder = outside.begin().await.expect("begin");
    holder
        .execute_unprepared(&format!(
            "SELECT id FROM chat_threads WHERE id = '{locked}' FOR UPDATE"
        ))
        .await
        .expect("row lock");

    // A keep-alive client: one TCP connection, so one server worker, for every request.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let token = crate::helpers::token("alice");
    let blocked = {
        let client = client.clone();
        let url = format!("{}/api/v1/threads/{locked}", app.address);
        let token = token.clone();
        tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"title": "renamed"}))
                .send()
                .await
                .expect("patch")
                .status()
                .as_u16()
        })
    };
    // Wait until the PATCH is inside PostgreSQL, waiting for the lock.
    let admin = admin().await;
    loop {
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'chat-history' AND wait_event_type = 'Lock'",
                [database.clone().into()],
            ))
            .await
            .expect("pg_stat_activity")
            .expect("row");
        if row.try_get_by_index::<i64>(0).expect("count") > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }

    // Meanwhile reads and writes of another thread go through on the remaining connection.
    for i in 0..20 {
        let res = client
            .get(format!("{}/api/v1/threads/{free}/messages", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read");
        assert_eq!(res.status(), 200, "read {i}");
        let res = client
            .post(format!("{}/api/v1/threads/{free}/messages", app.address))
            .bearer_auth(&token)
            .json(&json!({"role": "user", "content": format!("more {i}")}))
            .send()
            .await
            .expect("append");
        assert_eq!(res.status(), 201, "append {i}");
    }
    assert!(!blocked.is_finished(), "the PATCH still waits for the lock");

    holder.rollback().await.expect("release the lock");
    assert_eq!(blocked.await.expect("patch task"), 200);
    let _ = admin.close().await;
    let _ = outside.close().await;
}
