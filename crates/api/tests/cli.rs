//! The operator's commands that change history: `purge` (and `import`), run as the real
//! binary against a database seeded through the storage crate.

use std::path::Path;
use std::process::Command;

use domain::{
    Limits, MessageContent, MessageParts, MessageService, MessageStatus, Metadata, NewMessage,
    NewThread, ParentChoice, Role, Sources, ThreadService, ThreadTitle, UserId,
};
use infra_postgres::{Store, StoreOptions};
use sea_orm::{ConnectionTrait, Database, Statement};

const BIN: &str = env!("CARGO_BIN_EXE_chat-history");

/// The binary with a clean environment and the database at `url`.
fn chat_history(dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("LOG_FORMAT", "json");
    cmd
}

/// Exit code, stdout, stderr.
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user id")
}

/// Creates a thread of `owner` holding `messages` messages; returns its id.
async fn seed_thread(store: &Store, owner: &str, messages: usize) -> String {
    let threads = ThreadService::new(store.thread_repository());
    let appender = MessageService::new(store.message_repository());
    let owner = user(owner);
    let thread = threads
        .create(
            &owner,
            NewThread {
                title: ThreadTitle::parse("seeded").expect("title"),
                ..NewThread::default()
            },
        )
        .await
        .expect("create")
        .value;
    for i in 0..messages {
        let content =
            MessageContent::parse(format!("message {i}"), &Limits::default()).expect("content");
        let message = NewMessage {
            id: None,
            role: Role::User,
            parts: MessageParts::from_content(&content),
            content,
            status: MessageStatus::Complete,
            sources: Sources::default(),
            metadata: Metadata::default(),
            parent: ParentChoice::Omitted,
        };
        appender
            .append(&owner, thread.id, message)
            .await
            .expect("append");
    }
    thread.id.to_string()
}

async fn count(url: &str, sql: &str) -> i64 {
    let conn = Database::connect(url).await.expect("connect");
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("row");
    let n: i64 = row.try_get_by_index(0).expect("count");
    conn.close().await.expect("close");
    n
}

