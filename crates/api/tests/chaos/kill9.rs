//! SIGKILL while many clients append at once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::load::{
    Stats, assert_stored_exactly_once, create_thread, join_clients, plan, start_clients,
};
use crate::support::{Backend, Server, TestDatabase, eventually};

const CLIENTS: usize = 24;
const PER_CLIENT: usize = 30;
/// The server is killed when this many messages have been acknowledged, then restarted.
const KILL_AT: [usize; 3] = [100, 300, 500];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_append_survives_repeated_kill_9_exactly_once_on_postgres() {
    kill_9_under_concurrent_appends(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_append_survives_repeated_kill_9_exactly_once_on_sqlite() {
    kill_9_under_concurrent_appends(Backend::Sqlite).await;
}

async fn kill_9_under_concurrent_appends(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let env = [("DATABASE_URL", db.url.clone())];
    let mut server = Server::start(dir.path(), &env);

    let mut threads = Vec::new();
    for user in ["alice", "bob"] {
        for title in ["one", "two"] {
            threads.push((
                user.to_owned(),
                create_thread(server.base(), user, title).await,
            ));
        }
    }
    let plan = plan(&threads, CLIENTS, PER_CLIENT);
    let stats = Arc::new(Stats::default());
    let base = Arc::new(RwLock::new(server.base().to_owned()));
    let clients = start_clients(&base, &plan, &stats, Duration::from_secs(150));

    for at in KILL_AT {
        eventually(Duration::from_secs(90), "appends are acknowledged", || {
            let stats = Arc::clone(&stats);
            async move { stats.acknowledged() >= at || !stats.unexpected().is_empty() }
        })
        .await;
        assert_eq!(stats.unexpected(), Vec::<String>::new());
        server.kill_9();
        server = Server::start(dir.path(), &env);
        *base.write().expect("base") = server.base().to_owned();
    }
    let acknowledged = join_clients(clients).await;
    assert_eq!(
        stats.unexpected(),
        Vec::<String>::new(),
        "only 201, 200 replays, 503 with Retry-After, or no answer"
    );
    let found = assert_stored_exactly_once(server.base(), &plan, &acknowledged).await;
    assert_eq!(found, CLIENTS * PER_CLIENT);
    eprintln!(
        "chaos kill -9 ({backend:?}): {} SIGKILLs during {CLIENTS} concurrent clients; {}; {found} found stored, each exactly once",
        KILL_AT.len(),
        stats.summary(),
    );
    server.signal("-TERM");
    assert!(
        server.exit_status(Duration::from_secs(40)).await.success(),
        "clean exit"
    );
}
