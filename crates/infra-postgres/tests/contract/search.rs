//! Full-text search: what matches, in which order, for whom, and that nothing a user types
//! can break it. Run on both backends like the rest of the contract.

use domain::DeleteScope;
use domain::ParentChoice;
use std::collections::HashSet;

use domain::{MessageId, MessagePatch, SearchHit, SearchQuery, SearchRequest, ThreadPatch};
use infra_postgres::Store;
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::support::{
    PostgresDatabase, Repos, TestStore, at, sqlite_url, test_options, text, title, user,
};

fn ids(messages: &[domain::Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

fn set(ids: &[MessageId]) -> HashSet<MessageId> {
    ids.iter().copied().collect()
}

contract_test!(
    async fn every_word_must_match_in_any_case(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &["The quick brown fox", "a QUICK red car", "lazy dog"],
                at(10),
            )
            .await;
        let m = ids(&stored);
        assert_eq!(set(&repos.search_ids(&alice, "quick").await), set(&m[..2]));
        assert_eq!(set(&repos.search_ids(&alice, "Quick").await), set(&m[..2]));
        assert_eq!(repos.search_ids(&alice, "quick fox").await, [m[0]]);
        assert_eq!(repos.search_ids(&alice, "fox quick").await, [m[0]]);
        assert!(repos.search_ids(&alice, "quick dog").await.is_empty());
        assert!(repos.search_ids(&alice, "cat").await.is_empty());
        // Words match whole: no prefixes, no stemming.
        assert!(repos.search_ids(&alice, "qui").await.is_empty());
        assert!(repos.search_ids(&alice, "dogs").await.is_empty());
    }
);

contract_test!(
    async fn quoted_phrases_match_adjacent_words_in_order(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &[
                    "the quick brown fox",
                    "brown quick",
                    "quick and brown",
                    "write me an e-mail",
                ],
                at(10),
            )
            .await;
        let m = ids(&stored);
        assert_eq!(repos.search_ids(&alice, "\"quick brown\"").await, [m[0]]);
        assert_eq!(
            repos.search_ids(&alice, "\"QUICK  Brown fox\"").await,
            [m[0]]
        );
        assert_eq!(repos.search_ids(&alice, "\"brown quick\"").await, [m[1]]);
        assert_eq!(
            set(&repos.search_ids(&alice, "quick brown").await),
            set(&m[..3])
        );
        // One item that the tokenizer splits is a phrase too.
        assert_eq!(repos.search_ids(&alice, "e-mail").await, [m[3]]);
        assert_eq!(repos.search_ids(&alice, "\"e mail\"").await, [m[3]]);
        assert!(repos.search_ids(&alice, "mail-e").await.is_empty());
    }
);

contract_test!(
    async fn a_minus_excludes_messages_with_the_word_or_phrase(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &["jaguar the car", "jaguar the cat", "car the jaguar"],
                at(10),
            )
            .await;
        let m = ids(&stored);
        assert_eq!(repos.search_ids(&alice, "jaguar -car").await, [m[1]]);
        assert_eq!(repos.search_ids(&alice, "-car jaguar").await, [m[1]]);
        assert_eq!(
            set(&repos.search_ids(&alice, "jaguar -\"the car\"").await),
            set(&[m[1], m[2]])
        );
        assert!(
            repos
                .search_ids(&alice, "jaguar -car -cat")
                .await
                .is_empty()
        );
    }
);

contract_test!(
    async fn or_matches_either_side(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &["tea time", "coffee time", "water time", "tea or coffee"],
                at(10),
            )
            .await;
        let m = ids(&stored);
        assert_eq!(
            set(&repos.search_ids(&alice, "tea or coffee").await),
            set(&[m[0], m[1], m[3]])
        );
        assert_eq!(
            set(&repos.search_ids(&alice, "tea OR coffee time").await),
            set(&[m[0], m[1]])
        );
        assert_eq!(
            set(&repos
                .search_ids(&alice, "tea or water or coffee -time")
                .await),
            set(&[m[3]])
        );
        // A quoted "or" is a word.
        assert_eq!(repos.search_ids(&alice, "tea \"or\"").await, [m[3]]);
    }
);

