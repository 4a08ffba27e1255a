//! PostgreSQL: the full-text index keys every word by its owner, so a user's search reads
//! that user's entries of the index only, however many messages other users have.
//!
//! `chat_messages_search_owner_idx`, a two-column GIN index `(user_id, search_vector)`,
//! kept one posting list per word for all users: a search for a word common in everybody's
//! messages stepped through every user's entries of it to find the caller's
//! (docs/benchmarks.md, round 9: 21 buffers of the index with no other users, 310 with
//! 1,000,000 messages of others). It is replaced by a GIN index on
//! `chat_search_keys(user_id, search_vector)`: the message's words, each prefixed with 8
//! hex digits of the md5 of the owner's id, so the posting list of a key holds the matches
//! of one user (and, rarely, of another whose id has the same md5 prefix: the search still
//! checks the owner and the words on every row it keeps). A search asks the index with
//! `chat_search_query_keys(owner, text)` for each item it looks for: the same keys of the
//! words of that text, ANDed. The keys carry no positions, so they find a superset of the
//! messages that match a phrase; the search then applies the exact query to the rows.
//!
//! A word of more than 2,039 bytes is keyed by its first 240 characters (it then shares
//! its key with the words that begin the same way; the exact query still decides):
//! PostgreSQL's limit of 2,047 bytes per word would otherwise refuse the 8-character
//! prefix, and with it the message that holds such a word. The key of a word depends on
//! the word alone, so a message and a query always agree on it. The fast path joins the
//! words as one string and splits it again (about 25 µs for a message of 100 distinct
//! words); only a text with a word near the limit takes the slow path, one word at a time.
//!
//! Building the index reads the whole table (minutes per million messages); on a large
//! database plan the upgrade for a quiet moment. SQLite is unchanged (its FTS5 index has no
//! column for the owner; search joins it).
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Replaces the `(user_id, search_vector)` GIN index by one on owner-keyed words.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    // PARALLEL RESTRICTED: the exception block opens a subtransaction, which a parallel
    // worker may not do.
    "CREATE FUNCTION chat_search_keys(owner text, document tsvector) RETURNS tsvector \
     LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$ \
     DECLARE prefix text := left(md5(owner), 8); \
     BEGIN \
       RETURN array_to_tsvector(string_to_array( \
         prefix || array_to_string(tsvector_to_array(document), chr(1) || prefix), chr(1))); \
     EXCEPTION WHEN program_limit_exceeded THEN \
       RETURN array_to_tsvector(ARRAY( \
         SELECT prefix || CASE WHEN octet_length(word) <= 2039 THEN word ELSE left(word, 240) END \
         FROM unnest(tsvector_to_array(document)) AS word)); \
     END $$",
    "CREATE FUNCTION chat_search_query_keys(owner text, term text) RETURNS tsquery \
     LANGUAGE sql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$ \
     SELECT coalesce(string_agg( \
         '''' || replace(replace(key, '\\', '\\\\'), '''', '''''') || '''', ' & '), '')::tsquery \
     FROM unnest(tsvector_to_array( \
         chat_search_keys(owner, to_tsvector('chat_search', term)))) AS key $$",
    "CREATE INDEX chat_messages_search_keys_idx ON chat_messages \
     USING GIN (chat_search_keys(user_id, search_vector))",
    "DROP INDEX IF EXISTS chat_messages_search_owner_idx",
];

const POSTGRES_DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS chat_messages_search_owner_idx ON chat_messages \
     USING GIN (user_id, search_vector)",
    "DROP INDEX IF EXISTS chat_messages_search_keys_idx",
    "DROP FUNCTION IF EXISTS chat_search_query_keys(text, text)",
    "DROP FUNCTION IF EXISTS chat_search_keys(text, tsvector)",
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
