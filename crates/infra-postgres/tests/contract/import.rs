//! Imported threads at the port: a whole tree stored exactly as given in one transaction
//! and read back through every method, continued by appends afterwards; importing the same
//! thread again writes nothing, and an id taken anywhere writes nothing at all. Also the
//! walk over a user's threads in id order that the export takes.

use domain::{
    FeedbackInput, ImportService, Message, MessageId, MessageListQuery, ParentChoice, PathMessage,
    PathQuery, PathTarget, Rating, Role, SortOrder, Thread, ThreadId, ThreadPatch, Timestamp,
    UserId, Version,
};
use serde_json::json;

use crate::support::{Repos, at, metadata, new_message, new_thread, sources, title, user};

/// The message names of [`tree`], parent first, each with its parent and its time (µs
/// after [`at`]`(0)`). Two roots (`r1`, `r2`); `a` has three children (`b1`, `b2`, `b3`,
/// `b3` the newest); `b2` goes on in a chain of five (`c1` to `c5`). The order interleaves
/// the branches, as a ChatGPT `mapping` does.
const TREE: [(&str, Option<&str>, i64); 12] = [
    ("r1", None, 0),
    ("a", Some("r1"), 10),
    ("b1", Some("a"), 20),
    ("b2", Some("a"), 30),
    ("r2", None, 5),
    ("c1", Some("b2"), 40),
    ("b3", Some("a"), 35),
    ("c2", Some("c1"), 50),
    ("d", Some("r2"), 15),
    ("c3", Some("c2"), 60),
    ("c4", Some("c3"), 70),
    ("c5", Some("c4"), 80),
];

/// Every leaf of [`TREE`] with its path from the root.
const PATHS: [&[&str]; 4] = [
    &["r1", "a", "b1"],
    &["r1", "a", "b2", "c1", "c2", "c3", "c4", "c5"],
    &["r1", "a", "b3"],
    &["r2", "d"],
];

/// An imported conversation of one user: the thread and messages as the import service
/// builds them (derived ids, the source's times), ready for `import_thread`.
#[derive(Clone)]
struct Import {
    owner: UserId,
    source: &'static str,
    thread: Thread,
    messages: Vec<Message>,
}

impl Import {
    /// The id of message `name`.
    fn id(&self, name: &str) -> MessageId {
        ImportService::message_id(&self.owner, "chatgpt", self.source, name)
    }

    fn ids(&self, names: &[&str]) -> Vec<MessageId> {
        names.iter().map(|name| self.id(name)).collect()
    }

    /// The stored message `name`.
    fn message(&self, name: &str) -> &Message {
        let id = self.id(name);
        self.messages
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no message {name}"))
    }

    /// Its messages in `(created_at, id)` order, as `list_messages` returns them.
    fn in_time_order(&self) -> Vec<Message> {
        let mut sorted = self.messages.clone();
        sorted.sort_by_key(|m| (m.created_at, m.id));
        sorted
    }

    async fn store(&self, repos: &Repos) -> Result<bool, domain::StoreError> {
        repos
            .threads
            .import_thread(&self.thread, &self.messages)
            .await
    }
}

/// Conversation `source` of `owner`: a thread holding `messages` (name, parent, µs after
/// `at(0)`), each saying `<source> <name> says hello`, with active leaf `active`.
fn import(
    owner: &UserId,
    source: &'static str,
    messages: &[(&str, Option<&str>, i64)],
    active: &str,
) -> Import {
    let id = ImportService::thread_id(owner, "chatgpt", source);
    let message_id = |name: &str| ImportService::message_id(owner, "chatgpt", source, name);
    let version = Version::new(at(1_000).as_micros());
    let stored: Vec<Message> = messages
        .iter()
        .zip(0..)
        .map(|(&(name, parent, micros), i)| {
            let mut m = new_message(id, &format!("{source} {name} says hello"), at(micros));
            m.id = message_id(name);
            m.parent_id = parent.map(message_id);
            m.role = if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            m.updated_at = at(micros + 1);
            m.version = version;
            m
        })
        .collect();
    let thread = Thread {
        id,
        title: title("Imported trip"),
        metadata: metadata(json!({"import": {"format": "chatgpt", "source_id": source}})),
        archived_at: Some(at(1_000)),
        pinned_at: Some(at(1_000)),
        message_count: i64::try_from(stored.len()).expect("few"),
        last_message_at: stored.iter().map(|m| m.created_at).max(),
        updated_at: at(1_000),
        version,
        active_leaf_id: Some(message_id(active)),
        ..new_thread(owner, at(0))
    };
    Import {
        owner: owner.clone(),
        source,
        thread,
        messages: stored,
    }
}

