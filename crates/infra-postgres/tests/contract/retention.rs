//! Temporary chats and retention: an expired thread is missing to every method at once,
//! and purges delete what their rule selects, in bounded batches.

use domain::{
    DeleteScope, MessageListQuery, MessagePatch, ParentChoice, PathQuery, PathTarget, PurgeRule,
    Purged, SortOrder, ThreadFilter, ThreadListQuery, ThreadPatch, Timestamp,
};

use crate::support::{at, new_message, new_thread, text, user};

fn everything() -> ThreadListQuery {
    ThreadListQuery {
        filter: ThreadFilter {
            archived: domain::ArchivedFilter::All,
            pinned: None,
        },
        after: None,
        limit: 100,
    }
}

contract_test!(
    async fn an_expired_thread_is_missing_to_every_method_until_it_is_purged(repos: Repos) {
        let alice = user("alice");
        let now = Timestamp::now();
        let in_an_hour = now.plus_micros(3_600_000_000);
        let mut temporary = new_thread(&alice, now);
        temporary.expires_at = Some(in_an_hour);
        repos
            .threads
            .insert_thread(&temporary)
            .await
            .expect("insert");
        let mut kept = new_thread(&alice, now);
        kept.expires_at = Some(in_an_hour);
        repos.threads.insert_thread(&kept).await.expect("insert");
        let messages = repos
            .append(&alice, temporary.id, &["secret plans", "more plans"], now)
            .await;
        repos.append(&alice, kept.id, &["public plans"], now).await;
        assert_eq!(
            repos.thread(&alice, temporary.id).await.expires_at,
            Some(in_an_hour)
        );

        // It expires: a moment that has passed.
        let expire = ThreadPatch {
            expires_at: Some(Some(at(0))),
            ..ThreadPatch::default()
        };
        let expired = repos
            .threads
            .update_thread(&alice, temporary.id, expire, None, now)
            .await
            .expect("the update that expires it still sees it");
        assert_eq!(expired.expires_at, Some(at(0)));

        let (id, first) = (temporary.id, messages[0].id);
        assert_store_err!(repos.threads.get_thread(&alice, id).await, NotFound);
        let listed = repos
            .threads
            .list_threads(&alice, everything())
            .await
            .expect("list");
        assert_eq!(listed.iter().map(|t| t.id).collect::<Vec<_>>(), [kept.id]);
        assert_store_err!(
            repos
                .threads
                .update_thread(&alice, id, ThreadPatch::default(), None, now)
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .threads
                .fork_thread(&alice, id, first, &new_thread(&alice, now))
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .append_messages(
                    &alice,
                    id,
                    ParentChoice::Omitted,
                    vec![new_message(id, "late", now)],
                    now
                )
                .await,
            NotFound
        );
        assert_store_err!(
            repos.messages.get_message(&alice, id, first).await,
            NotFound
        );
        assert!(
            repos
                .messages
                .find_messages(&alice, id, vec![first])
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
            repos.messages.list_messages(&alice, id, query).await,
            NotFound
        );
        for target in [PathTarget::Active, PathTarget::Through(first)] {
            let path = PathQuery {
                target,
                resume_from: None,
                order: SortOrder::Asc,
                after: None,
                limit: 10,
            };
            assert_store_err!(repos.messages.list_path(&alice, id, path).await, NotFound);
        }
        let edit = MessagePatch {
            text: text("changed"),
            ..MessagePatch::default()
        };
        assert_store_err!(
            repos
                .messages
                .update_message(&alice, id, first, edit, None, now)
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .set_feedback(&alice, id, first, None, now)
                .await,
            NotFound
        );
        assert_store_err!(
            repos
                .messages
                .delete_message(&alice, id, first, DeleteScope::Message, now)
                .await,
            NotFound
        );
        assert_store_err!(repos.threads.delete_thread(&alice, id).await, NotFound);
        let hits = repos.search(&alice, "plans").await;
        assert_eq!(hits.len(), 1, "only the live thread's message: {hits:?}");
        assert_eq!(hits[0].message.thread_id, kept.id);

        // The sweeper's rule finds it (and only it), then deletes it with its messages.
        let rule = PurgeRule::ExpiredAt(Timestamp::now());
        let gone = Purged {
            threads: 1,
            messages: 2,
        };
        assert_eq!(
            repos
                .threads
                .count_purgeable(rule.clone())
                .await
                .expect("count"),
            gone
        );
        assert_eq!(
            repos
                .threads
                .purge_threads(rule.clone(), 100)
                .await
                .expect("purge"),
            gone
        );
        assert_eq!(
            repos.threads.purge_threads(rule, 100).await.expect("again"),
            Purged::NONE
        );
        assert_eq!(repos.thread(&alice, kept.id).await.message_count, 1);
    }
);

contract_test!(
    async fn purges_delete_what_their_rule_selects_in_batches_of_at_most_the_limit(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let mut old = Vec::new();
        for i in 0..5 {
            let thread = repos.thread_of(&alice, at(i)).await;
            repos
                .append(&alice, thread.id, &["one", "two"], at(10 + i))
                .await;
            old.push(thread.id);
        }
        let recent = repos.thread_of(&alice, at(1_000)).await;
        let bobs = repos.thread_of(&bob, at(0)).await;
        repos.append(&bob, bobs.id, &["bob's"], at(20)).await;

        // Alice's first five and Bob's were last changed before at(100).
        let rule = PurgeRule::UpdatedBefore(at(100));
        assert_eq!(
            repos
                .threads
                .count_purgeable(rule.clone())
                .await
                .expect("count"),
            Purged {
                threads: 6,
                messages: 11
            }
        );
        let mut deleted = Vec::new();
        loop {
            let batch = repos
                .threads
                .purge_threads(rule.clone(), 4)
                .await
                .expect("purge");
            assert!(batch.threads <= 4, "{batch:?}");
            deleted.push(batch);
            if batch.threads < 4 {
                break;
            }
        }
        assert_eq!(deleted.iter().map(|b| b.threads).sum::<u64>(), 6);
        assert_eq!(deleted.iter().map(|b| b.messages).sum::<u64>(), 11);
        let left = repos
            .threads
            .list_threads(&alice, everything())
            .await
            .expect("list");
        assert_eq!(left.iter().map(|t| t.id).collect::<Vec<_>>(), [recent.id]);
        assert!(
            repos
                .threads
                .list_threads(&bob, everything())
                .await
                .expect("list")
                .is_empty()
        );

        // One user's history, and nobody else's.
        let carol = user("carol");
        let carols = repos.thread_of(&carol, at(0)).await;
        assert_eq!(
            repos
                .threads
                .purge_threads(PurgeRule::User(alice.clone()), 10)
                .await
                .expect("purge alice"),
            Purged {
                threads: 1,
                messages: 0
            }
        );
        assert_eq!(repos.thread(&carol, carols.id).await, carols);
    }
);
