//! Conversation trees: paths, descents, subtrees and the branch plan of an append.
//!
//! A thread's messages form a tree by `parent_id`. To read a path without reading the
//! tree, messages also carry a `branch_id` (internal, never shown): a *branch* is a chain
//! in which each message is the parent of the next. A new message continues its parent's
//! branch when it is the parent's first child there, else it starts a new branch; the
//! unique key `(parent_id, branch_id)` keeps that true under concurrent writers. A path
//! from a root to a message `end` is then a list of *segments*: `end`'s branch up to `end`,
//! the branch that branch forked from up to the fork point, and so on to a root; one
//! segment per branch point. A page of a path reads the segments (two index probes each)
//! and then at most a page of rows from the branch index.
//!
//! The statements here are SQL text: sea-query builds neither recursive common table
//! expressions with correlated subqueries nor lateral joins. They are written once with
//! `$n` placeholders and run on both backends through [`statement`]; only PostgreSQL's
//! one-statement page (`messages.rs`) is PostgreSQL's own.

use std::collections::{HashMap, HashSet};

use domain::{Message, MessageId, StoreError, ThreadId, Timestamp, UserId};
use sea_orm::sea_query::Value;
use sea_orm::{DbBackend, Statement};

use crate::db::{Db, Row, Txn};

/// Where a tree read runs: on the pool, or inside a write transaction.
pub(crate) enum Exec<'a> {
    Pool(&'a Db),
    Txn(&'a mut Txn),
}

impl Exec<'_> {
    pub(crate) fn backend(&self) -> DbBackend {
        match self {
            Self::Pool(db) => db.backend(),
            Self::Txn(txn) => txn.backend(),
        }
    }

    pub(crate) async fn rows(&mut self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        match self {
            Self::Pool(db) => db.statement_rows(statement).await,
            Self::Txn(txn) => txn.statement_rows(statement).await,
        }
    }

    /// A timestamp as a bind value of this backend.
    pub(crate) fn timestamp(&self, at: Timestamp) -> Value {
        crate::db::timestamp_value(self.backend(), at)
    }
}

/// A statement of SQL text written with `$1`, `$2`, ... placeholders, for `backend`:
/// SQLite spells numbered placeholders `?1`, `?2`, ...
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The tree fields of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) id: uuid::Uuid,
    pub(crate) parent: Option<uuid::Uuid>,
    pub(crate) branch: uuid::Uuid,
    pub(crate) created_at: Timestamp,
}

impl Node {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.get(0)?,
            parent: row.get(1)?,
            branch: row.get(2)?,
            created_at: row.timestamp(3)?,
        })
    }
}

/// One segment of a path: the messages of `branch` up to `upto` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) branch: uuid::Uuid,
    pub(crate) upto_at: Timestamp,
    pub(crate) upto_id: uuid::Uuid,
}

/// The nodes of those of `ids` that are messages of the user's thread.
pub(crate) async fn nodes(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    ids: &[uuid::Uuid],
) -> Result<Vec<Node>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT id, parent_id, branch_id, created_at FROM chat_messages \
             WHERE thread_id = $1 AND user_id = $2 AND id IN ({list})"
        );
        let mut values = vec![Value::from(*thread.as_uuid()), Value::from(user.as_str())];
        values.extend(chunk.iter().map(|id| Value::from(*id)));
        let rows = exec.rows(statement(exec.backend(), &sql, values)).await?;
        for row in &rows {
            found.push(Node::from_row(row)?);
        }
    }
    Ok(found)
}

/// Whether the user has this thread, and it has not expired.
pub(crate) async fn thread_exists(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
) -> Result<bool, StoreError> {
    let sql = format!(
        r#"SELECT "t"."id" FROM "chat_threads" AS "t" WHERE "t"."id" = $1 AND "t"."user_id" = $2 AND {}"#,
        crate::db::thread_alive_sql("t", "$3")
    );
    let values = vec![
        Value::from(*thread.as_uuid()),
        Value::from(user.as_str()),
        exec.timestamp(Timestamp::now()),
    ];
    any_row(exec, &sql, values).await
}

/// Whether the statement finds at least one row.
async fn any_row(exec: &mut Exec<'_>, sql: &str, values: Vec<Value>) -> Result<bool, StoreError> {
    Ok(!exec
        .rows(statement(exec.backend(), sql, values))
        .await?
        .is_empty())
}

/// Whether `node` has a child in its own branch (then a new child of it starts a branch).
pub(crate) async fn has_child_in_branch(
    exec: &mut Exec<'_>,
    user: &UserId,
    node: &Node,
) -> Result<bool, StoreError> {
    let sql =
        "SELECT id FROM chat_messages WHERE parent_id = $1 AND branch_id = $2 AND user_id = $3";
    let values = vec![
        Value::from(node.id),
        Value::from(node.branch),
        Value::from(user.as_str()),
    ];
    any_row(exec, sql, values).await
}