/// [`TREE`] as conversation `conv1` of `owner`, with a few details a real import has:
/// feedback, sources, metadata, a message still marked as streaming, and one word to find.
fn tree(owner: &UserId) -> Import {
    let mut imported = import(owner, "conv1", &TREE, "b1");
    let feedback = [
        (
            "b2",
            FeedbackInput::parse(Rating::Up, Some("spot on".into()), vec!["accurate".into()])
                .expect("valid")
                .at(at(500)),
        ),
        (
            "d",
            FeedbackInput::parse(Rating::Down, None, Vec::new())
                .expect("valid")
                .at(at(600)),
        ),
    ];
    for (name, given) in feedback {
        let id = imported.id(name);
        if let Some(m) = imported.messages.iter_mut().find(|m| m.id == id) {
            m.feedback = Some(given);
        }
    }
    let (c3, c4, d) = (imported.id("c3"), imported.id("c4"), imported.id("d"));
    for m in &mut imported.messages {
        if m.id == c3 || m.id == d {
            let said = crate::support::content(if m.id == c3 {
                "a zebra crossing, seen from the bus"
            } else {
                "a quokka smiling in the park"
            });
            m.parts = domain::MessageParts::from_content(&said);
            m.content = said;
        }
        if m.id == c3 {
            m.sources = sources(json!([{"title": "Zoo", "url": "https://e.x/zoo"}]));
            m.metadata = metadata(json!({"model": "gpt-4o", "import": {"node": "c3"}}));
        }
        if m.id == c4 {
            m.status = domain::MessageStatus::Aborted;
        }
    }
    imported
}

/// The whole path of `target`, root first, in one page; and its end.
async fn path(
    repos: &Repos,
    owner: &UserId,
    thread: ThreadId,
    target: PathTarget,
) -> (Vec<PathMessage>, Option<MessageId>) {
    let page = repos
        .messages
        .list_path(
            owner,
            thread,
            PathQuery {
                target,
                resume_from: None,
                order: SortOrder::Asc,
                after: None,
                limit: 10_000,
            },
        )
        .await
        .expect("path");
    (page.messages, page.end)
}

async fn path_ids(
    repos: &Repos,
    owner: &UserId,
    thread: ThreadId,
    target: PathTarget,
) -> Vec<MessageId> {
    let (messages, _) = path(repos, owner, thread, target).await;
    messages.iter().map(|m| m.message.id).collect()
}

async fn all_messages(repos: &Repos, owner: &UserId, thread: ThreadId) -> Vec<Message> {
    let query = MessageListQuery {
        order: SortOrder::Asc,
        after: None,
        limit: 10_000,
    };
    repos
        .messages
        .list_messages(owner, thread, query)
        .await
        .expect("list messages")
}

async fn thread_ids(repos: &Repos, owner: &UserId) -> Vec<ThreadId> {
    repos
        .threads
        .list_threads_by_id(owner, None, 1_000)
        .await
        .expect("list by id")
        .iter()
        .map(|t| t.id)
        .collect()
}

