//! PostgreSQL: the full-text index also keys on the owner, so a search for a word that is
//! rare in one user's history reads only that user's matches, however common the word is
//! among everyone else's messages.
//!
//! The GIN index `chat_messages_search_idx (search_vector)` is replaced by
//! `chat_messages_search_owner_idx (user_id, search_vector)`, a two-column GIN index made
//! possible by `btree_gin` (contrib, a trusted extension since PostgreSQL 13, so the
//! database owner may create it). A query `user_id = $u AND search_vector @@ $q` then
//! intersects the user's entries with the word's inside the index, before any table page
//! is read. With the one-column index it read every user's matches from the table and
//! dropped the others' (docs/benchmarks.md, round 4: a rare word for a user with 50,000
//! messages went from 3.5 to 11.7 ms when 1,000,000 messages of others were added).
//! Common words are served by `chat_messages_user_recent_idx` (the newest candidates)
//! either way; the planner chooses per search.
//!
//! Building the index reads the whole table; on a large one, plan it for a quiet moment.
//! SQLite is unchanged (its FTS5 index has no column for the owner; search joins it).
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Replaces the PostgreSQL full-text index by one keyed on the owner first.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX chat_messages_search_owner_idx ON chat_messages \
     USING GIN (user_id, search_vector)",
    "DROP INDEX IF EXISTS chat_messages_search_idx",
];

// The extension stays: other schemas of the database may use it, and it is harmless.
const POSTGRES_DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS chat_messages_search_idx ON chat_messages \
     USING GIN (search_vector)",
    "DROP INDEX IF EXISTS chat_messages_search_owner_idx",
];

/// The statements for this backend: PostgreSQL's, none on SQLite.
fn on_postgres<'a>(manager: &SchemaManager<'_>, statements: &'a [&'a str]) -> &'a [&'a str] {
    if manager.get_database_backend() == DbBackend::Postgres {
        statements
    } else {
        &[]
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, on_postgres(manager, POSTGRES_UP)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, on_postgres(manager, POSTGRES_DOWN)).await
    }
}
