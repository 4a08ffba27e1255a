//! Message trees at the port: concurrent writers under one parent get a branch each,
//! concurrent writers without a parent make one path, a large batch is one path, and a
//! subtree delete under concurrent appends leaves a consistent tree.

use domain::{DeleteScope, MessageId, ParentChoice, PathMessage, PathQuery, PathTarget, SortOrder};

use crate::support::{at, chain, new_message, user};

/// The whole path of `target`, root first, in one page.
async fn path(
    repos: &crate::support::Repos,
    owner: &domain::UserId,
    thread: domain::ThreadId,
    target: PathTarget,
) -> Vec<PathMessage> {
    repos
        .messages
        .list_path(
            owner,
            thread,
            PathQuery {
                target,
                resume_from: None,
                order: SortOrder::Asc,
                after: None,
                limit: 100_000,
            },
        )
        .await
        .expect("path")
        .messages
}

fn ids(path: &[PathMessage]) -> Vec<MessageId> {
    path.iter().map(|m| m.message.id).collect()
}

contract_test!(
    async fn concurrent_appends_under_one_parent_each_start_a_branch_of_their_own(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let root = repos.append(&alice, thread.id, &["root"], at(10)).await[0].clone();
        let mut tasks = Vec::new();
        for i in 0..12_i64 {
            let (repos, alice) = (repos.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                // A reply and its follow-up, all writers with the same clock.
                let pair = chain(vec![
                    new_message(thread.id, &format!("reply {i}"), at(100)),
                    new_message(thread.id, &format!("follow-up {i}"), at(101)),
                ]);
                repos
                    .messages
                    .append_messages(
                        &alice,
                        thread.id,
                        ParentChoice::Message(root.id),
                        pair,
                        at(100),
                    )
                    .await
                    .expect("append under one parent")
            }));
        }
        let mut pairs = Vec::new();
        for task in tasks {
            pairs.push(task.await.expect("task"));
        }
        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, 25);
        let mut replies: Vec<(domain::Timestamp, MessageId)> =
            pairs.iter().map(|p| (p[0].created_at, p[0].id)).collect();
        replies.sort();
        let replies: Vec<MessageId> = replies.into_iter().map(|(_, id)| id).collect();
        // The last writer's follow-up is the active leaf.
        let active = path(&repos, &alice, thread.id, PathTarget::Active).await;
        assert_eq!(active.len(), 3);
        assert_eq!(Some(active[2].message.id), after.active_leaf_id);
        for pair in &pairs {
            assert_eq!(pair[0].parent_id, Some(root.id));
            assert_eq!(pair[1].parent_id, Some(pair[0].id));
            // Each reply's path goes on to its own follow-up, not another writer's.
            let through = path(&repos, &alice, thread.id, PathTarget::Through(pair[0].id)).await;
            assert_eq!(ids(&through), vec![root.id, pair[0].id, pair[1].id]);
            assert_eq!(through[1].sibling_ids, replies);
            assert_eq!(through[2].sibling_ids, vec![pair[1].id]);
        }
    }
);

contract_test!(
    async fn concurrent_appends_without_a_parent_make_one_path(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let mut tasks = Vec::new();
        for i in 0..16_i64 {
            let (repos, alice) = (repos.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                let message = new_message(thread.id, &format!("m{i}"), at(100));
                repos
                    .messages
                    .append_messages(
                        &alice,
                        thread.id,
                        ParentChoice::Omitted,
                        vec![message],
                        at(100),
                    )
                    .await
                    .expect("append")
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let active = path(&repos, &alice, thread.id, PathTarget::Active).await;
        assert_eq!(active.len(), 16, "every message on the one path");
        assert_eq!(active[0].message.parent_id, None);
        for pair in active.windows(2) {
            assert_eq!(pair[1].message.parent_id, Some(pair[0].message.id));
        }
        assert!(active.iter().all(|m| m.sibling_ids == vec![m.message.id]));
    }
);

contract_test!(
    async fn a_batch_larger_than_one_statement_is_one_path_under_its_parent(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let root = repos.append(&alice, thread.id, &["root"], at(10)).await[0].clone();
        let _sibling = repos.append(&alice, thread.id, &["other"], at(20)).await;
        let messages = chain(
            (0..2_500_i64)
                .map(|i| new_message(thread.id, &format!("m{i}"), at(100 + i)))
                .collect(),
        );
        let stored = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Message(root.id),
                messages,
                at(100),
            )
            .await
            .expect("a large batch");
        let active = path(&repos, &alice, thread.id, PathTarget::Active).await;
        assert_eq!(active.len(), 2_501);
        assert_eq!(active[0].message.id, root.id);
        assert_eq!(
            ids(&active[1..]),
            stored.iter().map(|m| m.id).collect::<Vec<_>>()
        );
        assert_eq!(active[1].sibling_ids.len(), 2, "a version beside `other`");
        assert!(
            active[2..]
                .iter()
                .all(|m| m.sibling_ids == vec![m.message.id])
        );
        let desc = repos
            .messages
            .list_path(
                &alice,
                thread.id,
                PathQuery {
                    target: PathTarget::Active,
                    resume_from: None,
                    order: SortOrder::Desc,
                    after: None,
                    limit: 3,
                },
            )
            .await
            .expect("newest first");
        assert_eq!(desc.end, Some(stored[2_499].id));
        assert_eq!(
            ids(&desc.messages),
            vec![stored[2_499].id, stored[2_498].id, stored[2_497].id]
        );
    }
);

contract_test!(
    async fn pruning_a_branch_while_others_append_leaves_a_consistent_tree(repos: Repos) {
        let alice = user("alice");
        let thread = repos.thread_of(&alice, at(0)).await;
        let root = repos.append(&alice, thread.id, &["root"], at(10)).await[0].clone();
        let doomed = repos
            .messages
            .append_messages(
                &alice,
                thread.id,
                ParentChoice::Message(root.id),
                chain(vec![
                    new_message(thread.id, "doomed", at(20)),
                    new_message(thread.id, "below", at(21)),
                ]),
                at(20),
            )
            .await
            .expect("a branch");
        let mut tasks = Vec::new();
        for i in 0..8_i64 {
            let (repos, alice) = (repos.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                let message = new_message(thread.id, &format!("kept {i}"), at(100));
                repos
                    .messages
                    .append_messages(
                        &alice,
                        thread.id,
                        ParentChoice::Message(root.id),
                        vec![message],
                        at(100),
                    )
                    .await
                    .expect("append beside the pruned branch")
            }));
        }
        repos
            .messages
            .delete_message(
                &alice,
                thread.id,
                doomed[0].id,
                DeleteScope::Subtree,
                at(100),
            )
            .await
            .expect("prune");
        for task in tasks {
            task.await.expect("task");
        }
        let after = repos.thread(&alice, thread.id).await;
        assert_eq!(after.message_count, 9);
        let all = path(&repos, &alice, thread.id, PathTarget::Through(root.id)).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].sibling_ids.len(), 8, "the eight kept replies");
        let active = path(&repos, &alice, thread.id, PathTarget::Active).await;
        assert_eq!(active[0].message.id, root.id);
        assert!(active.len() <= 2);
    }
);