contract_test!(
    async fn an_imported_tree_reads_back_exactly_through_every_method(repos: Repos) {
        let alice = user("alice");
        let tree = tree(&alice);
        let id = tree.thread.id;
        assert!(tree.store(&repos).await.expect("import"), "newly stored");

        assert_eq!(repos.thread(&alice, id).await, tree.thread);
        assert_eq!(all_messages(&repos, &alice, id).await, tree.in_time_order());

        for names in PATHS {
            let leaf = tree.id(names[names.len() - 1]);
            let (messages, end) = path(&repos, &alice, id, PathTarget::Through(leaf)).await;
            let read: Vec<MessageId> = messages.iter().map(|m| m.message.id).collect();
            assert_eq!(read, tree.ids(names), "the path to {names:?}");
            assert_eq!(end, Some(leaf));
            for m in &messages {
                assert_eq!(&m.message, tree.message(name_of(&tree, m.message.id)));
            }
        }
        // Through a branch point: on down through its newest child.
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Through(tree.id("a"))).await,
            tree.ids(&["r1", "a", "b3"])
        );
        // The active path ends at the stored active leaf, not at the newest message.
        let (active, end) = path(&repos, &alice, id, PathTarget::Active).await;
        let read: Vec<MessageId> = active.iter().map(|m| m.message.id).collect();
        assert_eq!(read, tree.ids(&["r1", "a", "b1"]));
        assert_eq!(end, Some(tree.id("b1")));
        assert_eq!(active[0].sibling_ids, tree.ids(&["r1", "r2"]));
        assert_eq!(active[2].sibling_ids, tree.ids(&["b1", "b2", "b3"]));

        // Feedback came in with its messages.
        for name in ["b2", "d", "c3"] {
            let read = repos
                .messages
                .get_message(&alice, id, tree.id(name))
                .await
                .expect("get message");
            assert_eq!(read.feedback, tree.message(name).feedback, "{name}");
        }
        assert_eq!(
            tree.message("b2").feedback.as_ref().map(|f| f.rating),
            Some(Rating::Up)
        );

        let hits = repos.search(&alice, "zebra").await;
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].message, *tree.message("c3"));
        assert_eq!(hits[0].thread_title.as_str(), "Imported trip");
        assert_eq!(
            repos.search_ids(&alice, "quokka park").await,
            [tree.id("d")]
        );
        assert_eq!(repos.search(&alice, "hello").await.len(), 10);
        assert!(repos.search(&user("bob"), "zebra").await.is_empty());
        assert_eq!(thread_ids(&repos, &alice).await, [id]);
    }
);

/// The name in [`TREE`] of message `id` of `tree`.
fn name_of(tree: &Import, id: MessageId) -> &'static str {
    TREE.iter()
        .map(|(name, _, _)| *name)
        .find(|name| tree.id(name) == id)
        .unwrap_or_else(|| panic!("{id} is not in the tree"))
}

contract_test!(
    async fn appending_to_an_imported_thread_continues_the_chosen_path(repos: Repos) {
        let alice = user("alice");
        let tree = tree(&alice);
        let id = tree.thread.id;
        assert!(tree.store(&repos).await.expect("import"));
        let append = |parent: ParentChoice, text: &str, micros: i64| {
            let (repos, alice) = (repos.clone(), alice.clone());
            let message = new_message(id, text, at(micros));
            async move {
                repos
                    .messages
                    .append_messages(&alice, id, parent, vec![message], at(micros))
                    .await
                    .expect("append")
                    .remove(0)
            }
        };

        // Under a leaf of the first root's first branch (the active one), then on from it.
        let x = append(ParentChoice::Message(tree.id("b1")), "x", 2_000).await;
        assert_eq!(x.parent_id, Some(tree.id("b1")));
        let y = append(ParentChoice::Omitted, "y", 2_010).await;
        assert_eq!(y.parent_id, Some(x.id));
        let mut expected = tree.ids(&["r1", "a", "b1"]);
        expected.extend([x.id, y.id]);
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Active).await,
            expected
        );
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Through(tree.id("b1"))).await,
            expected
        );

        // Under the end of the chain of five, and under the second root's leaf.
        let z = append(ParentChoice::Message(tree.id("c5")), "z", 2_020).await;
        let mut chain = tree.ids(PATHS[1]);
        chain.push(z.id);
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Through(z.id)).await,
            chain
        );
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Through(tree.id("b2"))).await,
            chain
        );
        let w = append(ParentChoice::Message(tree.id("d")), "w", 2_030).await;
        let (second, end) = path(&repos, &alice, id, PathTarget::Active).await;
        let read: Vec<MessageId> = second.iter().map(|m| m.message.id).collect();
        assert_eq!(read, [tree.id("r2"), tree.id("d"), w.id]);
        assert_eq!(end, Some(w.id));

        // The other paths are as imported.
        assert_eq!(
            path_ids(&repos, &alice, id, PathTarget::Through(tree.id("b3"))).await,
            tree.ids(PATHS[2])
        );
        let thread = repos.thread(&alice, id).await;
        assert_eq!(thread.message_count, 16);
        assert_eq!(thread.active_leaf_id, Some(w.id));
        assert_eq!(thread.last_message_at, Some(w.created_at));
        assert_eq!(all_messages(&repos, &alice, id).await.len(), 16);
    }
);

