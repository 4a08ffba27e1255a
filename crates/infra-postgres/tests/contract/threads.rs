//! Threads: create, read, update, archive/pin, versions, delete.

use domain::ParentChoice;
use domain::{ThreadId, ThreadPatch, Version};
use serde_json::json;

use crate::support::{at, metadata, new_thread, title, user};

contract_test!(
    async fn a_created_thread_reads_back_exactly(repos: Repos) {
        let alice = user("alice");
        let mut thread = new_thread(&alice, at(0));
        thread.title = title("Plans for the trip");
        thread.metadata = metadata(json!({"model": "gpt", "tags": ["a", "b"], "n": 3}));
        thread.archived_at = Some(at(5));
        thread.pinned_at = Some(at(6));
        thread.updated_at = at(7);
        thread.version = Version::new(42);
        repos.threads.insert_thread(&thread).await.expect("insert");

        assert_eq!(repos.thread(&alice, thread.id).await, thread);
    }
);

contract_test!(
    async fn a_thread_id_can_be_used_only_once_even_across_users(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let original = repos.thread_of(&alice, at(0)).await;

        let mut again = new_thread(&alice, at(10));
        again.id = original.id;
        again.title = title("different");
        assert_store_err!(repos.threads.insert_thread(&again).await, AlreadyExists);

        let mut bobs = new_thread(&bob, at(10));
        bobs.id = original.id;
        assert_store_err!(repos.threads.insert_thread(&bobs).await, AlreadyExists);

        assert_eq!(repos.thread(&alice, original.id).await, original);
        assert_store_err!(repos.threads.get_thread(&bob, original.id).await, NotFound);
    }
);

contract_test!(
    async fn a_missing_thread_is_not_found_on_every_method(repos: Repos) {
        let alice = user("alice");
        let missing = ThreadId::generate();
        assert_store_err!(repos.threads.get_thread(&alice, missing).await, NotFound);
        assert_store_err!(
            repos
                .threads
                .update_thread(&alice, missing, ThreadPatch::default(), None, at(1))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .threads
                .update_thread(
                    &alice,
                    missing,
                    ThreadPatch::default(),
                    Some(vec![Version::new(1)]),
                    at(1)
                )
                .await,
            NotFound
        );
        assert_store_err!(repos.threads.delete_thread(&alice, missing).await, NotFound);
    }
);

contract_test!(
    async fn an_update_replaces_the_named_fields_and_bumps_updated_at_and_version(repos: Repos) {
        let alice = user("alice");
        let mut created = new_thread(&alice, at(0));
        created.metadata = metadata(json!({"keep": false, "old": 1}));
        repos.threads.insert_thread(&created).await.expect("insert");

        let patch = ThreadPatch {
            title: Some(title("Renamed")),
            ..ThreadPatch::default()
        };
        let renamed = repos
            .threads
            .update_thread(&alice, created.id, patch, None, at(1_000))
            .await
            .expect("update");
        assert_eq!(renamed.title.as_str(), "Renamed");
        assert_eq!(renamed.metadata, created.metadata);
        assert_eq!(renamed.updated_at, at(1_000));
        assert_eq!(renamed.created_at, created.created_at);
        assert_eq!(renamed.version, Version::new(at(1_000).as_micros()));
        assert_eq!(repos.thread(&alice, created.id).await, renamed);

        // Metadata is replaced as a whole object, not merged.
        let patch = ThreadPatch {
            metadata: Some(metadata(json!({"new": true}))),
            ..ThreadPatch::default()
        };
        let replaced = repos
            .threads
            .update_thread(&alice, created.id, patch, None, at(2_000))
            .await
            .expect("update");
        assert_eq!(replaced.metadata.to_value(), json!({"new": true}));
        assert_eq!(replaced.title.as_str(), "Renamed");

        // An empty patch still counts as a write.
        let touched = repos
            .threads
            .update_thread(&alice, created.id, ThreadPatch::default(), None, at(3_000))
            .await
            .expect("update");
        assert_eq!(touched.updated_at, at(3_000));
        assert!(touched.version > replaced.version);
    }
);

contract_test!(
    async fn archiving_and_pinning_keep_their_first_time_and_undoing_them_clears_it(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let both = |on: bool| ThreadPatch {
            archived: Some(on),
            pinned: Some(on),
            ..ThreadPatch::default()
        };

        let first = repos
            .threads
            .update_thread(&alice, thread.id, both(true), None, at(10))
            .await
            .expect("archive and pin");
        assert_eq!(first.archived_at, Some(at(10)));
        assert_eq!(first.pinned_at, Some(at(10)));

        let again = repos
            .threads
            .update_thread(&alice, thread.id, both(true), None, at(20))
            .await
            .expect("archive and pin again");
        assert_eq!(again.archived_at, Some(at(10)));
        assert_eq!(again.pinned_at, Some(at(10)));
        assert_eq!(again.updated_at, at(20));

        let only_unpin = ThreadPatch {
            pinned: Some(false),
            ..ThreadPatch::default()
        };
        let unpinned = repos
            .threads
            .update_thread(&alice, thread.id, only_unpin, None, at(30))
            .await
            .expect("unpin");
        assert_eq!(unpinned.pinned_at, None);
        assert_eq!(unpinned.archived_at, Some(at(10)));

        let cleared = repos
            .threads
            .update_thread(&alice, thread.id, both(false), None, at(40))
            .await
            .expect("unarchive");
        assert_eq!(cleared.archived_at, None);
        assert_eq!(cleared.pinned_at, None);
        assert_eq!(repos.thread(&alice, thread.id).await, cleared);
    }
);

