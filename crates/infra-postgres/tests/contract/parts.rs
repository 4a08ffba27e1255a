//! AI SDK messages at the port: parts stored verbatim (or as "derived" when they only
//! repeat the content), status, feedback that moves the version but not `updated_at`, the
//! active stream id, and the parts migration over messages stored before it.

use domain::{
    FeedbackInput, MessageParts, MessagePatch, MessageStatus, Rating, StreamId, ThreadPatch,
};
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use crate::support::{Repos, at, content, new_message, user};

fn parts(value: serde_json::Value) -> MessageParts {
    MessageParts::parse(value, &domain::Limits::default()).expect("valid parts")
}

contract_test!(
    async fn parts_and_status_are_stored_as_given_and_derived_parts_follow_the_content(
        repos: Repos,
    ) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let given = json!([
            {"type": "reasoning", "text": "hm"},
            {"type": "tool-x", "toolCallId": "c", "state": "output-available", "input": {}, "output": [1]},
            {"text": "answer", "type": "text"}
        ]);
        let mut rich = new_message(thread.id, "answer", at(10));
        rich.parts = parts(given.clone());
        rich.status = MessageStatus::Aborted;
        let plain = new_message(thread.id, "plain", at(11));
        repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                domain::ParentChoice::Omitted,
                vec![rich.clone(), plain.clone()],
                at(20),
            )
            .await
            .expect("append");
        let read = repos
            .messages
            .get_message(&alice, thread.id, rich.id)
            .await
            .expect("rich");
        assert_eq!(read.parts, parts(given.clone()));
        assert!(!read.parts.is_derived());
        assert_eq!(read.status, MessageStatus::Aborted);
        assert_eq!(read.feedback, None);
        let read = repos
            .messages
            .get_message(&alice, thread.id, plain.id)
            .await
            .expect("plain");
        assert!(read.parts.is_derived());
        assert_eq!(
            read.parts,
            parts(json!([{"type": "text", "text": "plain"}]))
        );
        assert_eq!(read.status, MessageStatus::Complete);

        // An edit of the content alone re-derives the parts; of parts, keeps them.
        let edited = repos
            .messages
            .update_message(
                &alice,
                thread.id,
                rich.id,
                MessagePatch {
                    text: Some((content("new"), MessageParts::from_content(&content("new")))),
                    status: Some(MessageStatus::Complete),
                    ..MessagePatch::default()
                },
                None,
                at(30),
            )
            .await
            .expect("edit");
        assert!(edited.parts.is_derived());
        assert_eq!(edited.status, MessageStatus::Complete);
        let edited = repos
            .messages
            .update_message(
                &alice,
                thread.id,
                plain.id,
                MessagePatch {
                    text: Some((content("answer"), parts(given.clone()))),
                    ..MessagePatch::default()
                },
                None,
                at(40),
            )
            .await
            .expect("edit");
        assert_eq!(edited.parts, parts(given));
        assert_eq!(edited.content.as_str(), "answer");
    }
);

contract_test!(
    async fn feedback_grows_the_version_but_leaves_updated_at_and_the_thread(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let m = repos
            .append(&alice, thread.id, &["rate me"], at(10))
            .await
            .remove(0);
        let before = repos.thread(&alice, thread.id).await;
        let feedback = FeedbackInput::parse(Rating::Down, Some("no".into()), vec!["a".into()])
            .expect("valid")
            .at(at(500));
        let rated = repos
            .messages
            .set_feedback(&alice, thread.id, m.id, Some(feedback.clone()), at(500))
            .await
            .expect("rated");
        assert_eq!(rated.feedback, Some(feedback.clone()));
        assert_eq!(rated.updated_at, m.updated_at);
        assert!(rated.version > m.version);
        let read = repos
            .messages
            .get_message(&alice, thread.id, m.id)
            .await
            .expect("read");
        assert_eq!(read.feedback, Some(feedback));
        assert_eq!(repos.thread(&alice, thread.id).await, before);

        let cleared = repos
            .messages
            .set_feedback(&alice, thread.id, m.id, None, at(600))
            .await
            .expect("cleared");
        assert_eq!(cleared.feedback, None);
        assert!(cleared.version > rated.version);
        // Another user's message, or a missing one, is not found.
        assert_store_err!(
            repos
                .messages
                .set_feedback(&user("bob"), thread.id, m.id, None, at(700))
                .await,
            NotFound
        );
    }
);