contract_test!(
    async fn importing_the_same_thread_again_writes_nothing(repos: Repos) {
        let alice = user("alice");
        let tree = tree(&alice);
        let id = tree.thread.id;
        assert!(tree.store(&repos).await.expect("import"));

        assert!(!tree.store(&repos).await.expect("again"), "already there");
        // A later export of the same conversation, changed meanwhile: still nothing.
        let mut changed = tree.clone();
        changed.thread.title = title("Renamed since");
        changed.thread.archived_at = None;
        let extra = new_message(id, "a later message", at(3_000));
        changed.messages.push(extra.clone());
        changed.thread.message_count += 1;
        changed.thread.active_leaf_id = Some(extra.id);
        assert!(
            !changed.store(&repos).await.expect("again"),
            "already there"
        );

        assert_eq!(repos.thread(&alice, id).await, tree.thread);
        assert_eq!(all_messages(&repos, &alice, id).await, tree.in_time_order());
        assert!(
            repos
                .messages
                .find_messages(&alice, id, vec![extra.id])
                .await
                .expect("find")
                .is_empty()
        );
    }
);

contract_test!(
    async fn a_thread_id_of_another_user_is_taken_and_nothing_is_written(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let alices = tree(&alice);
        assert!(alices.store(&repos).await.expect("import"));

        // Bob's import with Alice's thread id (which derived ids never give).
        let mut bobs = import(&bob, "conv1", &TREE, "c5");
        bobs.thread.id = alices.thread.id;
        for m in &mut bobs.messages {
            m.thread_id = alices.thread.id;
        }
        assert_store_err!(bobs.store(&repos).await, AlreadyExists);

        assert!(thread_ids(&repos, &bob).await.is_empty());
        assert_store_err!(
            repos.threads.get_thread(&bob, alices.thread.id).await,
            NotFound
        );
        assert!(repos.search(&bob, "hello").await.is_empty());
        assert_eq!(repos.thread(&alice, alices.thread.id).await, alices.thread);
        assert_eq!(
            all_messages(&repos, &alice, alices.thread.id).await,
            alices.in_time_order()
        );
        assert_eq!(repos.search(&alice, "hello").await.len(), 10);
    }
);

contract_test!(
    async fn a_message_id_taken_anywhere_refuses_the_whole_thread(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let first = tree(&alice);
        assert!(first.store(&repos).await.expect("import"));
        let bobs_thread = repos.thread_of(&bob, at(0)).await;
        let bobs = repos
            .append(&bob, bobs_thread.id, &["bob's own message"], at(10))
            .await
            .remove(0);
        let bobs_thread = repos.thread(&bob, bobs_thread.id).await;

        // A long conversation (more than one insert statement's worth of messages) whose
        // last message reuses an id that exists already: in Alice's other thread, then in
        // Bob's.
        let chain: Vec<(String, Option<String>, i64)> = (0..1_005)
            .map(|i| {
                let parent = (i > 0).then(|| format!("m{}", i - 1));
                (format!("m{i}"), parent, i)
            })
            .collect();
        let chain: Vec<(&str, Option<&str>, i64)> = chain
            .iter()
            .map(|(name, parent, micros)| (name.as_str(), parent.as_deref(), *micros))
            .collect();
        let second = import(&alice, "conv2", &chain, "m1004");
        for taken in [first.message("c3").clone(), bobs.clone()] {
            let mut clashing = second.clone();
            if let Some(last) = clashing.messages.last_mut() {
                last.id = taken.id;
            }
            clashing.thread.active_leaf_id = Some(taken.id);
            assert_store_err!(clashing.store(&repos).await, AlreadyExists);

            assert_store_err!(
                repos.threads.get_thread(&alice, second.thread.id).await,
                NotFound
            );
            assert_eq!(thread_ids(&repos, &alice).await, [first.thread.id]);
            assert!(
                repos.search(&alice, "conv2").await.is_empty(),
                "no message of the refused thread"
            );
        }
        assert_eq!(repos.thread(&alice, first.thread.id).await, first.thread);
        assert_eq!(
            all_messages(&repos, &alice, first.thread.id).await,
            first.in_time_order()
        );
        assert_eq!(repos.thread(&bob, bobs_thread.id).await, bobs_thread);
        assert_eq!(
            all_messages(&repos, &bob, bobs_thread.id).await,
            vec![bobs.clone()]
        );

        // Nothing was left behind: the conversation without the clash imports whole.
        assert!(second.store(&repos).await.expect("import"));
        assert_eq!(repos.thread(&alice, second.thread.id).await, second.thread);
        assert_eq!(
            all_messages(&repos, &alice, second.thread.id).await.len(),
            1_005
        );
    }
);

