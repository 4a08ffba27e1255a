//! Model-based test of conversation trees: random sequences of appends (with and without
//! `parent_id`, and with foreign parents that must be refused), batches, edits, splice and
//! subtree deletes, switches and forks run against the real server on both backends and
//! against a small in-memory reference tree. After every step the affected threads' path
//! listings (both orders, paged), `branch=all` listings, `through` listings and counters
//! must equal the model's.
//!
//! `TREE_MODEL_CASES` sets the number of random sequences per backend (default 12).

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, str_of};

/// Where a new message hangs.
#[derive(Debug, Clone)]
enum Parent {
    /// No `parent_id`: the active leaf.
    Omitted,
    /// `parent_id: null`: a new root.
    Root,
    /// A message of the thread, the n-th in `created_at, id` order (modulo their number).
    Pick(usize),
    /// A message of another thread (or a random id): refused with 422, nothing changes.
    Foreign,
}

/// Where a message of a batch hangs.
#[derive(Debug, Clone)]
enum BatchParent {
    /// No `parent_id`: the message before it (the active leaf for the first).
    Omitted,
    Root,
    Pick(usize),
    /// An earlier message of the batch (modulo its position); the first omits it.
    Earlier(usize),
    /// The next message of the batch: the whole batch is refused (the last omits it).
    Later,
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        thread: usize,
        parent: Parent,
    },
    Batch {
        thread: usize,
        parents: Vec<BatchParent>,
    },
    Edit {
        thread: usize,
        pick: usize,
    },
    Delete {
        thread: usize,
        pick: usize,
        subtree: bool,
    },
    Switch {
        thread: usize,
        to: Option<usize>,
    },
    Fork {
        thread: usize,
        pick: usize,
    },
}

fn parent() -> impl Strategy<Value = Parent> {
    prop_oneof![
        4 => Just(Parent::Omitted),
        1 => Just(Parent::Root),
        4 => any::<usize>().prop_map(Parent::Pick),
        1 => Just(Parent::Foreign),
    ]
}

