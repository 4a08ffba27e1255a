//! Concurrent writers of one thread: the counters stay exact and messages stay ordered.

use domain::DeleteScope;
use domain::ParentChoice;
use domain::{Message, MessageListQuery, SortOrder};

use crate::support::{at, new_message, user};

fn everything() -> MessageListQuery {
    MessageListQuery {
        order: SortOrder::Asc,
        after: None,
        limit: 10_000,
    }
}

contract_test!(
    async fn concurrent_appends_to_one_thread_keep_the_count_exact_and_batches_whole(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let mut tasks = Vec::new();
        for i in 0..20_i64 {
            let (repos, alice) = (repos.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                // Every writer has the same clock: the store alone must keep them apart.
                let messages: Vec<Message> = (0..1 + i % 3)
                    .map(|j| new_message(thread.id, &format!("{i}.{j}"), at(100 + j)))
                    .collect();
                repos
                    .messages
                    .append_messages(&alice, thread.id, ParentChoice::Omitted, messages, at(100))
                    .await
                    .expect("append")
            }));
        }
        let mut batches = Vec::new();
        for task in tasks {
            batches.push(task.await.expect("task"));
        }
        let total: usize = batches.iter().map(Vec::len).sum();

        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, i64::try_from(total).expect("small"));
        let listed = repos
            .messages
            .list_messages(&alice, thread.id, everything())
            .await
            .expect("list");
        assert_eq!(listed.len(), total);
        assert!(
            listed.windows(2).all(|w| w[0].created_at < w[1].created_at),
            "appends overlapped in time"
        );
        assert_eq!(after.last_message_at, listed.last().map(|m| m.created_at));
        // Each batch is stored whole, in its own order, with nothing in between.
        for batch in &batches {
            let start = listed
                .iter()
                .position(|m| m.id == batch[0].id)
                .expect("batch listed");
            assert_eq!(listed[start..start + batch.len()], batch[..]);
        }
    }
);

contract_test!(
    async fn concurrent_appends_and_deletes_keep_the_count_exact(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let texts: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let initial = repos.append(&alice, thread.id, &refs, at(10)).await;

        let mut tasks = Vec::new();
        for (i, victim) in (0..10_i64).zip(initial.iter().step_by(2)) {
            let (deleter, owner, id) = (repos.clone(), alice.clone(), victim.id);
            tasks.push(tokio::spawn(async move {
                deleter
                    .messages
                    .delete_message(&owner, thread.id, id, DeleteScope::Message, at(1_000 + i))
                    .await
                    .expect("delete");
            }));
            let (appender, owner) = (repos.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                let message = new_message(thread.id, "new", at(500 + i));
                appender
                    .messages
                    .append_messages(
                        &owner,
                        thread.id,
                        ParentChoice::Omitted,
                        vec![message],
                        at(500 + i),
                    )
                    .await
                    .expect("append");
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }

        let after = repos.thread(&alice, thread.id).await;
        let listed = repos
            .messages
            .list_messages(&alice, thread.id, everything())
            .await
            .expect("list");
        assert_eq!(listed.len(), 20);
        assert_eq!(after.message_count, 20);
        assert_eq!(
            after.last_message_at,
            listed.iter().map(|m| m.created_at).max()
        );
    }
);