#[tokio::test]
async fn purge_prints_what_it_deletes_and_a_dry_run_deletes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("history.db").display()
    );
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let old_a = seed_thread(&store, "alice", 2).await;
    let old_b = seed_thread(&store, "alice", 1).await;
    seed_thread(&store, "alice", 1).await;
    seed_thread(&store, "bob", 4).await;
    store.close().await;
    let conn = Database::connect(&url).await.expect("connect");
    for id in [&old_a, &old_b] {
        conn.execute_unprepared(&format!(
            "UPDATE chat_threads SET updated_at = '2001-01-01T00:00:00.000000Z' WHERE id = X'{}'",
            id.replace('-', "")
        ))
        .await
        .expect("age the thread");
    }
    conn.close().await.expect("close");
    let threads = "SELECT count(*) FROM chat_threads";
    let messages = "SELECT count(*) FROM chat_messages";

    let (code, out, err) =
        run(chat_history(dir.path(), &url).args(["purge", "--older-than", "30", "--dry-run"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("would delete 2 threads and 3 messages not changed since "),
        "{out}"
    );
    assert_eq!(count(&url, threads).await, 4);

    let (code, out, err) =
        run(chat_history(dir.path(), &url).args(["purge", "--older-than", "30"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("deleted 2 threads and 3 messages not changed since "),
        "{out}"
    );
    assert_eq!(count(&url, threads).await, 2);
    assert_eq!(count(&url, messages).await, 5);

    // Nothing left to match is still a success.
    let (code, out, _) = run(chat_history(dir.path(), &url).args(["purge", "--older-than", "30"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("deleted 0 threads and 0 messages"), "{out}");

    let (code, out, err) = run(chat_history(dir.path(), &url).args(["purge", "--user", "bob"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "deleted 1 thread and 4 messages of user bob");
    assert_eq!(count(&url, threads).await, 1);
    assert_eq!(count(&url, messages).await, 1);
}

#[test]
fn purge_needs_exactly_one_of_user_and_older_than() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
    for args in [
        &["purge"][..],
        &["purge", "--user", "bob", "--older-than", "3"],
        &["purge", "--user", "bob", "--dry-run"],
        &["purge", "--older-than", "0"],
        &["purge", "--older-than", "soon"],
    ] {
        let (code, out, err) = run(chat_history(dir.path(), &url).args(args));
        assert_eq!(code, 2, "{args:?}: usage errors exit 2: {out} {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

/// A fixture of `tests/fixtures/import`.
fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// A SQLite file in `dir` that the binary creates.
fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

/// stderr is not a terminal here: no progress bar, so no escape sequence either.
fn assert_no_ansi(err: &str) {
    assert!(
        !err.contains("\u{1b}["),
        "an escape sequence on stderr: {err:?}"
    );
}

#[tokio::test]
async fn import_lists_what_failed_and_a_second_run_creates_nothing_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(dir.path(), "history.db");
    let chatgpt = fixture("chatgpt.json");
    let import = |format: &str, file: &Path| {
        let mut cmd = chat_history(dir.path(), &url);
        cmd.args(["import", "--user", "alice", "--format", format])
            .arg(file);
        cmd
    };
    let threads = "SELECT count(*) FROM chat_threads";
    let messages = "SELECT count(*) FROM chat_messages";

    // One conversation of the fixture is broken on purpose; the others are imported.
    let (code, out, err) = run(&mut import("chatgpt", &chatgpt));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.starts_with("imported 3 threads (17 messages); skipped 0 already imported; 1 failed\n"),
        "{out}"
    );
    assert!(
        out.lines()
            .skip(1)
            .any(|line| line.starts_with("conversation 2: ")),
        "{out}"
    );
    assert_eq!(
        out.lines().count(),
        2,
        "one line per failed conversation: {out}"
    );
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("some conversations could not be imported"),
        "{err}"
    );
    assert_no_ansi(&err);
    assert_eq!(count(&url, threads).await, 3);
    assert_eq!(count(&url, messages).await, 17);

    let (code, out, err) = run(&mut import("chatgpt", &chatgpt));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.starts_with("imported 0 threads (0 messages); skipped 3 already imported; 1 failed\n"),
        "{out}"
    );
    assert!(out.contains("\nconversation 2: "), "{out}");
    assert_no_ansi(&err);
    assert_eq!(count(&url, threads).await, 3);
    assert_eq!(count(&url, messages).await, 17);

    // Another format's conversations are other threads, even in the same history.
    let (code, out, err) = run(&mut import("claude", &fixture("claude.json")));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.trim_end(),
        "imported 3 threads (6 messages); skipped 0 already imported; 0 failed"
    );
    assert_no_ansi(&err);
    assert_eq!(count(&url, threads).await, 6);
    assert_eq!(count(&url, messages).await, 23);
}

#[tokio::test]
async fn import_of_a_missing_or_truncated_file_fails_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(dir.path(), "history.db");

    let missing = dir.path().join("no-such-export.json");
    let (code, out, err) = run(chat_history(dir.path(), &url)
        .args(["import", "--user", "alice", "--format", "chatgpt"])
        .arg(&missing));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("chat-history: "), "{err}");
    assert!(
        err.contains(&format!("{}: cannot open", missing.display())),
        "{err}"
    );
    assert_no_ansi(&err);

    // The first half of the file: its first conversation is whole, the file is not.
    let whole = std::fs::read(fixture("chatgpt.json")).expect("fixture");
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).expect("write the copy");
    let (code, out, err) = run(chat_history(dir.path(), &url)
        .args(["import", "--user", "alice", "--format", "chatgpt"])
        .arg(&truncated));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(
            "truncated.json: the file is not a chatgpt export: the file ends unexpectedly"
        ),
        "{err}"
    );
    assert_eq!(
        err.matches("is it truncated?").count(),
        1,
        "said once: {err}"
    );
    assert_no_ansi(&err);
    assert_eq!(count(&url, "SELECT count(*) FROM chat_threads").await, 0);
    assert_eq!(count(&url, "SELECT count(*) FROM chat_messages").await, 0);
}

#[test]
fn import_of_an_unknown_format_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(dir.path(), "history.db");
    let (code, out, err) = run(chat_history(dir.path(), &url)
        .args(["import", "--user", "alice", "--format", "gemini"])
        .arg(fixture("chatgpt.json")));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("gemini"), "{err}");
    assert!(
        !dir.path().join("history.db").exists(),
        "no database opened"
    );
}