/// Messages stored before the tree migration become one path per thread in `created_at,
/// id` order, the newest the active leaf; an empty thread has none; appends then go on
/// from the newest. (Undoing the migration drops the tree columns, so a branch made before
/// it comes back as a chain: the down migration keeps messages, not their branches.)
async fn the_tree_migration_makes_each_thread_one_path(url: &str) {
    let store = infra_postgres::Store::connect(url, crate::support::test_options())
        .await
        .expect("connect");
    store.migrate().await.expect("migrations");
    let repos = crate::support::Repos::of(&store);
    let alice = user("alice");
    let linear = repos.thread_of(&alice, at(0)).await;
    let branched = repos.thread_of(&alice, at(0)).await;
    let empty = repos.thread_of(&alice, at(0)).await;
    let a = repos
        .append(&alice, linear.id, &["a1", "a2", "a3"], at(10))
        .await;
    let root = repos.append(&alice, branched.id, &["root"], at(10)).await;
    let mut versions = Vec::new();
    for (i, text) in ["v1", "v2"].into_iter().enumerate() {
        let reply = new_message(branched.id, text, at(20 + i64::try_from(i).expect("small")));
        versions.extend(
            repos
                .messages
                .append_messages(
                    &alice,
                    branched.id,
                    ParentChoice::Message(root[0].id),
                    vec![reply],
                    at(20),
                )
                .await
                .expect("a version"),
        );
    }

    let raw = crate::support::raw(url).await;
    let steps = crate::support::migrations_since("m20261202_000001_message_tree");
    <migration::Migrator as migration::MigratorTrait>::down(&raw, Some(steps))
        .await
        .expect("undo the tree migration");
    <migration::Migrator as migration::MigratorTrait>::up(&raw, None)
        .await
        .expect("redo it");
    let _ = raw.close().await;

    let path_a = path(&repos, &alice, linear.id, PathTarget::Active).await;
    assert_eq!(ids(&path_a), a.iter().map(|m| m.id).collect::<Vec<_>>());
    assert_eq!(path_a[0].message.parent_id, None);
    assert_eq!(path_a[2].message.parent_id, Some(a[1].id));
    assert_eq!(
        repos.thread(&alice, linear.id).await.active_leaf_id,
        Some(a[2].id)
    );
    let path_b = path(&repos, &alice, branched.id, PathTarget::Active).await;
    assert_eq!(
        ids(&path_b),
        vec![root[0].id, versions[0].id, versions[1].id],
        "one chain in created_at order"
    );
    assert_eq!(repos.thread(&alice, empty.id).await.active_leaf_id, None);
    assert!(
        path(&repos, &alice, empty.id, PathTarget::Active)
            .await
            .is_empty()
    );

    // Appends go on from the newest, branches work as on a new thread.
    let next = repos.append(&alice, linear.id, &["a4"], at(100)).await;
    assert_eq!(next[0].parent_id, Some(a[2].id));
    let version = repos
        .messages
        .append_messages(
            &alice,
            linear.id,
            ParentChoice::Message(a[2].id),
            vec![new_message(linear.id, "a4 again", at(200))],
            at(200),
        )
        .await
        .expect("a version of a4");
    let through = path(&repos, &alice, linear.id, PathTarget::Through(next[0].id)).await;
    assert_eq!(through.len(), 4);
    assert_eq!(through[3].sibling_ids, vec![next[0].id, version[0].id]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_migration_makes_each_thread_one_path_on_postgres() {
    let database = crate::support::PostgresDatabase::empty().await;
    the_tree_migration_makes_each_thread_one_path(&database.url()).await;
    database.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_migration_makes_each_thread_one_path_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    the_tree_migration_makes_each_thread_one_path(&crate::support::sqlite_url(
        &dir.path().join("chat.db"),
    ))
    .await;
}