contract_test!(
    async fn case_and_diacritics_are_ignored_in_any_script(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &[
                    "Café Crème at the École",
                    "Привет, МИР",
                    "こんにちは 世界",
                    "a naïve résumé",
                    "Ελληνικά γράμματα",
                ],
                at(10),
            )
            .await;
        let m = ids(&stored);
        for (q, expected) in [
            ("cafe", m[0]),
            ("CAFÉ", m[0]),
            ("café crème", m[0]),
            ("ecole", m[0]),
            ("мир", m[1]),
            ("привет", m[1]),
            ("世界", m[2]),
            ("resume naive", m[3]),
            ("RÉSUMÉ", m[3]),
            // Upper and lower case of every script; diacritics of Latin letters (SQLite's
            // unicode61 folds only those, PostgreSQL's unaccent more).
            ("ΕΛΛΗΝΙΚΆ", m[4]),
        ] {
            assert_eq!(repos.search_ids(&alice, q).await, [expected], "{q}");
        }
    }
);

contract_test!(
    async fn more_matches_rank_first_and_ties_go_newest_first(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let oldest = repos
            .append(&alice, thread.id, &["I like rust"], at(10))
            .await;
        let most = repos
            .append(&alice, thread.id, &["rust and rust and rust"], at(20))
            .await;
        let twice = repos
            .append(&alice, thread.id, &["rust, then rust again"], at(30))
            .await;
        let newer = repos
            .append(&alice, thread.id, &["rust is fine"], at(40))
            .await;
        repos
            .append(&alice, thread.id, &["nothing to see"], at(50))
            .await;
        let hits = repos.search(&alice, "rust").await;
        let got: Vec<MessageId> = hits.iter().map(|h| h.message.id).collect();
        assert_eq!(got, [most[0].id, twice[0].id, newer[0].id, oldest[0].id]);
        assert!(hits[0].rank > hits[1].rank && hits[1].rank > hits[2].rank);
        assert_eq!(hits[2].rank, hits[3].rank);
    }
);

contract_test!(
    async fn pages_visit_every_hit_once_while_messages_come_and_go(repos: Repos) {
        let alice = user("alice");
        let threads = [
            repos.thread_of(&alice, at(0)).await,
            repos.thread_of(&alice, at(1)).await,
        ];
        let texts = [
            "page",
            "page page",
            "page",
            "page page page",
            "page",
            "page page",
            "page",
        ];
        let mut stored = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let thread = threads[i % 2].id;
            stored.extend(
                repos
                    .append(&alice, thread, &[text], at(100 + 10 * i as i64))
                    .await,
            );
        }
        let everything = repos.search(&alice, "page").await;
        assert_eq!(everything.len(), texts.len());

        let mut seen: Vec<SearchHit> = Vec::new();
        let mut after = None;
        for round in 0i64.. {
            let page = repos.search_page(&alice, "page", after, 2).await;
            if page.is_empty() {
                break;
            }
            after = page.last().map(SearchHit::key);
            seen.extend(page);
            // Others write meanwhile: new hits of every rank, and a non-matching message.
            let text = ["page", "page page page page", "no match"][(round % 3) as usize];
            repos
                .append(&alice, threads[0].id, &[text], at(1_000 + round))
                .await;
        }
        let seen_ids: Vec<MessageId> = seen.iter().map(|h| h.message.id).collect();
        assert_eq!(set(&seen_ids).len(), seen_ids.len(), "no hit twice");
        for hit in &everything {
            assert!(seen_ids.contains(&hit.message.id), "no hit skipped");
        }
        let keys: Vec<_> = seen.iter().map(SearchHit::key).collect();
        assert!(
            keys.windows(2)
                .all(|w| (w[1].rank, w[1].created_at, w[1].id)
                    < (w[0].rank, w[0].created_at, w[0].id)),
            "strictly in result order"
        );
    }
);