/// The node of one message of the user's thread.
pub(crate) async fn node(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    id: uuid::Uuid,
) -> Result<Option<Node>, StoreError> {
    Ok(nodes(exec, user, thread, &[id]).await?.into_iter().next())
}

/// The leaf reached from `start` by taking at each step the newest child (greatest
/// `(created_at, id)`); from the thread's newest root when `start` is `None`. `None` when
/// `start` is not a message of the user's thread (or, without `start`, the thread has no
/// messages). One statement: a recursive walk down the children index.
pub(crate) async fn descend(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    start: Option<uuid::Uuid>,
) -> Result<Option<uuid::Uuid>, StoreError> {
    let first = match start {
        Some(_) => {
            "SELECT id, 0 FROM chat_messages WHERE id = $3 AND thread_id = $1 AND user_id = $2"
        }
        None => {
            "SELECT * FROM (SELECT id, 0 FROM chat_messages \
             WHERE thread_id = $1 AND user_id = $2 AND parent_id IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 1) AS newest_root"
        }
    };
    let sql = format!(
        "WITH RECURSIVE down (id, depth) AS ({first} \
         UNION ALL \
         SELECT (SELECT c.id FROM chat_messages AS c WHERE c.parent_id = down.id AND c.user_id = $2 \
         ORDER BY c.created_at DESC, c.id DESC LIMIT 1), down.depth + 1 \
         FROM down WHERE down.id IS NOT NULL) \
         SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1"
    );
    let mut values = vec![Value::from(*thread.as_uuid()), Value::from(user.as_str())];
    if let Some(start) = start {
        values.push(Value::from(start));
    }
    let rows = exec.rows(statement(exec.backend(), &sql, values)).await?;
    rows.first().map(|row| row.get(0)).transpose()
}

/// The segments of the path from a root to `end`, `end`'s own first; empty when `end` is
/// not a message of the user's thread. One statement: a recursive walk up the branches.
pub(crate) async fn segments(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    end: uuid::Uuid,
) -> Result<Vec<Segment>, StoreError> {
    let sql = "WITH RECURSIVE seg (branch_id, upto_at, upto_id, depth) AS (\
         SELECT branch_id, created_at, id, 0 FROM chat_messages \
         WHERE id = $3 AND thread_id = $1 AND user_id = $2 \
         UNION ALL \
         SELECT p.branch_id, p.created_at, p.id, seg.depth + 1 FROM seg \
         JOIN chat_messages AS p ON p.user_id = $2 AND p.id = (SELECT h.parent_id FROM chat_messages AS h \
         WHERE h.branch_id = seg.branch_id AND h.user_id = $2 ORDER BY h.created_at, h.id LIMIT 1)) \
         SELECT branch_id, upto_at, upto_id FROM seg ORDER BY depth";
    let values = vec![
        Value::from(*thread.as_uuid()),
        Value::from(user.as_str()),
        Value::from(end),
    ];
    let rows = exec.rows(statement(exec.backend(), sql, values)).await?;
    rows.iter()
        .map(|row| {
            Ok(Segment {
                branch: row.get(0)?,
                upto_at: row.timestamp(1)?,
                upto_id: row.get(2)?,
            })
        })
        .collect()
}

