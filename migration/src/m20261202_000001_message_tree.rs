//! Conversation trees: `chat_messages.parent_id`, `chat_messages.branch_id` and
//! `chat_threads.active_leaf_id`.
//!
//! A message's parent is the message it follows (`NULL` for a root). The messages of a
//! thread form a tree; the thread's active leaf picks the path a user sees.
//!
//! `branch_id` makes reading a path cheap without reading the tree: the tree is cut into
//! *branches*, chains in which every message is the parent of the next (a message
//! continues its parent's branch when it is the parent's first child there, else it starts
//! a new one). A path is then a few ranges of branches, one per branch point on it, each
//! read from `chat_messages_branch_idx`. `UNIQUE (parent_id, branch_id)` keeps every branch
//! a chain even when two writers race (the loser retries). Branch ids are internal: no
//! route shows them.
//!
//! Existing messages of a thread become one chain in `(created_at, id)` order (one branch,
//! named by the thread's id), the newest the active leaf. On PostgreSQL the parent link is
//! also a foreign key, checked at commit (a message that is deleted hands its children to
//! its parent in the same transaction), so a message whose parent was deleted by a
//! concurrent request is refused rather than left pointing nowhere. The back-fill rewrites
//! `chat_messages` once: plan it for a quiet moment on a large table.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;

/// Adds the tree columns, their back-fill and their indexes.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN parent_id uuid, ADD COLUMN branch_id uuid",
    "UPDATE chat_messages AS m SET parent_id = o.previous, branch_id = m.thread_id \
     FROM (SELECT id, lag(id) OVER (PARTITION BY thread_id ORDER BY created_at, id) AS previous \
     FROM chat_messages) AS o WHERE o.id = m.id",
    "ALTER TABLE chat_messages ALTER COLUMN branch_id SET NOT NULL",
    "ALTER TABLE chat_threads ADD COLUMN active_leaf_id uuid",
    "UPDATE chat_threads AS t SET active_leaf_id = (SELECT m.id FROM chat_messages AS m \
     WHERE m.thread_id = t.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1)",
    "CREATE UNIQUE INDEX chat_messages_parent_branch_key ON chat_messages (parent_id, branch_id)",
    "CREATE INDEX chat_messages_branch_idx ON chat_messages (branch_id, created_at, id)",
    "CREATE INDEX chat_messages_roots_idx ON chat_messages (thread_id, created_at, id) \
     WHERE parent_id IS NULL",
    "ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_parent_fkey \
     FOREIGN KEY (parent_id) REFERENCES chat_messages (id) DEFERRABLE INITIALLY DEFERRED",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_parent_fkey",
    "DROP INDEX IF EXISTS chat_messages_roots_idx",
    "DROP INDEX IF EXISTS chat_messages_branch_idx",
    "DROP INDEX IF EXISTS chat_messages_parent_branch_key",
    "ALTER TABLE chat_threads DROP COLUMN IF EXISTS active_leaf_id",
    "ALTER TABLE chat_messages DROP COLUMN IF EXISTS branch_id, DROP COLUMN IF EXISTS parent_id",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN parent_id uuid_text",
    "ALTER TABLE chat_messages ADD COLUMN branch_id uuid_text NOT NULL DEFAULT ''",
    "UPDATE chat_messages SET parent_id = o.previous, branch_id = chat_messages.thread_id \
     FROM (SELECT id, lag(id) OVER (PARTITION BY thread_id ORDER BY created_at, id) AS previous \
     FROM chat_messages) AS o WHERE o.id = chat_messages.id",
    "ALTER TABLE chat_threads ADD COLUMN active_leaf_id uuid_text",
    "UPDATE chat_threads SET active_leaf_id = (SELECT m.id FROM chat_messages AS m \
     WHERE m.thread_id = chat_threads.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1)",
    "CREATE UNIQUE INDEX chat_messages_parent_branch_key ON chat_messages (parent_id, branch_id)",
    "CREATE INDEX chat_messages_branch_idx ON chat_messages (branch_id, created_at, id)",
    "CREATE INDEX chat_messages_roots_idx ON chat_messages (thread_id, created_at, id) \
     WHERE parent_id IS NULL",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS chat_messages_roots_idx",
    "DROP INDEX IF EXISTS chat_messages_branch_idx",
    "DROP INDEX IF EXISTS chat_messages_parent_branch_key",
    "ALTER TABLE chat_threads DROP COLUMN active_leaf_id",
    "ALTER TABLE chat_messages DROP COLUMN branch_id",
    "ALTER TABLE chat_messages DROP COLUMN parent_id",
];

const SQL: crate::BackendSql = crate::BackendSql {
    postgres_up: POSTGRES_UP,
    postgres_down: POSTGRES_DOWN,
    sqlite_up: SQLITE_UP,
    sqlite_down: SQLITE_DOWN,
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        SQL.run(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        SQL.run(manager, false).await
    }
}
