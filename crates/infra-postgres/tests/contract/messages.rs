//! Messages: append (single and batch), read, edit, delete, and the thread counters that
//! change with them in the same transaction.

use domain::DeleteScope;
use domain::ParentChoice;
use domain::{
    MessageId, MessageListQuery, MessagePatch, Role, SortOrder, ThreadId, ThreadPatch, Version,
};
use serde_json::json;

use crate::support::{at, metadata, new_message, new_thread, sources, text, title, user};

/// Appends `batch` to `before` (the thread as it is), expects the append refused with
/// `AlreadyExists`, and checks that it wrote nothing: none of `new_ids` is stored and the
/// thread is unchanged.
async fn assert_batch_writes_nothing(
    repos: &crate::support::Repos,
    owner: &domain::UserId,
    before: &domain::Thread,
    batch: Vec<domain::Message>,
    new_ids: Vec<MessageId>,
) {
    assert_store_err!(
        repos
            .messages
            .append_messages(
                owner,
                before.id,
                ParentChoice::Omitted,
                batch,
                at(1_000_000)
            )
            .await,
        AlreadyExists
    );
    assert!(
        repos
            .messages
            .find_messages(owner, before.id, new_ids)
            .await
            .expect("find")
            .is_empty()
    );
    assert_eq!(&repos.thread(owner, before.id).await, before);
}

fn everything(order: SortOrder) -> MessageListQuery {
    MessageListQuery {
        order,
        after: None,
        limit: 1_000,
    }
}

contract_test!(
    async fn an_appended_message_reads_back_exactly_and_counts_in_its_thread(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let mut message = new_message(thread.id, "Hello there", at(100));
        message.role = Role::Assistant;
        message.sources =
            sources(json!([{"title": "Doc", "url": "https://e.x/1", "snippet": "s"}]));
        message.metadata = metadata(json!({"tokens": 12}));
        message.updated_at = at(101);
        message.version = Version::new(7);

        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                vec![message.clone()],
                at(200),
            )
            .await
            .expect("append");
        assert_eq!(stored, vec![message.clone()]);
        assert_eq!(
            repos
                .messages
                .get_message(&alice, thread.id, message.id)
                .await
                .expect("get"),
            message
        );

        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, 1);
        assert_eq!(after.last_message_at, Some(at(100)));
        assert_eq!(after.updated_at, at(200));
        assert!(after.version > thread.version);
        assert_eq!(after.created_at, thread.created_at);
    }
);

contract_test!(
    async fn a_batch_is_stored_in_the_given_order_and_counted_whole(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let first = repos.append(&alice, thread.id, &["one"], at(10)).await;
        let batch = repos
            .append(&alice, thread.id, &["two", "three", "four"], at(20))
            .await;

        let listed = repos
            .messages
            .list_messages(&alice, thread.id, everything(SortOrder::Asc))
            .await
            .expect("list");
        let texts: Vec<&str> = listed.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three", "four"]);
        assert_eq!(listed[0], first[0]);
        assert_eq!(listed[1..], batch[..]);

        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, 4);
        assert_eq!(after.last_message_at, Some(batch[2].created_at));
    }
);

contract_test!(
    async fn a_batch_with_one_taken_id_writes_nothing(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let thread = repos.thread_of(&alice, at(0)).await;
        let existing = repos.append(&alice, thread.id, &["kept"], at(10)).await;
        let bobs_thread = repos.thread_of(&bob, at(0)).await;
        let bobs = repos.append(&bob, bobs_thread.id, &["bob's"], at(10)).await;
        let before = repos.thread(&alice, thread.id).await;

        for taken in [existing[0].id, bobs[0].id] {
            let fresh = new_message(thread.id, "new", at(20));
            let mut clash = new_message(thread.id, "clash", at(21));
            clash.id = taken;
            let last = new_message(thread.id, "also new", at(22));
            let ids = vec![fresh.id, last.id];
            assert_batch_writes_nothing(&repos, &alice, &before, vec![fresh, clash, last], ids)
                .await;
        }
        // A batch repeating an id within itself is refused the same way.
        let twice = new_message(thread.id, "twice", at(40));
        assert_store_err!(
            repos
                .messages
                .append_messages(
                    &alice,
                    thread.id,
                    ParentChoice::Omitted,
                    vec![twice.clone(), twice],
                    at(40)
                )
                .await,
            AlreadyExists
        );
        assert_eq!(repos.thread(&alice, thread.id).await, before);
        assert_eq!(
            repos
                .messages
                .get_message(&bob, bobs_thread.id, bobs[0].id)
                .await
                .expect("bob's message is untouched"),
            bobs[0]
        );
    }
);

