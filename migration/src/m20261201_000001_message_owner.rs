//! `chat_messages.user_id`: the owner of every message, copied from its thread.
//!
//! Every per-user message query filters on it directly (no join or subquery through
//! `chat_threads`), search's candidate scan reads a user's newest messages from its index,
//! and it is the distribution column on which a sharded PostgreSQL (Citus) co-locates both
//! tables: a foreign key between distributed tables must include the distribution column,
//! which is why the thread reference becomes `(thread_id, user_id) -> chat_threads (id,
//! user_id)`. That key also makes the database itself refuse a message whose owner is not
//! its thread's.
//!
//! PostgreSQL: the column is added, back-filled from the threads in one `UPDATE` (this
//! rewrites `chat_messages` once, under a lock: plan it for a quiet moment on a large
//! table), made `NOT NULL`, and the foreign key replaced. SQLite cannot add a foreign key
//! to an existing table without rebuilding it; there the column is added `NOT NULL` with
//! an empty default and back-filled, and the adapter's write paths keep it right.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;

/// Adds `chat_messages.user_id`, its foreign key and its index.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN user_id text",
    "UPDATE chat_messages AS m SET user_id = t.user_id FROM chat_threads AS t \
     WHERE t.id = m.thread_id",
    "ALTER TABLE chat_messages ALTER COLUMN user_id SET NOT NULL",
    "ALTER TABLE chat_threads ADD CONSTRAINT chat_threads_id_user_id_key UNIQUE (id, user_id)",
    "ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_thread_owner_fkey \
     FOREIGN KEY (thread_id, user_id) REFERENCES chat_threads (id, user_id) ON DELETE CASCADE",
    "ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_thread_id_fkey",
    "CREATE INDEX chat_messages_user_recent_idx ON chat_messages \
     (user_id, created_at DESC, id DESC)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS chat_messages_user_recent_idx",
    "ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_thread_id_fkey \
     FOREIGN KEY (thread_id) REFERENCES chat_threads (id) ON DELETE CASCADE",
    "ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_thread_owner_fkey",
    "ALTER TABLE chat_threads DROP CONSTRAINT IF EXISTS chat_threads_id_user_id_key",
    "ALTER TABLE chat_messages DROP COLUMN IF EXISTS user_id",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
    "UPDATE chat_messages SET user_id = \
     (SELECT t.user_id FROM chat_threads AS t WHERE t.id = chat_messages.thread_id)",
    "CREATE INDEX chat_messages_user_recent_idx ON chat_messages \
     (user_id, created_at DESC, id DESC)",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS chat_messages_user_recent_idx",
    "ALTER TABLE chat_messages DROP COLUMN user_id",
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
