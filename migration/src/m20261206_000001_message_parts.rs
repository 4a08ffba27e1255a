//! AI SDK messages: `chat_messages.parts`, `status` and `feedback`, and
//! `chat_threads.active_stream_id`.
//!
//! `parts` holds a message's `UIMessage` parts as the client sent them; `NULL` means
//! "derived from `content`" (one `text` part, or none for `""`), which is what every
//! message stored before this migration has, and what a client that sends only `content`
//! gets. So the migration rewrites no row: on PostgreSQL each `ADD COLUMN` is a catalog
//! change (a `NULL` or constant default), not a table rewrite; the `status` check is
//! verified by one read of the table.
//!
//! `status` is `complete`, `streaming`, `aborted` or `error`; `feedback` a JSON object
//! (`rating`, `comment`, `tags`, `updated_at`) or `NULL`. `active_stream_id` is the id of
//! the reply stream in flight, kept for the AI SDK's resumable streams.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;

/// Adds the columns.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN parts jsonb, \
     ADD COLUMN status text NOT NULL DEFAULT 'complete' \
     CONSTRAINT chat_messages_status_check \
     CHECK (status IN ('complete', 'streaming', 'aborted', 'error')), \
     ADD COLUMN feedback jsonb",
    "ALTER TABLE chat_threads ADD COLUMN active_stream_id text",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE chat_threads DROP COLUMN IF EXISTS active_stream_id",
    "ALTER TABLE chat_messages DROP COLUMN IF EXISTS feedback, \
     DROP COLUMN IF EXISTS status, DROP COLUMN IF EXISTS parts",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE chat_messages ADD COLUMN parts json_text",
    "ALTER TABLE chat_messages ADD COLUMN status text NOT NULL DEFAULT 'complete' \
     CHECK (status IN ('complete', 'streaming', 'aborted', 'error'))",
    "ALTER TABLE chat_messages ADD COLUMN feedback json_text",
    "ALTER TABLE chat_threads ADD COLUMN active_stream_id text",
];

const SQLITE_DOWN: &[&str] = &[
    "ALTER TABLE chat_threads DROP COLUMN active_stream_id",
    "ALTER TABLE chat_messages DROP COLUMN feedback",
    "ALTER TABLE chat_messages DROP COLUMN status",
    "ALTER TABLE chat_messages DROP COLUMN parts",
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