contract_test!(
    async fn appending_to_a_missing_thread_is_not_found(repos: Repos) {
        let alice = user("alice");
        let missing = ThreadId::generate();
        assert_store_err!(
            repos
                .messages
                .append_messages(
                    &alice,
                    missing,
                    ParentChoice::Omitted,
                    vec![new_message(missing, "x", at(1))],
                    at(1)
                )
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .append_messages(&alice, missing, ParentChoice::Omitted, vec![], at(1))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .list_messages(&alice, missing, everything(SortOrder::Asc))
                .await,
            NotFound
        );
    }
);

contract_test!(
    async fn messages_appended_with_an_older_clock_move_after_the_newest_keeping_their_spacing(
        repos: Repos,
    ) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let newest = repos
            .append(&alice, thread.id, &["newest"], at(1_000))
            .await;

        let late = vec![
            new_message(thread.id, "a", at(500)),
            new_message(thread.id, "b", at(501)),
            new_message(thread.id, "c", at(510)),
        ];
        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                late.clone(),
                at(2_000),
            )
            .await
            .expect("append");
        let created: Vec<_> = stored.iter().map(|m| m.created_at).collect();
        assert_eq!(created, [at(1_001), at(1_002), at(1_011)]);
        for (stored, given) in stored.iter().zip(&late) {
            assert_eq!(stored.id, given.id);
            assert_eq!(stored.updated_at, stored.created_at);
            assert_eq!(stored.content, given.content);
        }

        // Exactly equal to the newest moves by one microsecond.
        let tie = repos.append(&alice, thread.id, &["tie"], at(1_011)).await;
        assert_eq!(tie[0].created_at, at(1_012));

        let listed = repos
            .messages
            .list_messages(&alice, thread.id, everything(SortOrder::Asc))
            .await
            .expect("list");
        let ids: Vec<MessageId> = listed.iter().map(|m| m.id).collect();
        let expected: Vec<MessageId> = newest
            .iter()
            .chain(&stored)
            .chain(&tie)
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(listed[1..4], stored[..]);
        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.last_message_at, Some(at(1_012)));
        assert_eq!(after.message_count, 5);
    }
);

contract_test!(
    async fn editing_a_message_bumps_it_and_its_thread(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let appended = repos
            .append(&alice, thread.id, &["draft", "other"], at(10))
            .await;
        let before = repos.thread(&alice, thread.id).await;

        let patch = MessagePatch {
            text: text("final"),
            sources: Some(sources(json!([{"url": "https://e.x", "n": [1, 2]}]))),
            metadata: None,
            status: None,
        };
        let edited = repos
            .messages
            .update_message(&alice, thread.id, appended[0].id, patch, None, at(500))
            .await
            .expect("edit");
        assert_eq!(edited.content.as_str(), "final");
        assert_eq!(
            edited.sources.to_value(),
            json!([{"url": "https://e.x", "n": [1, 2]}])
        );
        assert_eq!(edited.metadata, appended[0].metadata);
        assert_eq!(edited.created_at, appended[0].created_at);
        assert_eq!(edited.updated_at, at(500));
        assert_eq!(edited.version, Version::new(at(500).as_micros()));
        assert_eq!(
            repos
                .messages
                .get_message(&alice, thread.id, edited.id)
                .await
                .expect("get"),
            edited
        );

        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.updated_at, at(500));
        assert!(after.version > before.version);
        assert_eq!(after.message_count, 2);
        assert_eq!(after.last_message_at, before.last_message_at);

        let untouched = repos
            .messages
            .get_message(&alice, thread.id, appended[1].id)
            .await
            .expect("get");
        assert_eq!(untouched, appended[1]);
    }
);

