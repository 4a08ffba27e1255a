//! The store itself: connecting, migrating, closing, and how failures are reported.

use std::time::Duration;

use domain::StoreError;
use infra_postgres::{Backend, Store, StoreOptions};

use crate::support::{PostgresDatabase, Repos, TestStore, at, sqlite_url, test_options, user};

#[test]
fn the_backend_is_told_by_the_url() {
    let cases = [
        ("postgres://u@h/db", Some(Backend::Postgres)),
        ("postgresql://u@h/db", Some(Backend::Postgres)),
        ("PostgreS://u@h/db", Some(Backend::Postgres)),
        (
            "sqlite://data/chat-history.db?mode=rwc",
            Some(Backend::Sqlite),
        ),
        ("sqlite::memory:", Some(Backend::Sqlite)),
        ("mysql://u@h/db", None),
        ("data/chat-history.db", None),
        ("", None),
    ];
    for (url, expected) in cases {
        assert_eq!(Backend::from_url(url), expected, "{url}");
    }
}

#[test]
fn default_options_size_the_pool_for_the_machine() {
    let options = StoreOptions::default();
    assert!((4..=StoreOptions::MAX_DEFAULT_CONNECTIONS).contains(&options.max_connections));
    assert_eq!(options.acquire_timeout, Duration::from_secs(5));
    assert!(options.connect_timeout > Duration::ZERO);
}

#[tokio::test]
async fn an_unsupported_url_is_refused() {
    let result = Store::connect("mysql://root@127.0.0.1/chat", test_options()).await;
    assert!(
        matches!(result, Err(StoreError::Unexpected(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    let options = StoreOptions {
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..test_options()
    };
    // Port 1 on the loopback refuses connections.
    let result = Store::connect("postgres://postgres@127.0.0.1:1/postgres", options).await;
    match result {
        Err(err @ StoreError::Unavailable(_)) => {
            assert_eq!(err.to_string(), "storage unavailable");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_answers_unavailable() {
    let db = TestStore::sqlite().await;
    let repos = db.repos();
    repos.threads.ping().await.expect("open");
    db.finish().await;
    let result = repos.threads.ping().await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_migrating_one_empty_postgres_database_at_once_all_succeed() {
    let database = PostgresDatabase::empty().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            Store::connect(&database.url(), test_options())
                .await
                .expect("connect"),
        );
    }
    let results = futures::future::join_all(stores.iter().map(Store::migrate)).await;
    for result in results {
        result.expect("every instance migrates or finds nothing to do");
    }
    stores[0]
        .migrate()
        .await
        .expect("migrating again is harmless");

    let repos = Repos {
        threads: stores[1].thread_repository(),
        messages: stores[2].message_repository(),
        search: stores[3].search_repository(),
    };
    let alice = user("alice");
    let thread = repos.thread_of(&alice, at(0)).await;
    repos.append(&alice, thread.id, &["hello"], at(1)).await;
    assert_eq!(repos.thread(&alice, thread.id).await.message_count, 1);

    for store in stores {
        store.close().await;
    }
    database.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_creates_its_directory_uses_wal_and_keeps_data_across_reopens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("a").join("b").join("chat.db");
    let url = sqlite_url(&file);
    let alice = user("alice");

    let store = Store::connect(&url, test_options()).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating again is harmless");
    let repos = Repos::of(&store);
    let thread = repos.thread_of(&alice, at(0)).await;
    repos.append(&alice, thread.id, &["persisted"], at(1)).await;
    assert!(file.exists());
    let mut wal = file.clone().into_os_string();
    wal.push("-wal");
    assert!(std::path::Path::new(&wal).exists(), "no write-ahead log");
    store.close().await;

    let reopened = Store::connect(&url, test_options()).await.expect("reopen");
    reopened.migrate().await.expect("nothing pending");
    let thread_again = reopened
        .thread_repository()
        .get_thread(&alice, thread.id)
        .await
        .expect("still there");
    assert_eq!(thread_again.message_count, 1);
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_timestamps_as_fixed_width_utc_text_that_sorts_in_time() {
    use sea_orm::{ConnectionTrait, Statement};

    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("chat.db");
    let url = sqlite_url(&file);
    let store = Store::connect(&url, test_options()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let repos = Repos::of(&store);
    let alice = user("alice");
    let whole_second = domain::Timestamp::from_micros(1_795_954_530_000_000).expect("in range");
    repos.thread_of(&alice, whole_second).await;
    store.close().await;

    // Read the raw row behind the store's back: this is what ORDER BY, MAX() and keyset
    // comparisons see on SQLite.
    let raw = crate::support::raw(url.as_str()).await;
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT created_at, typeof(created_at) AS t, typeof(id) AS id_type FROM chat_threads",
        ))
        .await
        .expect("query")
        .expect("one row");
    assert_eq!(
        row.try_get::<String>("", "created_at").expect("text"),
        "2026-11-29T12:15:30.000000Z"
    );
    assert_eq!(row.try_get::<String>("", "t").expect("type"), "text");
    assert_eq!(row.try_get::<String>("", "id_type").expect("type"), "blob");
    let _ = raw.close().await;
}