fn batch_parent() -> impl Strategy<Value = BatchParent> {
    prop_oneof![
        6 => Just(BatchParent::Omitted),
        1 => Just(BatchParent::Root),
        2 => any::<usize>().prop_map(BatchParent::Pick),
        2 => any::<usize>().prop_map(BatchParent::Earlier),
        1 => Just(BatchParent::Later),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let thread = 0..3usize;
    prop_oneof![
        8 => (thread.clone(), parent()).prop_map(|(thread, parent)| Op::Append { thread, parent }),
        2 => (thread.clone(), prop::collection::vec(batch_parent(), 1..5))
            .prop_map(|(thread, parents)| Op::Batch { thread, parents }),
        1 => (thread.clone(), any::<usize>()).prop_map(|(thread, pick)| Op::Edit { thread, pick }),
        2 => (thread.clone(), any::<usize>(), any::<bool>())
            .prop_map(|(thread, pick, subtree)| Op::Delete { thread, pick, subtree }),
        2 => (thread.clone(), prop::option::weighted(0.8, any::<usize>()))
            .prop_map(|(thread, to)| Op::Switch { thread, to }),
        1 => (thread, any::<usize>()).prop_map(|(thread, pick)| Op::Fork { thread, pick }),
    ]
}

/// A message of the reference tree.
#[derive(Debug, Clone)]
struct Msg {
    id: String,
    parent: Option<String>,
    created_at: String,
    content: String,
}

impl Msg {
    /// The `created_at, id` order key (timestamps have a fixed width, ids are lowercase).
    fn key(&self) -> (&str, &str) {
        (&self.created_at, &self.id)
    }
}

/// A thread of the reference model.
#[derive(Debug, Clone)]
struct ModelThread {
    id: String,
    messages: Vec<Msg>,
    active: Option<String>,
}

impl ModelThread {
    fn sorted(&self) -> Vec<&Msg> {
        let mut all: Vec<&Msg> = self.messages.iter().collect();
        all.sort_by(|a, b| a.key().cmp(&b.key()));
        all
    }

    fn get(&self, id: &str) -> &Msg {
        self.messages
            .iter()
            .find(|m| m.id == id)
            .expect("a message of the model")
    }

    fn pick(&self, n: usize) -> Option<String> {
        let all = self.sorted();
        (!all.is_empty()).then(|| all[n % all.len()].id.clone())
    }

    fn children(&self, parent: Option<&str>) -> Vec<&Msg> {
        self.sorted()
            .into_iter()
            .filter(|m| m.parent.as_deref() == parent)
            .collect()
    }

    /// The root .. `id` chain.
    fn ancestry(&self, id: &str) -> Vec<String> {
        let mut chain = vec![id.to_owned()];
        while let Some(parent) = self.get(chain.last().expect("non-empty")).parent.clone() {
            chain.push(parent);
        }
        chain.reverse();
        chain
    }

    /// The root .. `id` chain, then down through the newest children to a leaf.
    fn through(&self, id: &str) -> Vec<String> {
        let mut path = self.ancestry(id);
        while let Some(newest) = self.children(path.last().map(String::as_str)).last() {
            path.push(newest.id.clone());
        }
        path
    }

    fn active_path(&self) -> Vec<String> {
        match &self.active {
            Some(leaf) => self.ancestry(leaf),
            None => match self.children(None).last() {
                Some(root) => self.through(&root.id.clone()),
                None => Vec::new(),
            },
        }
    }

    fn siblings(&self, id: &str) -> Vec<String> {
        let parent = self.get(id).parent.clone();
        self.children(parent.as_deref())
            .into_iter()
            .map(|m| m.id.clone())
            .collect()
    }

    fn descendants(&self, id: &str) -> HashSet<String> {
        let mut out = HashSet::from([id.to_owned()]);
        loop {
            let more: Vec<String> = self
                .messages
                .iter()
                .filter(|m| m.parent.as_ref().is_some_and(|p| out.contains(p)))
                .filter(|m| !out.contains(&m.id))
                .map(|m| m.id.clone())
                .collect();
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    }

    fn delete(&mut self, id: &str, subtree: bool) {
        let parent = self.get(id).parent.clone();
        let removed = if subtree {
            self.descendants(id)
        } else {
            HashSet::from([id.to_owned()])
        };
        self.messages.retain(|m| !removed.contains(&m.id));
        for m in &mut self.messages {
            if m.parent.as_deref() == Some(id) {
                m.parent = parent.clone();
            }
        }
        if self.active.as_ref().is_some_and(|a| removed.contains(a)) {
            self.active = parent;
        }
    }
}

struct Run<'a> {
    app: &'a TestApp,
    threads: Vec<ModelThread>,
    counter: usize,
}

type Step = Result<(), TestCaseError>;

async fn json_of(res: reqwest::Response, status: u16, what: &str) -> Result<Value, TestCaseError> {
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    prop_assert_eq!(got, status, "{}: {}", what, body);
    Ok(body)
}

impl Run<'_> {
    fn content(&mut self) -> String {
        self.counter += 1;
        format!("m{}", self.counter)
    }

    /// A message id of another thread than `t`, or a random one.
    fn foreign(&self, t: usize) -> String {
        self.threads
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != t)
            .find_map(|(_, other)| other.messages.first().map(|m| m.id.clone()))
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    }

    async fn apply(&mut self, op: &Op) -> Step {
        let n = self.threads.len();
        match op {
            Op::Append { thread, parent } => self.append(thread % n, parent).await,
            Op::Batch { thread, parents } => self.batch(thread % n, parents).await,
            Op::Edit { thread, pick } => self.edit(thread % n, *pick).await,
            Op::Delete {
                thread,
                pick,
                subtree,
            } => self.delete(thread % n, *pick, *subtree).await,
            Op::Switch { thread, to } => self.switch(thread % n, *to).await,
            Op::Fork { thread, pick } => self.fork(thread % n, *pick).await,
        }
    }

    async fn append(&mut self, t: usize, parent: &Parent) -> Step {
        let content = self.content();
        let tid = self.threads[t].id.clone();
        let mut body = json!({"role": "user", "content": content});
        let expected = match parent {
            Parent::Omitted => self.threads[t].active.clone(),
            Parent::Root => {
                body["parent_id"] = Value::Null;
                None
            }
            Parent::Pick(k) => {
                let id = self.threads[t].pick(*k);
                body["parent_id"] = json!(id);
                id
            }
            Parent::Foreign => {
                body["parent_id"] = json!(self.foreign(t));
                let res = self
                    .app
                    .post(&format!("/api/v1/threads/{tid}/messages"), "alice", body)
                    .await;
                let problem = json_of(res, 422, "a foreign parent").await?;
                prop_assert_eq!(&problem["code"], "unknown_message");
                prop_assert_eq!(&problem["field"], "parent_id");
                return Ok(());
            }
        };
        let res = self
            .app
            .post(&format!("/api/v1/threads/{tid}/messages"), "alice", body)
            .await;
        let m = json_of(res, 201, "append").await?;
        prop_assert_eq!(&m["parent_id"], &json!(expected));
        let id = str_of(&m, "id").to_owned();
        let thread = &mut self.threads[t];
        thread.messages.push(Msg {
            id: id.clone(),
            parent: expected,
            created_at: str_of(&m, "created_at").to_owned(),
            content,
        });
        thread.active = Some(id);
        Ok(())
    }

    async fn batch(&mut self, t: usize, parents: &[BatchParent]) -> Step {
        let tid = self.threads[t].id.clone();
        let ids: Vec<String> = parents
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let mut bodies = Vec::new();
        let mut expected: Vec<Option<String>> = Vec::new();
        let mut refused = false;
        for (i, choice) in parents.iter().enumerate() {
            let content = self.content();
            let mut body = json!({"id": ids[i], "role": "assistant", "content": content});
            let before = if i == 0 {
                self.threads[t].active.clone()
            } else {
                Some(ids[i - 1].clone())
            };
            let parent = match choice {
                BatchParent::Omitted => before,
                BatchParent::Earlier(_) if i == 0 => before,
                BatchParent::Later if i + 1 == parents.len() => before,
                BatchParent::Root => {
                    body["parent_id"] = Value::Null;
                    None
                }
                BatchParent::Pick(k) => match self.threads[t].pick(*k) {
                    Some(id) => {
                        body["parent_id"] = json!(id);
                        Some(id)
                    }
                    None => before,
                },
                BatchParent::Earlier(j) => {
                    let id = ids[j % i].clone();
                    body["parent_id"] = json!(id);
                    Some(id)
                }
                BatchParent::Later => {
                    body["parent_id"] = json!(ids[i + 1]);
                    refused = true;
                    None
                }
            };
            bodies.push((body, content));
            expected.push(parent);
        }
        let messages: Vec<Value> = bodies.iter().map(|(b, _)| b.clone()).collect();
        let res = self
            .app
            .post(
                &format!("/api/v1/threads/{tid}/messages/batch"),
                "alice",
                json!({ "messages": messages }),
            )
            .await;
        if refused {
            let problem = json_of(res, 422, "a batch naming a later message").await?;
            prop_assert_eq!(&problem["code"], "unknown_message");
            return Ok(());
        }
        let stored = json_of(res, 201, "batch").await?;
        let stored = stored["data"].as_array().cloned().unwrap_or_default();
        prop_assert_eq!(stored.len(), parents.len());
        let thread = &mut self.threads[t];
        for ((m, (_, content)), parent) in stored.iter().zip(bodies).zip(expected) {
            prop_assert_eq!(&m["parent_id"], &json!(parent));
            thread.messages.push(Msg {
                id: str_of(m, "id").to_owned(),
                parent,
                created_at: str_of(m, "created_at").to_owned(),
                content,
            });
        }
        thread.active = ids.last().cloned();
        Ok(())
    }

    async fn edit(&mut self, t: usize, pick: usize) -> Step {
        let Some(id) = self.threads[t].pick(pick) else {
            return Ok(());
        };
        let content = self.content();
        let tid = &self.threads[t].id;
        let res = self
            .app
            .patch(
                &format!("/api/v1/threads/{tid}/messages/{id}"),
                "alice",
                json!({ "content": content }),
            )
            .await;
        json_of(res, 200, "edit").await?;
        let thread = &mut self.threads[t];
        if let Some(m) = thread.messages.iter_mut().find(|m| m.id == id) {
            m.content = content;
        }
        Ok(())
    }

    async fn delete(&mut self, t: usize, pick: usize, subtree: bool) -> Step {
        let Some(id) = self.threads[t].pick(pick) else {
            return Ok(());
        };
        let tid = &self.threads[t].id;
        let res = self
            .app
            .delete(
                &format!("/api/v1/threads/{tid}/messages/{id}?subtree={subtree}"),
                "alice",
            )
            .await;
        prop_assert_eq!(res.status().as_u16(), 204, "delete");
        self.threads[t].delete(&id, subtree);
        Ok(())
    }

    async fn switch(&mut self, t: usize, to: Option<usize>) -> Step {
        let leaf = match to {
            Some(k) => match self.threads[t].pick(k) {
                Some(id) => Some(id),
                None => return Ok(()),
            },
            None => None,
        };
        let tid = &self.threads[t].id;
        let res = self
            .app
            .patch(
                &format!("/api/v1/threads/{tid}"),
                "alice",
                json!({ "active_leaf_id": leaf }),
            )
            .await;
        let thread = json_of(res, 200, "switch").await?;
        prop_assert_eq!(&thread["active_leaf_id"], &json!(leaf));
        self.threads[t].active = leaf;
        Ok(())
    }

    async fn fork(&mut self, t: usize, pick: usize) -> Step {
        let Some(at) = self.threads[t].pick(pick) else {
            return Ok(());
        };
        let source = self.threads[t].clone();
        let res = self
            .app
            .post(
                &format!("/api/v1/threads/{}/fork", source.id),
                "alice",
                json!({ "message_id": at }),
            )
            .await;
        let fork = json_of(res, 201, "fork").await?;
        let fid = str_of(&fork, "id").to_owned();
        // The copies' ids are new: learn them from the fork's path, in path order.
        let copies = walk(self.app, &fid, "limit=100").await?;
        let originals = source.ancestry(&at);
        prop_assert_eq!(
            copies.len(),
            originals.len(),
            "a copy per message of the path"
        );
        let mut messages = Vec::new();
        let mut parent: Option<String> = None;
        for (copy, original) in copies.iter().zip(&originals) {
            let original = source.get(original);
            let id = str_of(copy, "id").to_owned();
            prop_assert!(!source.messages.iter().any(|m| m.id == id), "a new id");
            prop_assert_eq!(str_of(copy, "created_at"), original.created_at.as_str());
            messages.push(Msg {
                id: id.clone(),
                parent: parent.clone(),
                created_at: original.created_at.clone(),
                content: original.content.clone(),
            });
            parent = Some(id);
        }
        let forked = ModelThread {
            id: fid,
            messages,
            active: parent,
        };
        self.threads.push(forked);
        Ok(())
    }

    /// Everything observable of thread `t` equals the model.
    async fn check(&self, t: usize) -> Step {
        let model = &self.threads[t];
        let tid = &model.id;
        let res = self
            .app
            .get(&format!("/api/v1/threads/{tid}"), "alice")
            .await;
        let thread = json_of(res, 200, "read the thread").await?;
        prop_assert_eq!(&thread["message_count"], &json!(model.messages.len()));
        let newest = model.sorted().last().map(|m| m.created_at.clone());
        prop_assert_eq!(&thread["last_message_at"], &json!(newest));
        prop_assert_eq!(&thread["active_leaf_id"], &json!(model.active));

        let path = model.active_path();
        let asc = walk(self.app, tid, "limit=3").await?;
        self.same_path(model, &asc, &path, "active path")?;
        let mut desc = walk(self.app, tid, "order=desc&limit=4").await?;
        desc.reverse();
        self.same_path(model, &desc, &path, "active path, leaf first")?;

        let all = walk(self.app, tid, "branch=all&limit=5").await?;
        let expected: Vec<&Msg> = model.sorted();
        prop_assert_eq!(all.len(), expected.len(), "branch=all");
        for (got, want) in all.iter().zip(&expected) {
            prop_assert_eq!(str_of(got, "id"), want.id.as_str());
            prop_assert_eq!(&got["parent_id"], &json!(want.parent));
            prop_assert_eq!(str_of(got, "content"), want.content.as_str());
            prop_assert!(got.get("sibling_ids").is_none());
        }

        // Through the oldest and the newest message.
        for m in [expected.first(), expected.last()].into_iter().flatten() {
            let through = model.through(&m.id);
            let got = walk(self.app, tid, &format!("through={}&limit=4", m.id)).await?;
            self.same_path(model, &got, &through, "through")?;
        }
        Ok(())
    }

    fn same_path(&self, model: &ModelThread, got: &[Value], want: &[String], what: &str) -> Step {
        let got_ids: Vec<&str> = got.iter().map(|m| str_of(m, "id")).collect();
        prop_assert_eq!(
            &got_ids,
            &want.iter().map(String::as_str).collect::<Vec<_>>(),
            "{}",
            what
        );
        for m in got {
            let id = str_of(m, "id");
            let expected = model.get(id);
            prop_assert_eq!(&m["parent_id"], &json!(expected.parent), "{} parent", what);
            prop_assert_eq!(str_of(m, "content"), expected.content.as_str());
            prop_assert_eq!(
                &m["sibling_ids"],
                &json!(model.siblings(id)),
                "{} siblings",
                what
            );
        }
        Ok(())
    }
}