contract_test!(
    async fn expected_versions_gate_a_message_edit_and_a_refused_edit_changes_nothing(
        repos: Repos,
    ) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let message = repos
            .append(&alice, thread.id, &["v1"], at(10))
            .await
            .remove(0);
        let thread_before = repos.thread(&alice, thread.id).await;
        let edit = |new: &str| MessagePatch {
            text: text(new),
            ..MessagePatch::default()
        };

        for expected in [vec![Version::new(message.version.get() + 1)], vec![]] {
            assert_store_err!(
                repos
                    .messages
                    .update_message(
                        &alice,
                        thread.id,
                        message.id,
                        edit("v2"),
                        Some(expected),
                        at(20)
                    )
                    .await,
                VersionMismatch
            );
        }
        assert_eq!(repos.thread(&alice, thread.id).await, thread_before);
        assert_eq!(
            repos
                .messages
                .get_message(&alice, thread.id, message.id)
                .await
                .expect("get"),
            message
        );

        let edited = repos
            .messages
            .update_message(
                &alice,
                thread.id,
                message.id,
                edit("v2"),
                Some(vec![message.version]),
                at(30),
            )
            .await
            .expect("current version matches");
        assert_eq!(edited.content.as_str(), "v2");
        assert!(edited.version > message.version);

        assert_store_err!(
            repos
                .messages
                .update_message(
                    &alice,
                    thread.id,
                    MessageId::generate(),
                    edit("v3"),
                    Some(vec![message.version]),
                    at(40)
                )
                .await,
            NotFound
        );
    }
);

contract_test!(
    async fn deleting_messages_recounts_the_thread_down_to_empty(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let m = repos
            .append(&alice, thread.id, &["a", "b", "c"], at(10))
            .await;
        let mut last_version = repos.thread(&alice, thread.id).await.version;

        let steps = [
            (m[1].id, 2, Some(m[2].created_at)),
            (m[2].id, 1, Some(m[0].created_at)),
            (m[0].id, 0, None),
        ];
        for (i, (id, count, last)) in (0i64..).zip(steps) {
            let now = at(1_000 + i);
            repos
                .messages
                .delete_message(&alice, thread.id, id, DeleteScope::Message, now)
                .await
                .expect("delete");
            let after = repos.thread(&alice, thread.id).await;
            assert_eq!(after.message_count, count);
            assert_eq!(after.last_message_at, last);
            assert_eq!(after.updated_at, now);
            assert!(after.version > last_version);
            last_version = after.version;
            assert_store_err!(
                repos.messages.get_message(&alice, thread.id, id).await,
                NotFound
            );
        }
        assert_store_err!(
            repos
                .messages
                .delete_message(&alice, thread.id, m[0].id, DeleteScope::Message, at(2_000))
                .await,
            NotFound
        );
        assert_eq!(repos.thread(&alice, thread.id).await.version, last_version);
        assert!(
            repos
                .messages
                .list_messages(&alice, thread.id, everything(SortOrder::Desc))
                .await
                .expect("an empty thread lists as empty")
                .is_empty()
        );
    }
);

contract_test!(
    async fn find_messages_returns_only_those_that_exist_in_the_thread(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let m = repos
            .append(&alice, thread.id, &["a", "b", "c"], at(10))
            .await;

        let mut found = repos
            .messages
            .find_messages(
                &alice,
                thread.id,
                vec![m[2].id, MessageId::generate(), m[0].id],
            )
            .await
            .expect("find");
        found.sort_by_key(|message| message.created_at);
        assert_eq!(found, vec![m[0].clone(), m[2].clone()]);

        assert!(
            repos
                .messages
                .find_messages(&alice, thread.id, vec![])
                .await
                .expect("nothing asked")
                .is_empty()
        );
        assert!(
            repos
                .messages
                .find_messages(&alice, ThreadId::generate(), vec![m[0].id])
                .await
                .expect("a missing thread finds nothing")
                .is_empty()
        );
    }
);

contract_test!(
    async fn every_write_grows_the_thread_version(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let mut versions = vec![thread.version];
        let now = at(0); // A frozen clock: only `version + 1` can make versions grow.

        repos
            .threads
            .update_thread(&alice, thread.id, ThreadPatch::default(), None, now)
            .await
            .expect("update");
        versions.push(repos.thread(&alice, thread.id).await.version);
        let m = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                vec![new_message(thread.id, "x", now)],
                now,
            )
            .await
            .expect("append");
        versions.push(repos.thread(&alice, thread.id).await.version);
        repos
            .messages
            .update_message(
                &alice,
                thread.id,
                m[0].id,
                MessagePatch::default(),
                None,
                now,
            )
            .await
            .expect("edit");
        versions.push(repos.thread(&alice, thread.id).await.version);
        repos
            .messages
            .delete_message(&alice, thread.id, m[0].id, DeleteScope::Message, now)
            .await
            .expect("delete");
        versions.push(repos.thread(&alice, thread.id).await.version);

        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "versions did not grow: {versions:?}"
        );
    }
);