contract_test!(
    async fn the_active_stream_id_is_set_and_cleared_without_moving_updated_at(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stream = StreamId::parse("run-1").expect("valid");
        let set = repos
            .threads
            .update_thread(
                &alice,
                thread.id,
                ThreadPatch {
                    active_stream: Some(Some(stream.clone())),
                    ..ThreadPatch::default()
                },
                Some(vec![thread.version]),
                at(100),
            )
            .await
            .expect("set");
        assert_eq!(set.active_stream_id, Some(stream));
        assert_eq!(set.updated_at, thread.updated_at);
        assert!(set.version > thread.version);
        // The old version no longer matches: a compare-and-set.
        assert_store_err!(
            repos
                .threads
                .update_thread(
                    &alice,
                    thread.id,
                    ThreadPatch {
                        active_stream: Some(None),
                        ..ThreadPatch::default()
                    },
                    Some(vec![thread.version]),
                    at(200),
                )
                .await,
            VersionMismatch
        );
        let cleared = repos
            .threads
            .update_thread(
                &alice,
                thread.id,
                ThreadPatch {
                    active_stream: Some(None),
                    ..ThreadPatch::default()
                },
                None,
                at(300),
            )
            .await
            .expect("cleared");
        assert_eq!(cleared.active_stream_id, None);
        assert_eq!(repos.thread(&alice, thread.id).await, cleared);
    }
);

/// Messages stored before the parts migration read back with parts derived from their
/// content and status `complete`, also after it was undone (its down drops the columns)
/// and an older binary wrote meanwhile, then redone.
async fn the_parts_migration_keeps_earlier_messages_readable(url: &str) {
    let store = infra_postgres::Store::connect(url, crate::support::test_options())
        .await
        .expect("connect");
    store.migrate().await.expect("migrations");
    let repos = Repos::of(&store);
    let alice = user("alice");
    let thread = repos.thread_of(&alice, at(0)).await;
    let old = repos
        .append(&alice, thread.id, &["before parts", ""], at(10))
        .await;

    let raw = crate::support::raw(url).await;
    let steps = crate::support::migrations_since("m20261206_000001_message_parts");
    <migration::Migrator as migration::MigratorTrait>::down(&raw, Some(steps))
        .await
        .expect("undo the parts migration");
    // What an older binary would have written meanwhile.
    raw.execute_unprepared("UPDATE chat_messages SET content = content || '!' WHERE content <> ''")
        .await
        .expect("an old write");
    <migration::Migrator as migration::MigratorTrait>::up(&raw, None)
        .await
        .expect("redo it");
    let _ = raw.close().await;

    let read = repos
        .messages
        .get_message(&alice, thread.id, old[0].id)
        .await
        .expect("readable");
    assert_eq!(read.content.as_str(), "before parts!");
    assert_eq!(
        read.parts,
        parts(json!([{"type": "text", "text": "before parts!"}]))
    );
    assert_eq!(read.status, MessageStatus::Complete);
    assert_eq!(read.feedback, None);
    let empty = repos
        .messages
        .get_message(&alice, thread.id, old[1].id)
        .await
        .expect("readable");
    assert_eq!(empty.parts, parts(json!([])));
    assert_eq!(repos.thread(&alice, thread.id).await.active_stream_id, None);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_migration_keeps_earlier_messages_readable_on_postgres() {
    let database = crate::support::PostgresDatabase::empty().await;
    the_parts_migration_keeps_earlier_messages_readable(&database.url()).await;
    database.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_migration_keeps_earlier_messages_readable_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    the_parts_migration_keeps_earlier_messages_readable(&crate::support::sqlite_url(
        &dir.path().join("chat.db"),
    ))
    .await;
}