contract_test!(
    async fn another_users_identical_message_never_appears(repos: Repos) {
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let mine = repos.thread_of(&alice, at(0)).await;
        let theirs = repos.thread_of(&bob, at(0)).await;
        let patch = ThreadPatch {
            title: Some(title("bob's secrets")),
            ..ThreadPatch::default()
        };
        repos
            .threads
            .update_thread(&bob, theirs.id, patch, None, at(1))
            .await
            .expect("rename");
        let a = repos
            .append(&alice, mine.id, &["shared secret words"], at(10))
            .await;
        let b = repos
            .append(&bob, theirs.id, &["shared secret words"], at(10))
            .await;
        let hits = repos.search(&alice, "secret").await;
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message.id, a[0].id);
        assert_eq!(hits[0].owner, alice);
        assert_eq!(repos.search_ids(&bob, "\"secret words\"").await, [b[0].id]);
        assert!(repos.search_ids(&carol, "secret").await.is_empty());
        // A cursor position taken from one user's list leads to nothing of another's.
        let after = Some(hits[0].key());
        assert!(
            repos
                .search_page(&carol, "secret", after, 10)
                .await
                .is_empty()
        );
    }
);

contract_test!(
    async fn edits_and_deletes_are_reflected_at_once(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(&alice, thread.id, &["old alpha", "keep alpha"], at(10))
            .await;
        let patch = MessagePatch {
            text: text("new beta"),
            ..MessagePatch::default()
        };
        repos
            .messages
            .update_message(&alice, thread.id, stored[0].id, patch, None, at(20))
            .await
            .expect("edit");
        assert_eq!(repos.search_ids(&alice, "alpha").await, [stored[1].id]);
        assert_eq!(repos.search_ids(&alice, "beta").await, [stored[0].id]);
        // Editing other fields leaves the index alone.
        let patch = MessagePatch {
            metadata: Some(crate::support::metadata(serde_json::json!({"k": 1}))),
            ..MessagePatch::default()
        };
        repos
            .messages
            .update_message(&alice, thread.id, stored[0].id, patch, None, at(30))
            .await
            .expect("edit metadata");
        assert_eq!(repos.search_ids(&alice, "beta").await, [stored[0].id]);

        repos
            .messages
            .delete_message(
                &alice,
                thread.id,
                stored[0].id,
                DeleteScope::Message,
                at(40),
            )
            .await
            .expect("delete");
        assert!(repos.search_ids(&alice, "beta").await.is_empty());

        let doomed = repos.thread_of(&alice, at(50)).await;
        repos
            .append(&alice, doomed.id, &["gamma one", "gamma two"], at(60))
            .await;
        assert_eq!(repos.search_ids(&alice, "gamma").await.len(), 2);
        repos
            .threads
            .delete_thread(&alice, doomed.id)
            .await
            .expect("delete thread");
        assert!(repos.search_ids(&alice, "gamma").await.is_empty());

        let other = repos.thread_of(&alice, at(70)).await;
        repos.append(&alice, other.id, &["delta"], at(80)).await;
        repos
            .threads
            .delete_all_threads(&alice)
            .await
            .expect("delete history");
        assert!(repos.search_ids(&alice, "delta").await.is_empty());
        assert!(repos.search_ids(&alice, "alpha").await.is_empty());
        // Ids may be used again after a delete: the new message is found, once.
        let again = repos.thread_of(&alice, at(90)).await;
        let mut reused = crate::support::new_message(again.id, "alpha reborn", at(100));
        reused.id = stored[1].id;
        repos
            .messages
            .append_messages(
                &alice,
                again.id,
                ParentChoice::Omitted,
                vec![reused],
                at(100),
            )
            .await
            .expect("reuse id");
        assert_eq!(repos.search_ids(&alice, "alpha").await, [stored[1].id]);
    }
);

