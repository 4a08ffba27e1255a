//! Keyset pagination of thread and message lists, and the thread list filters.

use domain::ParentChoice;
use domain::{
    ArchivedFilter, Message, MessageId, MessageKey, MessageListQuery, SortOrder, Thread,
    ThreadFilter, ThreadId, ThreadKey, ThreadListQuery, ThreadPatch, Timestamp, UserId,
};

use crate::support::{Repos, at, new_message, new_thread, user};

fn all_threads(after: Option<ThreadKey>, limit: u64) -> ThreadListQuery {
    ThreadListQuery {
        filter: ThreadFilter {
            archived: ArchivedFilter::All,
            pinned: None,
        },
        after,
        limit,
    }
}

fn key_of(thread: &Thread) -> ThreadKey {
    ThreadKey {
        updated_at: thread.updated_at,
        id: thread.id,
    }
}

/// Stores a thread whose `updated_at` is `updated` and whose id is `id` (or a new one).
async fn thread_updated_at(
    repos: &Repos,
    owner: &UserId,
    updated: Timestamp,
    id: Option<ThreadId>,
) -> Thread {
    let mut thread = new_thread(owner, at(0));
    thread.updated_at = updated;
    if let Some(id) = id {
        thread.id = id;
    }
    repos.threads.insert_thread(&thread).await.expect("insert");
    thread
}

/// Ids ordered as the thread list orders them: `(updated_at desc, id desc)`.
fn list_order(threads: &[Thread]) -> Vec<ThreadId> {
    let mut sorted: Vec<&Thread> = threads.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse((t.updated_at, t.id)));
    sorted.iter().map(|t| t.id).collect()
}

contract_test!(
    async fn thread_pages_visit_every_thread_once_while_threads_are_added(repos: Repos) {
        let alice = user("alice");
        let bob = user("bob");
        let mut threads = Vec::new();
        // Three threads share one `updated_at`, so the id decides their order.
        for updated in [at(50), at(40), at(40), at(40), at(30), at(20), at(10)] {
            threads.push(thread_updated_at(&repos, &alice, updated, None).await);
        }
        thread_updated_at(&repos, &bob, at(35), None).await;

        let mut seen = Vec::new();
        let mut after = None;
        let mut inserted_behind = None;
        for page_number in 0.. {
            let page = repos
                .threads
                .list_threads(&alice, all_threads(after, 3))
                .await
                .expect("page");
            seen.extend(page.iter().map(|t| t.id));
            let Some(last) = page.last() else { break };
            after = Some(key_of(last));
            // Between pages: a new thread in front of the cursor (never seen by this walk)
            // and one behind it (seen exactly once, in its place).
            thread_updated_at(&repos, &alice, at(1_000 + page_number), None).await;
            if page_number == 0 {
                let behind = thread_updated_at(&repos, &alice, at(15), None).await;
                threads.push(behind.clone());
                inserted_behind = Some(behind.id);
            }
            assert!(page_number < 10, "the walk does not end");
        }
        assert_eq!(seen, list_order(&threads));
        assert!(inserted_behind.is_some_and(|id| seen.contains(&id)));
    }
);

contract_test!(
    async fn threads_with_equal_updated_at_are_ordered_by_id(repos: Repos) {
        let alice = user("alice");
        let low = ThreadId::parse("00000000-0000-7000-8000-000000000001").expect("uuid");
        let mid = ThreadId::parse("7fffffff-ffff-7fff-bfff-ffffffffffff").expect("uuid");
        let high = ThreadId::parse("ffffffff-ffff-7fff-bfff-fffffffffffe").expect("uuid");
        for id in [mid, low, high] {
            thread_updated_at(&repos, &alice, at(7), Some(id)).await;
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = repos
                .threads
                .list_threads(&alice, all_threads(after, 1))
                .await
                .expect("page");
            let Some(thread) = page.first() else { break };
            seen.push(thread.id);
            after = Some(key_of(thread));
        }
        assert_eq!(seen, [high, mid, low]);
    }
);

