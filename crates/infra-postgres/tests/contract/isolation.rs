//! Another user's threads and messages behave exactly like missing ones, on every method,
//! and asking for them changes nothing.

use domain::DeleteScope;
use domain::ParentChoice;
use domain::{
    ArchivedFilter, MessageListQuery, MessagePatch, SortOrder, ThreadFilter, ThreadListQuery,
    ThreadPatch,
};

use crate::support::{at, new_message, text, title, user};

contract_test!(
    async fn another_users_thread_answers_like_a_missing_one(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let thread = repos.thread_of(&alice, at(0)).await;
        repos.append(&alice, thread.id, &["secret"], at(10)).await;
        let before = repos.thread(&alice, thread.id).await;

        assert_store_err!(repos.threads.get_thread(&bob, thread.id).await, NotFound);
        let rename = ThreadPatch {
            title: Some(title("mine now")),
            archived: Some(true),
            pinned: Some(true),
            ..ThreadPatch::default()
        };
        assert_store_err!(
            repos
                .threads
                .update_thread(&bob, thread.id, rename.clone(), None, at(20))
                .await,
            NotFound
        );
        // Even with the right version, the answer is NotFound, not VersionMismatch.
        assert_store_err!(
            repos
                .threads
                .update_thread(
                    &bob,
                    thread.id,
                    rename.clone(),
                    Some(vec![before.version]),
                    at(20)
                )
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .threads
                .update_thread(&bob, thread.id, rename, Some(vec![]), at(20))
                .await,
            NotFound
        );
        assert_store_err!(repos.threads.delete_thread(&bob, thread.id).await, NotFound);
        assert_eq!(
            repos
                .threads
                .delete_all_threads(&bob)
                .await
                .expect("delete all"),
            domain::Purged::NONE
        );
        let everything = ThreadListQuery {
            filter: ThreadFilter {
                archived: ArchivedFilter::All,
                pinned: None,
            },
            after: None,
            limit: 100,
        };
        assert!(
            repos
                .threads
                .list_threads(&bob, everything)
                .await
                .expect("list")
                .is_empty()
        );

        assert_eq!(repos.thread(&alice, thread.id).await, before);
        let listed = repos
            .threads
            .list_threads(&alice, everything)
            .await
            .expect("list");
        assert_eq!(listed, vec![before]);
    }
);

contract_test!(
    async fn another_users_messages_answer_like_missing_ones(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let thread = repos.thread_of(&alice, at(0)).await;
        let m = repos
            .append(&alice, thread.id, &["secret"], at(10))
            .await
            .remove(0);
        let before = repos.thread(&alice, thread.id).await;

        assert_store_err!(
            repos
                .messages
                .append_messages(
                    &bob,
                    thread.id,
                    ParentChoice::Omitted,
                    vec![new_message(thread.id, "x", at(20))],
                    at(20)
                )
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .append_messages(&bob, thread.id, ParentChoice::Omitted, vec![], at(20))
                .await,
            NotFound
        );
        assert_store_err!(
            repos.messages.get_message(&bob, thread.id, m.id).await,
            NotFound
        );
        assert!(
            repos
                .messages
                .find_messages(&bob, thread.id, vec![m.id])
                .await
                .expect("find")
                .is_empty()
        );
        let query = MessageListQuery {
            order: SortOrder::Asc,
            after: None,
            limit: 10,
        };
        assert_store_err!(
            repos.messages.list_messages(&bob, thread.id, query).await,
            NotFound
        );
        let patch = MessagePatch {
            text: text("edited by bob"),
            ..MessagePatch::default()
        };
        assert_store_err!(
            repos
                .messages
                .update_message(&bob, thread.id, m.id, patch.clone(), None, at(20))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .update_message(&bob, thread.id, m.id, patch, Some(vec![m.version]), at(20))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .delete_message(&bob, thread.id, m.id, DeleteScope::Message, at(20))
                .await,
            NotFound
        );

        assert_eq!(repos.thread(&alice, thread.id).await, before);
        let listed = repos
            .messages
            .list_messages(&alice, thread.id, query)
            .await
            .expect("list");
        assert_eq!(listed, vec![m]);
    }
);

contract_test!(
    async fn user_ids_are_compared_exactly(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        for other in ["Alice", "alice ", "alic", "alice%", "_lice"] {
            assert_store_err!(
                repos.threads.get_thread(&user(other), thread.id).await,
                NotFound
            );
        }
    }
);