contract_test!(
    async fn unicode_and_nested_json_round_trip_unchanged(repos: Repos) {
        let alice = user("alice@example.com");
        let mut thread = new_thread(&alice, at(0));
        thread.title = title("Voyage 🚀 東京 — שלום עולם \u{202e}rtl\u{202c} e\u{301}");
        thread.metadata = metadata(json!({
            "emoji": "👩‍👩‍👧‍👦",
            "nested": {"list": [1, -2, 3.5, 1e100, true, null, {"deep": ["ü", "中文"]}]},
            "big": 9_007_199_254_740_993_u64,
            "quote\"and\\slash": "line\nbreak\ttab",
            "": "empty key"
        }));
        repos.threads.insert_thread(&thread).await.expect("insert");
        assert_eq!(repos.thread(&alice, thread.id).await, thread);

        let mut message = new_message(
            thread.id,
            "مرحبا بالعالم\n你好，世界 🌏\u{200d}\r\n\"quoted\" \\ 'single' \u{1F600}",
            at(10),
        );
        message.role = Role::Tool;
        message.sources = sources(json!([
            {"title": "日本語のタイトル", "url": "https://例え.jp/パス?q=1", "snippet": "…"},
            {"nested": {"a": [{"b": [{"c": "🦀"}]}]}, "score": 0.25},
            {}
        ]));
        message.metadata = metadata(json!({"rtl": "עברית", "n": {"x": []}}));
        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                vec![message.clone()],
                at(10),
            )
            .await
            .expect("append");
        assert_eq!(stored, vec![message.clone()]);
        let read = repos
            .messages
            .get_message(&alice, thread.id, message.id)
            .await
            .expect("get");
        assert_eq!(read, message);
        assert_eq!(read.content.as_str(), message.content.as_str());
    }
);

contract_test!(
    async fn timestamps_round_trip_at_microsecond_precision(repos: Repos) {
        let alice = user("alice");
        // Whole seconds, single microseconds and the last microsecond of a second.
        let second = |s: i64, micros: i64| {
            domain::Timestamp::from_micros(1_795_954_530_000_000 + s * 1_000_000 + micros)
                .expect("in range")
        };
        let mut thread = new_thread(&alice, second(0, 0));
        thread.updated_at = second(0, 1);
        thread.archived_at = Some(second(0, 999_999));
        thread.pinned_at = Some(second(1, 100_000));
        repos.threads.insert_thread(&thread).await.expect("insert");
        assert_eq!(repos.thread(&alice, thread.id).await, thread);

        let times = [
            second(2, 0),
            second(2, 1),
            second(2, 10),
            second(2, 123_000),
            second(2, 999_999),
        ];
        let messages: Vec<_> = times
            .iter()
            .map(|t| new_message(thread.id, "t", *t))
            .collect();
        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                messages.clone(),
                second(3, 5),
            )
            .await
            .expect("append");
        assert_eq!(stored, messages);
        let listed = repos
            .messages
            .list_messages(&alice, thread.id, everything(SortOrder::Asc))
            .await
            .expect("list");
        assert_eq!(listed, messages);
        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.updated_at, second(3, 5));
        assert_eq!(after.last_message_at, Some(second(2, 999_999)));
    }
);