contract_test!(
    async fn timestamps_differing_below_the_second_sort_and_page_correctly(repos: Repos) {
        // On SQLite timestamps are text: this guards the fixed-width format, since
        // variable-width fractions ("…:30Z", "…:30.1Z", "…:30.000001Z") do not sort as
        // text the way they sort in time.
        let alice = user("alice");
        let base = 1_795_954_530_000_000;
        let offsets = [
            0,
            1,
            9,
            10,
            99_999,
            100_000,
            100_001,
            123_000,
            123_456,
            999_999,
            1_000_000,
            1_000_001,
            10_000_000,
            59_999_999,
            60_000_000,
            3_600_000_000,
        ];
        let times: Vec<Timestamp> = offsets
            .iter()
            .rev()
            .map(|o| Timestamp::from_micros(base + o).expect("in range"))
            .collect();
        let mut threads = Vec::new();
        for t in &times {
            threads.push(thread_updated_at(&repos, &alice, *t, None).await);
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = repos
                .threads
                .list_threads(&alice, all_threads(after, 4))
                .await
                .expect("page");
            let Some(last) = page.last() else { break };
            after = Some(key_of(last));
            seen.extend(page.iter().map(|t| t.updated_at));
        }
        let mut newest_first = times.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, newest_first);

        // The same instants as message times, walked oldest first.
        let thread = repos.thread_of(&alice, at(0)).await;
        let messages: Vec<Message> = newest_first
            .iter()
            .rev()
            .map(|t| new_message(thread.id, "t", *t))
            .collect();
        repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Omitted,
                messages.clone(),
                at(0),
            )
            .await
            .expect("append");
        let walked =
            walk_messages(&repos, &alice, thread.id, SortOrder::Asc, 5, async |_| {}).await;
        assert_eq!(walked, messages.iter().map(|m| m.id).collect::<Vec<_>>());
        let last = repos.thread(&alice, thread.id).await.last_message_at;
        assert_eq!(last, newest_first.first().copied());
    }
);

/// Walks a message list page by page, calling `between` after each page.
async fn walk_messages(
    repos: &Repos,
    owner: &UserId,
    thread: ThreadId,
    order: SortOrder,
    limit: u64,
    mut between: impl AsyncFnMut(usize),
) -> Vec<MessageId> {
    let mut seen = Vec::new();
    let mut after = None;
    for page_number in 0.. {
        let page = repos
            .messages
            .list_messages(
                owner,
                thread,
                MessageListQuery {
                    order,
                    after,
                    limit,
                },
            )
            .await
            .expect("page");
        assert!(page.len() as u64 <= limit);
        seen.extend(page.iter().map(|m| m.id));
        let Some(last) = page.last() else { break };
        after = Some(MessageKey {
            created_at: last.created_at,
            id: last.id,
        });
        between(page_number).await;
        assert!(page_number < 100, "the walk does not end");
    }
    seen
}

/// Ids in `(created_at, id)` order.
fn ascending(messages: &[Message]) -> Vec<MessageId> {
    let mut sorted: Vec<&Message> = messages.iter().collect();
    sorted.sort_by_key(|m| (m.created_at, m.id));
    sorted.iter().map(|m| m.id).collect()
}