/// Every message of the path from a root to `end`, root first; empty when `end` is not a
/// message of the user's thread.
pub(crate) async fn whole_path(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    end: uuid::Uuid,
) -> Result<Vec<Message>, StoreError> {
    let mut path = Vec::new();
    for segment in segments(exec, user, thread, end).await?.into_iter().rev() {
        let sql = format!(
            "SELECT {} FROM chat_messages WHERE branch_id = $1 AND user_id = $2 \
             AND (created_at, id) <= ($3, $4) ORDER BY created_at, id",
            crate::convert::MESSAGE_COLUMNS
                .iter()
                .map(|c| sea_orm::IdenStatic::as_str(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values = vec![
            Value::from(segment.branch),
            Value::from(user.as_str()),
            exec.timestamp(segment.upto_at),
            Value::from(segment.upto_id),
        ];
        let rows = exec.rows(statement(exec.backend(), &sql, values)).await?;
        path.extend(crate::convert::messages_from_rows(&rows)?);
    }
    Ok(path)
}

/// Whether the message `node` lies on the path whose segments are `segments`.
pub(crate) fn on_path(node: &Node, segments: &[Segment]) -> bool {
    segments
        .iter()
        .any(|s| s.branch == node.branch && (node.created_at, node.id) <= (s.upto_at, s.upto_id))
}

/// The sibling lists of messages with these parents (`None`: the thread's roots), each in
/// `(created_at, id)` order.
pub(crate) async fn siblings(
    exec: &mut Exec<'_>,
    user: &UserId,
    thread: ThreadId,
    parents: &[Option<uuid::Uuid>],
) -> Result<HashMap<Option<uuid::Uuid>, Vec<MessageId>>, StoreError> {
    let mut lists: HashMap<Option<uuid::Uuid>, Vec<MessageId>> = HashMap::new();
    let wanted: HashSet<Option<uuid::Uuid>> = parents.iter().copied().collect();
    let named: Vec<uuid::Uuid> = wanted.iter().flatten().copied().collect();
    let mut conditions = Vec::new();
    if wanted.contains(&None) {
        conditions.push("parent_id IS NULL".to_owned());
    }
    if !named.is_empty() {
        let list = (0..named.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        conditions.push(format!("parent_id IN ({list})"));
    }
    if conditions.is_empty() {
        return Ok(lists);
    }
    let sql = format!(
        "SELECT parent_id, id FROM chat_messages WHERE thread_id = $1 AND user_id = $2 AND ({}) \
         ORDER BY created_at, id",
        conditions.join(" OR ")
    );
    let mut values = vec![Value::from(*thread.as_uuid()), Value::from(user.as_str())];
    values.extend(named.iter().map(|id| Value::from(*id)));
    for row in exec.rows(statement(exec.backend(), &sql, values)).await? {
        let parent: Option<uuid::Uuid> = row.get(0)?;
        let id: uuid::Uuid = row.get(1)?;
        lists
            .entry(parent)
            .or_default()
            .push(MessageId::from_uuid(id));
    }
    Ok(lists)
}

/// The branch of each message of an append, in order: `None` for "the branch of the first
/// message", which the store resolves from the first message's parent (that parent's
/// branch when the first message is its first child there, else a new one); `Some` for a
/// branch chosen here. A message whose parent is the message before it (or another earlier
/// one of the batch that has no child in its branch yet) continues that message's branch;
/// every other message (a root, or a child of a message already in the thread) starts a
/// new branch. Every branch thus stays a chain.
pub(crate) fn plan_branches(messages: &[Message]) -> Vec<Option<uuid::Uuid>> {
    let mut branch_of: HashMap<MessageId, Option<uuid::Uuid>> = HashMap::new();
    let mut continued: HashSet<MessageId> = HashSet::new();
    let mut plan = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let branch = if i == 0 {
            None
        } else {
            match m.parent_id {
                Some(parent) if branch_of.contains_key(&parent) && continued.insert(parent) => {
                    branch_of[&parent]
                }
                _ => Some(uuid::Uuid::now_v7()),
            }
        };
        branch_of.insert(m.id, branch);
        plan.push(branch);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Limits, MessageContent, Metadata, Role, Sources, Version};

    fn message(id: MessageId, parent: Option<MessageId>) -> Message {
        let now = Timestamp::now();
        Message {
            id,
            thread_id: ThreadId::generate(),
            parent_id: parent,
            role: Role::User,
            content: MessageContent::parse("x", &Limits::default()).expect("valid"),
            parts: domain::MessageParts::from_content(
                &MessageContent::parse("x", &Limits::default()).expect("valid"),
            ),
            status: domain::MessageStatus::Complete,
            sources: Sources::default(),
            metadata: Metadata::default(),
            feedback: None,
            created_at: now,
            updated_at: now,
            version: Version::new(1),
        }
    }

    #[test]
    fn a_chain_stays_on_the_first_messages_branch() {
        let ids: Vec<MessageId> = (0..4).map(|_| MessageId::generate()).collect();
        let batch: Vec<Message> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| message(*id, i.checked_sub(1).map(|p| ids[p])))
            .collect();
        assert_eq!(plan_branches(&batch), vec![None; 4]);
    }

    #[test]
    fn a_second_child_a_root_and_a_child_of_an_older_message_start_new_branches() {
        let [a, b, c, d, e] = [(); 5].map(|()| MessageId::generate());
        let outside = MessageId::generate();
        let batch = vec![
            message(a, None),
            message(b, Some(a)),
            message(c, Some(a)),       // a's second child
            message(d, None),          // a new root
            message(e, Some(outside)), // a message already in the thread
        ];
        let plan = plan_branches(&batch);
        assert_eq!(plan[0], None);
        assert_eq!(plan[1], None);
        let fresh: HashSet<_> = plan[2..].iter().map(|b| b.expect("new branch")).collect();
        assert_eq!(fresh.len(), 3);
    }

    #[test]
    fn a_child_of_a_branch_head_continues_that_new_branch() {
        let [a, b, c, d] = [(); 4].map(|()| MessageId::generate());
        let batch = vec![
            message(a, None),
            message(b, Some(a)),
            message(c, Some(a)),
            message(d, Some(c)),
        ];
        let plan = plan_branches(&batch);
        assert!(plan[2].is_some());
        assert_eq!(plan[3], plan[2]);
    }

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        let s = statement(DbBackend::Sqlite, "SELECT $1, $2", vec![]);
        assert_eq!(s.sql, "SELECT ?1, ?2");
        let p = statement(DbBackend::Postgres, "SELECT $1", vec![]);
        assert_eq!(p.sql, "SELECT $1");
    }
}