/// Every page of a listing of `thread` (`query` without `cursor`).
async fn walk(app: &TestApp, thread: &str, query: &str) -> Result<Vec<Value>, TestCaseError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/threads/{thread}/messages?{query}&cursor={c}"),
            None => format!("/api/v1/threads/{thread}/messages?{query}"),
        };
        let page = json_of(app.get(&path, "alice").await, 200, &path).await?;
        out.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

async fn run_case(app: &TestApp, ops: Vec<Op>) -> Step {
    let mut run = Run {
        app,
        threads: Vec::new(),
        counter: 0,
    };
    for _ in 0..2 {
        let thread = app.create_thread("alice", "model").await;
        run.threads.push(ModelThread {
            id: str_of(&thread, "id").to_owned(),
            messages: Vec::new(),
            active: None,
        });
    }
    for op in &ops {
        let before = run.threads.len();
        run.apply(op).await?;
        let touched = match op {
            Op::Append { thread, .. }
            | Op::Batch { thread, .. }
            | Op::Edit { thread, .. }
            | Op::Delete { thread, .. }
            | Op::Switch { thread, .. }
            | Op::Fork { thread, .. } => thread % before,
        };
        run.check(touched).await?;
        for forked in before..run.threads.len() {
            run.check(forked).await?;
        }
    }
    for t in 0..run.threads.len() {
        run.check(t).await?;
    }
    Ok(())
}

fn run_model(backend: Backend) {
    let cases = std::env::var("TREE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let app = rt.block_on(spawn_app(backend));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| {
        rt.block_on(run_case(&app, ops))
    });
    let mut db = rt.block_on(app.stop());
    rt.block_on(db.drop_now());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn the_store_matches_the_reference_tree_on_postgres() {
    run_model(Backend::Postgres);
}

#[test]
fn the_store_matches_the_reference_tree_on_sqlite() {
    run_model(Backend::Sqlite);
}