contract_test!(
    async fn listing_by_id_walks_the_users_live_threads_in_id_order(repos: Repos) {
        let (alice, bob) = (user("alice"), user("bob"));
        let now = Timestamp::now();
        let fixed = |text: &str| ThreadId::parse(text).expect("uuid");
        let mut alices = Vec::new();
        // Ids in neither creation nor time order: some derived-looking, some fixed.
        for (i, id) in [
            Some(fixed("ffffffff-ffff-4fff-bfff-ffffffffffff")),
            None,
            Some(fixed("00000000-0000-4000-8000-000000000001")),
            Some(ImportService::thread_id(&alice, "claude", "x")),
            None,
            Some(fixed("80000000-0000-4000-8000-000000000000")),
        ]
        .into_iter()
        .enumerate()
        {
            let mut thread = new_thread(&alice, at(i64::try_from(i).expect("small") * 10));
            if let Some(id) = id {
                thread.id = id;
            }
            if i == 1 {
                thread.archived_at = Some(thread.created_at);
            }
            repos.threads.insert_thread(&thread).await.expect("insert");
            alices.push(thread.id);
        }
        // A temporary chat that expires, and Bob's threads with ids in between.
        let mut temporary = new_thread(&alice, at(100));
        temporary.id = fixed("40000000-0000-4000-8000-000000000000");
        temporary.expires_at = Some(now.plus_micros(3_600_000_000));
        repos
            .threads
            .insert_thread(&temporary)
            .await
            .expect("insert");
        let expire = ThreadPatch {
            expires_at: Some(Some(now.plus_micros(-1))),
            ..ThreadPatch::default()
        };
        repos
            .threads
            .update_thread(&alice, temporary.id, expire, None, now)
            .await
            .expect("expire");
        let mut bobs = Vec::new();
        for id in [
            "00000000-0000-4000-8000-000000000000",
            "60000000-0000-4000-8000-000000000000",
            "ffffffff-ffff-4fff-bfff-fffffffffffe",
        ] {
            let mut thread = new_thread(&bob, at(0));
            thread.id = fixed(id);
            repos.threads.insert_thread(&thread).await.expect("insert");
            bobs.push(thread.id);
        }
        alices.sort();
        bobs.sort();

        let all = repos
            .threads
            .list_threads_by_id(&alice, None, 100)
            .await
            .expect("list");
        assert_eq!(all.iter().map(|t| t.id).collect::<Vec<_>>(), alices);
        assert!(all.iter().all(|t| t.user_id == alice));
        assert!(all.iter().any(|t| t.archived_at.is_some()), "archived too");
        assert_eq!(thread_ids(&repos, &bob).await, bobs);

        // Pages of two, each after the last id of the one before.
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = repos
                .threads
                .list_threads_by_id(&alice, after, 2)
                .await
                .expect("page");
            assert!(page.len() <= 2, "{page:?}");
            walked.extend(page.iter().map(|t| t.id));
            match page.last() {
                Some(last) if page.len() == 2 => after = Some(last.id),
                _ => break,
            }
        }
        assert_eq!(walked, alices);

        // Any id is a position: the expired thread's, another user's, the last one's.
        for position in [temporary.id, bobs[1], alices[0], alices[5]] {
            let expected: Vec<ThreadId> =
                alices.iter().copied().filter(|id| *id > position).collect();
            let page = repos
                .threads
                .list_threads_by_id(&alice, Some(position), 100)
                .await
                .expect("page");
            assert_eq!(
                page.iter().map(|t| t.id).collect::<Vec<_>>(),
                expected,
                "after {position}"
            );
        }
        let one = repos
            .threads
            .list_threads_by_id(&alice, None, 1)
            .await
            .expect("one");
        assert_eq!(one.iter().map(|t| t.id).collect::<Vec<_>>(), &alices[..1]);
    }
);