contract_test!(
    async fn query_syntax_characters_never_cause_an_error(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let stored = repos
            .append(
                &alice,
                thread.id,
                &[r#"he said "hi" (NEAR* a:b) 'quoted' back\slash ^caret {x} [y] col:umn"#],
                at(10),
            )
            .await;
        let nasty = [
            "\"",
            "\"\"",
            "\"hi",
            "hi\"",
            "*",
            "hi*",
            "*hi",
            "(",
            ")",
            "(hi",
            "hi)",
            "NEAR",
            "NEAR(hi said)",
            "NEAR(hi, 5)",
            "a:b",
            "content:hi",
            ":",
            "'",
            "''",
            "'quoted'",
            "\\",
            "back\\slash",
            "\\\\",
            "^hi",
            "^",
            "{x}",
            "{",
            "[y]",
            "col:umn",
            "hi AND said",
            "hi NOT said",
            "hi OR",
            "OR",
            "AND",
            "NOT",
            "-",
            "--hi said",
            "said -\"",
            "hi + said",
            "hi & said",
            "hi | said",
            "!hi",
            "hi <-> said",
            "hi:*",
            "hi:A",
            "said -'quoted'",
            "%",
            "_",
            "$1",
            "?1",
            ";",
            "'; DROP TABLE chat_messages; --",
            "\u{27E6}hi\u{27E7}",
            "😀 hi",
            "hi\u{200B}said",
        ];
        for q in nasty {
            let Ok(query) = SearchQuery::parse(q) else {
                continue;
            };
            let request = SearchRequest {
                query,
                after: None,
                limit: 10,
            };
            if let Err(err) = repos.search.search_messages(&alice, request).await {
                panic!("{q:?} failed: {err:?}");
            }
        }
        let m = stored[0].id;
        for q in [
            "NEAR",
            "near hi",
            "a:b",
            "\"a b\"",
            "back\\slash",
            "'quoted'",
            "hi*",
            "(hi",
            "^caret",
            "{x}",
            "[y]",
            "col:umn",
            "\"hi\" said",
        ] {
            assert_eq!(repos.search_ids(&alice, q).await, [m], "{q}");
        }
    }
);

contract_test!(
    async fn hits_carry_the_message_its_thread_and_a_marked_snippet(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let patch = ThreadPatch {
            title: Some(title("Needles ✈️")),
            ..ThreadPatch::default()
        };
        repos
            .threads
            .update_thread(&alice, thread.id, patch, None, at(1))
            .await
            .expect("rename");
        let stored = repos
            .append(
                &alice,
                thread.id,
                &["Look: \u{27E6}this\u{27E7} holds the needle, and a Néedle more."],
                at(10),
            )
            .await;
        let hits = repos.search(&alice, "needle").await;
        assert_eq!(hits.len(), 1);
        let hit = &hits[0];
        let message = repos
            .messages
            .get_message(&alice, thread.id, stored[0].id)
            .await
            .expect("stored");
        assert_eq!(hit.message, message);
        assert_eq!(hit.thread_title.as_str(), "Needles ✈️");
        assert_eq!(hit.owner, alice);
        let snippet = &hit.snippet;
        assert!(snippet.contains("\u{27E6}needle\u{27E7}"), "{snippet}");
        assert!(snippet.contains("\u{27E6}Néedle\u{27E7}"), "{snippet}");
        assert!(snippet.contains("[this]"), "{snippet}");
        assert_eq!(snippet.matches('\u{27E6}').count(), 2, "{snippet}");
        assert_eq!(snippet.matches('\u{27E7}').count(), 2, "{snippet}");
        // The content itself is returned untouched.
        assert!(
            hit.message
                .content
                .as_str()
                .contains("\u{27E6}this\u{27E7}")
        );
    }
);

contract_test!(
    async fn a_long_message_gets_a_short_snippet_around_the_match(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let long = format!(
            "{} the hidden treasure is here {}",
            "filler words ".repeat(500),
            "more filler ".repeat(500)
        );
        repos.append(&alice, thread.id, &[&long], at(10)).await;
        let hits = repos.search(&alice, "treasure").await;
        assert_eq!(hits.len(), 1);
        let snippet = &hits[0].snippet;
        assert!(snippet.contains("\u{27E6}treasure\u{27E7}"), "{snippet}");
        assert!(snippet.chars().count() < 400, "{snippet}");
    }
);

/// The integer `n` of the one row `sql` returns.
async fn integer(conn: &DatabaseConnection, sql: String) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.clone(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("one row");
    row.try_get::<i64>("", "n").expect("an integer")
}

/// The number of rows of `table` (one of the search structures).
async fn count(conn: &DatabaseConnection, table: &str) -> i64 {
    integer(conn, format!("SELECT count(*) AS n FROM {table}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_index_follows_inserts_edits_deletes_and_cascades() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = sqlite_url(&dir.path().join("chat.db"));
    let store = Store::connect(&url, test_options()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let repos = Repos::of(&store);
    let (alice, bob) = (user("alice"), user("bob"));
    let a = repos.thread_of(&alice, at(0)).await;
    let b = repos.thread_of(&bob, at(0)).await;
    let kept = repos
        .append(&alice, a.id, &["one", "two", "three"], at(10))
        .await;
    repos.append(&bob, b.id, &["four", "five"], at(10)).await;
    let patch = MessagePatch {
        text: text("two, edited"),
        ..MessagePatch::default()
    };
    repos
        .messages
        .update_message(&alice, a.id, kept[1].id, patch, None, at(20))
        .await
        .expect("edit");
    repos
        .messages
        .delete_message(&alice, a.id, kept[0].id, DeleteScope::Message, at(30))
        .await
        .expect("delete");
    repos
        .threads
        .delete_thread(&bob, b.id)
        .await
        .expect("cascade");
    store.close().await;

    let raw = crate::support::raw(url.as_str()).await;
    // FTS5 checks its index against the content it reads through the view.
    raw.execute_unprepared(
        "INSERT INTO chat_messages_fts (chat_messages_fts, rank) VALUES ('integrity-check', 1)",
    )
    .await
    .expect("the index matches the content");
    assert_eq!(count(&raw, "chat_messages").await, 2);
    assert_eq!(count(&raw, "chat_messages_fts_rows").await, 2);
    // Every row of the index belongs to a message that exists.
    assert_eq!(count(&raw, "chat_messages_fts_content").await, 2);
    let _ = raw.close().await;
}

/// Applies only the first migration (the chat tables, before search) to `url`.
/// Undoes every migration from the one named `from` on (newest first), then applies
/// every migration again.
async fn redo_migrations(url: &str, from: &str) {
    let steps = crate::support::migrations_since(from);
    let raw = crate::support::raw(url).await;
    migration::Migrator::down(&raw, Some(steps))
        .await
        .expect("undo migrations");
    migration::Migrator::up(&raw, None)
        .await
        .expect("redo migrations");
    let _ = raw.close().await;
}

/// Messages stored before the search and owner migrations are found after them (the
/// search vector and `chat_messages.user_id` are back-filled); undoing and redoing them
/// keeps search working.
async fn search_migration_backfills_and_can_be_redone(url: &str) {
    let store = Store::connect(url, test_options()).await.expect("connect");
    store.migrate().await.expect("migrations");
    let repos = Repos::of(&store);
    let alice = user("alice");
    let bob = user("bob");
    let thread = repos.thread_of(&alice, at(0)).await;
    let old = repos
        .append(
            &alice,
            thread.id,
            &["written before search existed"],
            at(10),
        )
        .await;
    // Undo the owner column and the search structures, then apply both again: the
    // message stored before them must be found, as its owner's only.
    redo_migrations(url, "m20261201_000001_message_owner").await;
    assert_eq!(repos.search_ids(&alice, "existed").await, [old[0].id]);
    assert!(repos.search_ids(&bob, "existed").await.is_empty());

    redo_migrations(url, "m20261201_000002_search_by_owner").await;
    let new = repos
        .append(&alice, thread.id, &["written after search existed"], at(20))
        .await;
    assert_eq!(
        set(&repos.search_ids(&alice, "existed").await),
        set(&[old[0].id, new[0].id])
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_before_the_search_migration_are_found_on_postgres() {
    let database = PostgresDatabase::empty().await;
    search_migration_backfills_and_can_be_redone(&database.url()).await;
    database.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_before_the_search_migration_are_found_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    search_migration_backfills_and_can_be_redone(&sqlite_url(&dir.path().join("chat.db"))).await;
}

contract_test!(
    async fn only_the_newest_matches_are_ranked_and_rare_words_are_found_at_any_age(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let thread = repos.thread_of(&alice, at(0)).await;
        // The oldest message matches best ("apple" four times) and also holds a rare word.
        let oldest = repos
            .append(
                &alice,
                thread.id,
                &["apple apple apple apple and a quince"],
                at(10),
            )
            .await;
        let newer = usize::try_from(SearchRequest::CANDIDATES).expect("fits") + 50;
        let texts: Vec<String> = (0..newer)
            .map(|i| format!("an apple, number {i}"))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let stored = repos.append(&alice, thread.id, &texts, at(100)).await;
        // Another user's matches change nothing.
        let bobs = repos.thread_of(&bob, at(0)).await;
        repos
            .append(&bob, bobs.id, &["apple apple apple", "apple"], at(5_000))
            .await;

        // Every page, each hit once (checked by `all_search_ids`).
        let found = all_search_ids(&repos, &alice, "apple").await;
        let expected: HashSet<MessageId> = stored[stored.len() - 1_000..]
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(found.len(), 1_000, "the 1,000 newest matches, each once");
        assert_eq!(found, expected);
        assert!(!found.contains(&oldest[0].id));
        // A word found in fewer messages than that is found wherever it is.
        assert_eq!(repos.search_ids(&alice, "quince").await, [oldest[0].id]);
    }
);

/// The ids of every hit of `owner`'s search for `q`, page after page.
async fn all_search_ids(repos: &Repos, owner: &domain::UserId, q: &str) -> HashSet<MessageId> {
    let mut found = HashSet::new();
    let mut after = None;
    loop {
        let page = repos.search_page(owner, q, after, 100).await;
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        for hit in &page {
            assert!(found.insert(hit.message.id), "{q:?}: a hit twice");
        }
    }
    found
}

/// Two user ids whose md5 begins with the same 8 hex digits (`17e1d06e`): on PostgreSQL
/// the search index keys every word by that prefix of its owner's md5, so these two users'
/// words share the index's posting lists (checked by
/// `the_two_colliding_users_share_the_index_key_prefix_on_postgres`).
const COLLIDING_USERS: (&str, &str) = ("user-10166", "user-99497");

contract_test!(
    async fn users_who_share_an_index_key_never_find_each_others_messages(repos: Repos) {
        let (ann, ben) = (user(COLLIDING_USERS.0), user(COLLIDING_USERS.1));
        let anns = repos.thread_of(&ann, at(0)).await;
        let bens = repos.thread_of(&ben, at(0)).await;
        let ann_pie = repos
            .append(&ann, anns.id, &["apple pie, no quince"], at(10))
            .await;
        let ben_few = repos
            .append(&ben, bens.id, &["apple", "apple tart with quince"], at(20))
            .await;
        // Few matches each: every one of them is read through the index.
        assert_eq!(repos.search_ids(&ann, "apple").await, ids(&ann_pie));
        assert_eq!(
            set(&repos.search_ids(&ben, "apple").await),
            set(&ids(&ben_few))
        );
        assert!(repos.search_ids(&ann, "tart").await.is_empty());
        assert_eq!(repos.search_ids(&ann, "apple -quince").await, Vec::new());
        assert_eq!(
            repos.search_ids(&ben, "apple -quince").await,
            [ben_few[0].id]
        );

        // Ben now has more matches than are ranked: the index holds more than that many
        // entries under Ann's key too, and her search still finds only her message.
        let many = usize::try_from(SearchRequest::CANDIDATES).expect("fits");
        let texts: Vec<String> = (0..many).map(|i| format!("apple number {i}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ben_many = repos.append(&ben, bens.id, &texts, at(100)).await;
        assert_eq!(repos.search_ids(&ann, "apple").await, ids(&ann_pie));
        assert_eq!(
            all_search_ids(&repos, &ann, "apple").await,
            set(&ids(&ann_pie))
        );
        let bens_found = all_search_ids(&repos, &ben, "apple").await;
        assert_eq!(
            bens_found,
            set(&ids(&ben_many)),
            "Ben's newest 1,000 matches"
        );
        assert_eq!(repos.search_ids(&ann, "quince").await, ids(&ann_pie));
        // Ben's history is now longer than what is ranked: his rare words and phrases are
        // found too, and never Ann's.
        assert_eq!(repos.search_ids(&ben, "tart").await, [ben_few[1].id]);
        assert_eq!(
            repos.search_ids(&ben, "\"apple tart\" quince").await,
            [ben_few[1].id]
        );
        assert!(repos.search_ids(&ben, "pie").await.is_empty());
    }
);

contract_test!(
    async fn words_near_the_length_limit_are_stored_and_found(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        // 510 letters of 4 bytes each: 2,040 bytes, a word PostgreSQL keeps (its limit is
        // 2,047) but too long for the index key's prefix; 300 letters: an ordinary key.
        let huge = "\u{20000}".repeat(510);
        let long = "b".repeat(300);
        let texts = [
            format!("before {huge} after"),
            format!("{huge} and {long}"),
            format!("only {long}"),
        ];
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let stored = repos.append(&alice, thread.id, &texts, at(10)).await;
        let m = ids(&stored);
        assert_eq!(set(&repos.search_ids(&alice, &huge).await), set(&m[..2]));
        assert_eq!(set(&repos.search_ids(&alice, &long).await), set(&m[1..]));
        assert_eq!(
            repos.search_ids(&alice, &format!("{long} -only")).await,
            [m[1]]
        );
        assert_eq!(repos.search_ids(&alice, "before after").await, [m[0]]);
        assert!(repos.search_ids(&user("bob"), &long).await.is_empty());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_colliding_users_share_the_index_key_prefix_on_postgres() {
    let database = PostgresDatabase::empty().await;
    let raw = crate::support::raw(database.url().as_str()).await;
    let row = raw
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT left(md5($1), 8) = left(md5($2), 8) AS same",
            [COLLIDING_USERS.0.into(), COLLIDING_USERS.1.into()],
        ))
        .await
        .expect("query")
        .expect("a row");
    assert!(row.try_get::<bool>("", "same").expect("bool"));
    let _ = raw.close().await;
    database.finish().await;
}

// The same statements again and again with other values on the same connections (were
// they prepared and kept, or the history check remembered, nothing of one search may
// carry over to the next): every run answers for its own user and words.
contract_test!(
    async fn a_search_repeated_with_other_users_and_words_answers_each_time(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let a = repos.thread_of(&alice, at(0)).await;
        let b = repos.thread_of(&bob, at(0)).await;
        let mut texts: Vec<String> = (0..30).map(|i| format!("common note {i}")).collect();
        texts.push("a rare zanzibar note".to_owned());
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let alices = ids(&repos.append(&alice, a.id, &texts, at(10)).await);
        let bobs = ids(&repos.append(&bob, b.id, &texts[..5], at(10)).await);
        for round in 0..4 {
            assert_eq!(
                set(&repos.search_ids(&alice, "common").await),
                set(&alices[..30]),
                "round {round}"
            );
            assert_eq!(repos.search_ids(&alice, "zanzibar").await, [alices[30]]);
            assert_eq!(set(&repos.search_ids(&bob, "common").await), set(&bobs));
            assert!(repos.search_ids(&bob, "zanzibar").await.is_empty());
            assert_eq!(repos.search_ids(&bob, "note 3").await, [bobs[3]]);
        }
    }
);

contract_test!(
    async fn words_that_hold_quotes_or_backslashes_are_found(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        // PostgreSQL keeps a URL's path as one word, quote and all.
        let texts = [
            r"see http://ex.com/a'b?q=1\2 for it",
            r"and /usr/lo'cal/x or a\b\c",
            "nothing here",
        ];
        let stored = repos.append(&alice, thread.id, &texts, at(10)).await;
        let m = ids(&stored);
        assert_eq!(
            repos.search_ids(&alice, r"http://ex.com/a'b?q=1\2").await,
            [m[0]]
        );
        assert_eq!(repos.search_ids(&alice, "/usr/lo'cal/x").await, [m[1]]);
        assert_eq!(repos.search_ids(&alice, r"a\b\c").await, [m[1]]);
        assert!(
            repos
                .search_ids(&user("bob"), "/usr/lo'cal/x")
                .await
                .is_empty()
        );
    }
);

/// `½` is alphanumeric to the query parser and no word to PostgreSQL's: an item without
/// words narrows nothing, in the owner-keyed index's query as in the exact one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_without_words_narrows_nothing_on_postgres() {
    let store = TestStore::postgres().await;
    let repos = store.repos();
    let alice = user("alice");
    let thread = repos.thread_of(&alice, at(0)).await;
    let stored = repos
        .append(&alice, thread.id, &["half a cake", "a whole cake"], at(10))
        .await;
    assert_eq!(repos.search_ids(&alice, "half ½").await, [stored[0].id]);
    assert_eq!(repos.search_ids(&alice, "½ or half").await, [stored[0].id]);
    assert!(repos.search_ids(&alice, "½").await.is_empty());
    store.finish().await;
}

/// The bytes of `chat_messages`' TOAST relation (PostgreSQL).
async fn toast_bytes(conn: &DatabaseConnection) -> i64 {
    let sql = "SELECT pg_relation_size(reltoastrelid) AS n FROM pg_class \
               WHERE oid = 'chat_messages'::regclass";
    integer(conn, sql.to_owned()).await
}

/// On PostgreSQL a message of a few kilobytes is one row, its search words included,
/// with nothing in TOAST (migration `m20261210_000001_message_storage`): a search reads
/// one page per message it considers. A long message is still stored whole (its content
/// in TOAST), read back and found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_a_few_kilobytes_is_one_row_and_a_long_one_is_whole_on_postgres() {
    let database = PostgresDatabase::from_template().await;
    let store = Store::connect(&database.url(), test_options())
        .await
        .expect("connect");
    let raw = crate::support::raw(database.url().as_str()).await;
    let repos = Repos::of(&store);
    let alice = user("alice");
    let thread = repos.thread_of(&alice, at(0)).await;
    let words = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| format!("{prefix}{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // About 1.8 kB of text and 3.5 kB of search words: PostgreSQL's default moves a part
    // of such a row (over 2 kB) to TOAST.
    let typical = words("word", 250);
    let stored = repos.append(&alice, thread.id, &[&typical], at(10)).await;
    assert_eq!(toast_bytes(&raw).await, 0);
    assert_eq!(
        repos.search_ids(&alice, "word7 word249").await,
        [stored[0].id]
    );

    let long = words("long", 5000);
    let stored = repos.append(&alice, thread.id, &[&long], at(20)).await;
    assert!(toast_bytes(&raw).await > 0);
    let read = repos
        .messages
        .get_message(&alice, thread.id, stored[0].id)
        .await
        .expect("read the long message");
    assert_eq!(read.content.as_str(), long);
    assert_eq!(
        repos.search_ids(&alice, "long0 long4999").await,
        [stored[0].id]
    );
    let _ = raw.close().await;
    store.close().await;
    database.finish().await;
}
