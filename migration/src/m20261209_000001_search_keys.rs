//! PostgreSQL: a second full-text index that keys every word by its owner, so that the
//! search of a user with a short history reads that user's index entries only, however
//! many messages other users have.
//!
//! `chat_messages_search_owner_idx`, the two-column GIN index `(user_id, search_vector)`,
//! keeps one posting list per word for all users: a search for a word common in everybody's
//! messages steps through every user's entries of it to find the caller's (docs/
//! benchmarks.md, round 9: 21 buffers of the index with no other users, 310 with 1,000,000
//! messages of others). The new GIN index is on `chat_search_keys(user_id, search_vector)`:
//! the message's words, each prefixed with 8 hex digits of the md5 of the owner's id, so the
//! posting list of a key holds the matches of one user (and, rarely, of another whose id
//! has the same md5 prefix: the search still checks the owner and the words on every row
//! it keeps). A search asks it with `chat_search_query_keys(owner, text)` for each item it
//! looks for: the same keys of the words of that text, ANDed. The keys carry no positions,
//! so they find a superset of the messages that match a phrase; the search then applies
//! the exact query to the rows. The search uses this index for users with no more messages
//! than it ranks, and the two-column one, as before, for longer histories (see the
//! PostgreSQL statement in `infra-postgres/src/search.rs` for why).
//!
//! `chat_search_keys` is declared `COST 1000` (about 25 µs for a message of 100 distinct
//! words, against well under a microsecond for an operator), so that the planner reads its
//! values from the index and never computes it row by row.
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

/// Adds the GIN index on owner-keyed words and the functions that make its keys.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    // PARALLEL RESTRICTED: the exception block opens a subtransaction, which a parallel
    // worker may not do. A document without words has no keys (not the bare prefix).
    "CREATE FUNCTION chat_search_keys(owner text, document tsvector) RETURNS tsvector \
     LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL RESTRICTED COST 1000 AS $$ \
     DECLARE prefix text := left(md5(owner), 8); \
     BEGIN \
       IF length(document) = 0 THEN RETURN document; END IF; \
       BEGIN \
         RETURN array_to_tsvector(string_to_array( \
           prefix || array_to_string(tsvector_to_array(document), chr(1) || prefix), chr(1))); \
       EXCEPTION WHEN program_limit_exceeded THEN \
         RETURN array_to_tsvector(ARRAY( \
           SELECT prefix || CASE WHEN octet_length(word) <= 2039 THEN word ELSE left(word, 240) END \
           FROM unnest(tsvector_to_array(document)) AS word)); \
       END; \
     END $$",
    // The keys of a text, ANDed: the text form of the keys' tsvector (`'k1' 'k2'`, every
    // key quoted and escaped as tsquery input wants it; keys never hold a space) with `&`
    // between the keys; no words, no keys (an empty query, as `phraseto_tsquery` gives).
    // An expression, not a query: the planner computes it once per search, cheaply.
    "CREATE FUNCTION chat_search_query_keys(owner text, term text) RETURNS tsquery \
     LANGUAGE sql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$ \
     SELECT replace(chat_search_keys(owner, to_tsvector('chat_search', term))::text, \
                    ''' ''', ''' & ''')::tsquery $$",
    "CREATE INDEX chat_messages_search_keys_idx ON chat_messages \
     USING GIN (chat_search_keys(user_id, search_vector))",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS chat_messages_search_keys_idx",
    "DROP FUNCTION IF EXISTS chat_search_query_keys(text, text)",
    "DROP FUNCTION IF EXISTS chat_search_keys(text, tsvector)",
];

const SQL: crate::BackendSql = crate::BackendSql {
    postgres_up: POSTGRES_UP,
    postgres_down: POSTGRES_DOWN,
    sqlite_up: &[],
    sqlite_down: &[],
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