contract_test!(
    async fn message_pages_walk_both_ways_without_duplicates_or_gaps(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        // Ten messages, four of them sharing one `created_at` (ordered by id).
        let times = [
            at(1),
            at(2),
            at(3),
            at(3),
            at(3),
            at(3),
            at(4),
            at(5),
            at(6),
            at(7),
        ];
        let messages: Vec<Message> = times
            .iter()
            .map(|t| new_message(thread.id, "m", *t))
            .collect();
        let mut all = repos
            .messages
            .append_messages(&alice, thread.id, ParentChoice::Omitted, messages, at(10))
            .await
            .expect("append");
        let original = ascending(&all);

        // Oldest first with appends between pages: the new messages are newer than every
        // cursor, so the walk meets each of them exactly once, at the end.
        let mut appended = Vec::new();
        let seen_asc = walk_messages(&repos, &alice, thread.id, SortOrder::Asc, 3, async |page| {
            if page < 2 {
                let now = at(1_000 + i64::try_from(page).expect("small"));
                let message = new_message(thread.id, "later", now);
                appended.extend(
                    repos
                        .messages
                        .append_messages(
                            &alice,
                            thread.id,
                            ParentChoice::Omitted,
                            vec![message],
                            now,
                        )
                        .await
                        .expect("append between pages"),
                );
            }
        })
        .await;
        all.extend(appended);
        assert_eq!(seen_asc, ascending(&all));
        assert_eq!(seen_asc.len(), original.len() + 2);

        // Newest first with appends between pages: new messages land in front of the
        // cursor and are never seen; the walk is exactly the earlier list reversed.
        let mut expected_desc = ascending(&all);
        expected_desc.reverse();
        let seen_desc = walk_messages(
            &repos,
            &alice,
            thread.id,
            SortOrder::Desc,
            4,
            async |page| {
                let now = at(5_000 + i64::try_from(page).expect("small"));
                let message = new_message(thread.id, "newest", now);
                repos
                    .messages
                    .append_messages(&alice, thread.id, ParentChoice::Omitted, vec![message], now)
                    .await
                    .expect("append between pages");
            },
        )
        .await;
        assert_eq!(seen_desc, expected_desc);
    }
);

contract_test!(
    async fn thread_lists_filter_by_archived_and_pinned(repos: Repos) {
        let alice = user("alice");
        let mut ids = Vec::new();
        for (archived, pinned) in [(false, false), (true, false), (false, true), (true, true)] {
            let thread = repos.thread_of(&alice, at(0)).await;
            let patch = ThreadPatch {
                archived: Some(archived),
                pinned: Some(pinned),
                ..ThreadPatch::default()
            };
            repos
                .threads
                .update_thread(&alice, thread.id, patch, None, at(10))
                .await
                .expect("update");
            ids.push(thread.id);
        }
        let [plain, archived, pinned, both] = ids[..] else {
            unreachable!("four threads")
        };
        let cases = [
            (ArchivedFilter::Active, None, vec![plain, pinned]),
            (ArchivedFilter::Archived, None, vec![archived, both]),
            (
                ArchivedFilter::All,
                None,
                vec![plain, archived, pinned, both],
            ),
            (ArchivedFilter::Active, Some(true), vec![pinned]),
            (ArchivedFilter::Archived, Some(true), vec![both]),
            (ArchivedFilter::All, Some(true), vec![pinned, both]),
            (ArchivedFilter::Active, Some(false), vec![plain]),
            (ArchivedFilter::Archived, Some(false), vec![archived]),
            (ArchivedFilter::All, Some(false), vec![plain, archived]),
        ];
        for (archived_filter, pinned_filter, mut expected) in cases {
            let query = ThreadListQuery {
                filter: ThreadFilter {
                    archived: archived_filter,
                    pinned: pinned_filter,
                },
                after: None,
                limit: 100,
            };
            let mut got: Vec<ThreadId> = repos
                .threads
                .list_threads(&alice, query)
                .await
                .expect("list")
                .iter()
                .map(|t| t.id)
                .collect();
            got.sort();
            expected.sort();
            assert_eq!(
                got, expected,
                "{archived_filter:?} pinned={pinned_filter:?}"
            );
        }
    }
);

contract_test!(
    async fn a_list_never_returns_more_than_the_limit(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        for i in 0..4 {
            repos.thread_of(&alice, at(i + 1)).await;
        }
        repos
            .append(&alice, thread.id, &["a", "b", "c"], at(10))
            .await;
        for limit in [0, 1, 2] {
            let threads = repos
                .threads
                .list_threads(&alice, all_threads(None, limit))
                .await
                .expect("list");
            assert_eq!(threads.len() as u64, limit);
            let messages = repos
                .messages
                .list_messages(
                    &alice,
                    thread.id,
                    MessageListQuery {
                        order: SortOrder::Desc,
                        after: None,
                        limit,
                    },
                )
                .await
                .expect("list");
            assert_eq!(messages.len() as u64, limit);
        }
        let huge = repos
            .threads
            .list_threads(&alice, all_threads(None, u64::MAX))
            .await
            .expect("list");
        assert_eq!(huge.len(), 5);
    }
);