contract_test!(
    async fn a_message_is_found_only_in_its_own_thread(repos: Repos) {
        let alice = user("alice");
        let home = repos.thread_of(&alice, at(0)).await;
        let elsewhere = repos.thread_of(&alice, at(1)).await;
        let m = repos
            .append(&alice, home.id, &["here"], at(10))
            .await
            .remove(0);
        let elsewhere_before = repos.thread(&alice, elsewhere.id).await;

        assert_store_err!(
            repos.messages.get_message(&alice, elsewhere.id, m.id).await,
            NotFound
        );
        assert!(
            repos
                .messages
                .find_messages(&alice, elsewhere.id, vec![m.id])
                .await
                .expect("find")
                .is_empty()
        );
        let patch = MessagePatch {
            text: text("moved?"),
            ..MessagePatch::default()
        };
        assert_store_err!(
            repos
                .messages
                .update_message(&alice, elsewhere.id, m.id, patch.clone(), None, at(20))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .update_message(
                    &alice,
                    elsewhere.id,
                    m.id,
                    patch,
                    Some(vec![m.version]),
                    at(20)
                )
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .delete_message(&alice, elsewhere.id, m.id, DeleteScope::Message, at(20))
                .await,
            NotFound
        );
        // An id taken in one thread cannot be appended to another.
        let mut copy = new_message(elsewhere.id, "copy", at(30));
        copy.id = m.id;
        assert_store_err!(
            repos
                .messages
                .append_messages(
                    &alice,
                    elsewhere.id,
                    ParentChoice::Omitted,
                    vec![copy],
                    at(30)
                )
                .await,
            AlreadyExists
        );

        assert_eq!(repos.thread(&alice, elsewhere.id).await, elsewhere_before);
        assert_eq!(
            repos
                .messages
                .get_message(&alice, home.id, m.id)
                .await
                .expect("still home"),
            m
        );
    }
);

contract_test!(
    async fn archived_threads_still_take_messages(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let archive = ThreadPatch {
            archived: Some(true),
            title: Some(title("old")),
            ..ThreadPatch::default()
        };
        repos
            .threads
            .update_thread(&alice, thread.id, archive, None, at(5))
            .await
            .expect("archive");
        repos.append(&alice, thread.id, &["late"], at(10)).await;
        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, 1);
        assert_eq!(after.archived_at, Some(at(5)));
    }
);

/// More messages than one statement carries (1,000 on PostgreSQL): the append takes its
/// chunked path, in one transaction, on both backends.
const LARGE_BATCH: i64 = 2_345;

fn large_batch(thread: domain::ThreadId, from: i64) -> Vec<domain::Message> {
    (0..LARGE_BATCH)
        .map(|i| new_message(thread, &format!("message {i}"), at(from + i)))
        .collect()
}

contract_test!(
    async fn a_batch_larger_than_one_statement_is_stored_whole_and_in_order(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let first = repos.append(&alice, thread.id, &["before"], at(10)).await;
        // Timestamps behind the thread's newest message: the whole batch is moved after it.
        let batch = large_batch(thread.id, 5);
        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                batch.clone(),
                at(20_000),
            )
            .await
            .expect("append");
        assert_eq!(stored.len(), batch.len());
        assert!(stored[0].created_at > first[0].created_at);
        assert!(stored.windows(2).all(|w| w[0].created_at < w[1].created_at));

        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = repos
                .messages
                .list_messages(
                    &alice,
                    thread.id,
                    domain::MessageListQuery {
                        order: SortOrder::Asc,
                        after,
                        limit: 100,
                    },
                )
                .await
                .expect("list");
            let Some(last) = page.last() else { break };
            after = Some(domain::MessageKey {
                created_at: last.created_at,
                id: last.id,
            });
            listed.extend(page);
        }
        assert_eq!(listed.len(), batch.len() + 1);
        assert_eq!(listed[0], first[0]);
        assert_eq!(listed[1..], stored[..]);
        let texts: Vec<String> = listed[1..]
            .iter()
            .map(|m| m.content.as_str().to_owned())
            .collect();
        let expected: Vec<String> = batch
            .iter()
            .map(|m| m.content.as_str().to_owned())
            .collect();
        assert_eq!(texts, expected);

        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, LARGE_BATCH + 1);
        assert_eq!(after.last_message_at, stored.last().map(|m| m.created_at));
    }
);

contract_test!(
    async fn a_large_batch_failing_in_its_last_chunk_writes_nothing(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let existing = repos.append(&alice, thread.id, &["kept"], at(10)).await;
        let before = repos.thread(&alice, thread.id).await;
        let mut batch = large_batch(thread.id, 100);
        let last = batch.len() - 1;
        batch[last].id = existing[0].id;
        let ids: Vec<domain::MessageId> = batch[..last].iter().map(|m| m.id).collect();
        assert_batch_writes_nothing(&repos, &alice, &before, batch, ids).await;
    }
);