contract_test!(
    async fn expected_versions_gate_a_thread_update(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let rename = |text: &str| ThreadPatch {
            title: Some(title(text)),
            ..ThreadPatch::default()
        };

        let stale = Version::new(thread.version.get() - 1);
        assert_store_err!(
            repos
                .threads
                .update_thread(&alice, thread.id, rename("x"), Some(vec![stale]), at(10))
                .await,
            VersionMismatch
        );
        assert_store_err!(
            repos
                .threads
                .update_thread(&alice, thread.id, rename("x"), Some(vec![]), at(10))
                .await,
            VersionMismatch
        );
        assert_eq!(repos.thread(&alice, thread.id).await, thread);

        let updated = repos
            .threads
            .update_thread(
                &alice,
                thread.id,
                rename("y"),
                Some(vec![stale, thread.version]),
                at(20),
            )
            .await
            .expect("current version matches");
        assert_eq!(updated.title.as_str(), "y");

        // The version that matched a moment ago is stale now.
        assert_store_err!(
            repos
                .threads
                .update_thread(
                    &alice,
                    thread.id,
                    rename("z"),
                    Some(vec![thread.version]),
                    at(30)
                )
                .await,
            VersionMismatch
        );
        assert_eq!(repos.thread(&alice, thread.id).await, updated);
    }
);

contract_test!(
    async fn versions_grow_even_when_the_clock_goes_back(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(1_000)).await;
        let mut last = thread.version;
        for now in [at(500), at(500), at(2_000), at(0)] {
            let updated = repos
                .threads
                .update_thread(&alice, thread.id, ThreadPatch::default(), None, now)
                .await
                .expect("update");
            assert!(
                updated.version > last,
                "{:?} after {last:?}",
                updated.version
            );
            assert!(updated.version.get() >= now.as_micros());
            last = updated.version;
        }
        assert_eq!(last, Version::new(at(2_000).as_micros() + 1));
    }
);

contract_test!(
    async fn deleting_a_thread_deletes_its_messages_and_frees_the_ids(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let messages = repos.append(&alice, thread.id, &["a", "b"], at(10)).await;

        repos
            .threads
            .delete_thread(&alice, thread.id)
            .await
            .expect("delete");
        assert_store_err!(repos.threads.get_thread(&alice, thread.id).await, NotFound);
        assert_store_err!(
            repos
                .messages
                .get_message(&alice, thread.id, messages[0].id)
                .await,
            NotFound
        );
        assert_store_err!(
            repos.threads.delete_thread(&alice, thread.id).await,
            NotFound
        );

        // No tombstones: the same ids can be used again, which also proves the messages
        // are gone (their ids would clash otherwise).
        repos
            .threads
            .insert_thread(&thread)
            .await
            .expect("re-create");
        let again = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                messages.clone(),
                at(20),
            )
            .await
            .expect("re-append the same ids");
        assert_eq!(again, messages);
        assert_eq!(repos.thread(&alice, thread.id).await.message_count, 2);
    }
);

contract_test!(
    async fn deleting_all_threads_removes_only_that_users_history(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        for i in 0..3 {
            let thread = repos.thread_of(&alice, at(i)).await;
            repos
                .append(&alice, thread.id, &["hi", "there"], at(100 + i))
                .await;
        }
        let bobs = repos.thread_of(&bob, at(0)).await;
        let bobs_messages = repos.append(&bob, bobs.id, &["mine"], at(50)).await;
        let bobs_before = repos.thread(&bob, bobs.id).await;

        assert_eq!(
            repos
                .threads
                .delete_all_threads(&alice)
                .await
                .expect("delete"),
            domain::Purged {
                threads: 3,
                messages: 6
            }
        );
        let query = domain::ThreadListQuery {
            filter: domain::ThreadFilter {
                archived: domain::ArchivedFilter::All,
                pinned: None,
            },
            after: None,
            limit: 100,
        };
        assert!(
            repos
                .threads
                .list_threads(&alice, query)
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(
            repos
                .threads
                .delete_all_threads(&alice)
                .await
                .expect("again"),
            domain::Purged::NONE
        );

        assert_eq!(repos.thread(&bob, bobs.id).await, bobs_before);
        let still = repos
            .messages
            .find_messages(&bob, bobs.id, vec![bobs_messages[0].id])
            .await
            .expect("find");
        assert_eq!(still, bobs_messages);
    }
);

contract_test!(
    async fn the_store_answers_a_ping(repos: Repos) {
        repos.threads.ping().await.expect("ping");
    }
);
