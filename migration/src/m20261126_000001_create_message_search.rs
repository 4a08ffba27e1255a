//! Full-text search over message content, on each backend with its own engine.
//!
//! Both are language-neutral on purpose: chat is multilingual and one conversation mixes
//! languages, so no language's stemmer or stop words can be right for a message. Words are
//! matched as written, ignoring case and diacritics ("resume" finds "Résumé"); there is no
//! stemming ("run" does not find "running").
//!
//! PostgreSQL: a text search configuration `chat_search`, a copy of the built-in `simple`
//! configuration (lower-casing, no stop words, no stemming) whose tokens first pass the
//! `unaccent` dictionary; a stored generated `tsvector` column `chat_messages.search_vector`
//! computed with it, and a GIN index on that column. The generated column fills itself for
//! existing and future rows (adding it rewrites `chat_messages` once, under a lock).
//! `unaccent` ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13,
//! so the database owner may create it.
//!
//! SQLite: an FTS5 table `chat_messages_fts` with the `unicode61 remove_diacritics 2`
//! tokenizer, as an external-content index (it stores no second copy of the text). An FTS5
//! row needs a stable integer key, and `chat_messages` has none: its implicit `rowid` may be
//! renumbered by `VACUUM` because its primary key is a UUID. So `chat_messages_fts_rows`
//! gives every message an `INTEGER PRIMARY KEY`, and the view
//! `chat_messages_fts_content` is the content table FTS5 reads the text from (for snippets).
//! Triggers on `chat_messages` keep the rows and the index in step on insert, on update of
//! the content, and on delete, including the deletes that `ON DELETE CASCADE` makes when a
//! thread goes (SQLite fires row triggers for cascaded deletes).
//!
//! Both: the view and the headline replace U+27E6 and U+27E7 (the snippet's match markers,
//! `domain::SearchHit::MATCH_START`/`MATCH_END`) in the content by `[` and `]`, so every
//! marker in a snippet is one the search put there. Both characters are punctuation to
//! both tokenizers, like the brackets replacing them, so the words are unchanged.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Adds the full-text search structures of `chat_messages`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION chat_search (COPY = pg_catalog.simple)",
    // Every token type that `simple` indexes, unaccented first.
    "ALTER TEXT SEARCH CONFIGURATION chat_search \
     ALTER MAPPING FOR asciihword, asciiword, email, file, float, host, hword, \
     hword_asciipart, hword_numpart, hword_part, int, numhword, numword, sfloat, uint, url, \
     url_path, version, word \
     WITH unaccent, simple",
    "ALTER TABLE chat_messages ADD COLUMN search_vector tsvector \
     GENERATED ALWAYS AS (to_tsvector('chat_search'::regconfig, content)) STORED",
    "CREATE INDEX chat_messages_search_idx ON chat_messages USING GIN (search_vector)",
];

// The extension stays: other schemas of the database may use it, and it is harmless.
const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS chat_messages_search_idx",
    "ALTER TABLE chat_messages DROP COLUMN IF EXISTS search_vector",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS chat_search",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE chat_messages_fts_rows (\
       id INTEGER PRIMARY KEY, \
       message_id BLOB NOT NULL UNIQUE\
     )",
    "CREATE VIEW chat_messages_fts_content AS \
     SELECT r.id AS id, replace(replace(m.content, '\u{27E6}', '['), '\u{27E7}', ']') AS content \
     FROM chat_messages_fts_rows AS r JOIN chat_messages AS m ON m.id = r.message_id",
    "CREATE VIRTUAL TABLE chat_messages_fts USING fts5(\
       content, \
       content = 'chat_messages_fts_content', \
       content_rowid = 'id', \
       tokenize = 'unicode61 remove_diacritics 2'\
     )",
    "CREATE TRIGGER chat_messages_fts_after_insert AFTER INSERT ON chat_messages BEGIN \
       INSERT INTO chat_messages_fts_rows (message_id) VALUES (new.id); \
       INSERT INTO chat_messages_fts (rowid, content) \
         SELECT id, new.content FROM chat_messages_fts_rows WHERE message_id = new.id; \
     END",
    // An external-content index forgets a row only when told its old text.
    "CREATE TRIGGER chat_messages_fts_after_update AFTER UPDATE OF id, content ON chat_messages BEGIN \
       INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) \
         SELECT 'delete', id, old.content FROM chat_messages_fts_rows WHERE message_id = old.id; \
       UPDATE chat_messages_fts_rows SET message_id = new.id WHERE message_id = old.id; \
       INSERT INTO chat_messages_fts (rowid, content) \
         SELECT id, new.content FROM chat_messages_fts_rows WHERE message_id = new.id; \
     END",
    "CREATE TRIGGER chat_messages_fts_after_delete AFTER DELETE ON chat_messages BEGIN \
       INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) \
         SELECT 'delete', id, old.content FROM chat_messages_fts_rows WHERE message_id = old.id; \
       DELETE FROM chat_messages_fts_rows WHERE message_id = old.id; \
     END",
    // Messages stored before this migration.
    "INSERT INTO chat_messages_fts_rows (message_id) SELECT id FROM chat_messages",
    "INSERT INTO chat_messages_fts (chat_messages_fts) VALUES ('rebuild')",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS chat_messages_fts_after_delete",
    "DROP TRIGGER IF EXISTS chat_messages_fts_after_update",
    "DROP TRIGGER IF EXISTS chat_messages_fts_after_insert",
    "DROP TABLE IF EXISTS chat_messages_fts",
    "DROP VIEW IF EXISTS chat_messages_fts_content",
    "DROP TABLE IF EXISTS chat_messages_fts_rows",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

fn statements(manager: &SchemaManager<'_>, up: bool) -> Result<&'static [&'static str], DbErr> {
    match (manager.get_database_backend(), up) {
        (DbBackend::Postgres, true) => Ok(POSTGRES_UP),
        (DbBackend::Postgres, false) => Ok(POSTGRES_DOWN),
        (DbBackend::Sqlite, true) => Ok(SQLITE_UP),
        (DbBackend::Sqlite, false) => Ok(SQLITE_DOWN),
        (other, _) => Err(DbErr::Migration(format!(
            "full-text search is implemented for PostgreSQL and SQLite, not {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, statements(manager, true)?).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, statements(manager, false)?).await
    }
}
