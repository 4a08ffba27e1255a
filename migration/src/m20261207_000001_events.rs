//! Live events: an outbox of every change to a thread or a message, written by triggers in
//! the transaction of the write itself, so that an event exists exactly when its write
//! committed (never for one that failed or rolled back), whatever statement made it.
//!
//! - `chat_event_seq (user_id, last_seq)`: the user's last event number. Every write that
//!   makes events takes this row's lock until it commits, so one user's event numbers
//!   become visible in order and without gaps: a reader that has seen `n` can ask for
//!   `seq > n` and misses nothing. Writes of different users do not wait on each other.
//! - `chat_events (user_id, seq, kind, thread_id, message_id, payload, recorded_ms)`: one
//!   row per event. `payload` is the row as written (the columns the service reads, as a
//!   JSON object) for `*.created` and `*.updated`, `NULL` for `*.deleted`. `recorded_ms`
//!   (milliseconds since the Unix epoch, from the database's clock) is what retention
//!   compares; the service deletes old rows (`EVENTS_RETENTION_SECS`).
//!
//! Which writes make which events (docs/api.md "Live events"):
//! - a row inserted into `chat_threads` / `chat_messages`: `thread.created` /
//!   `message.created`, in `(created_at, id)` order within a statement;
//! - a row updated whose `version` changed (every change a client can see grows it):
//!   `thread.updated` / `message.updated`;
//! - a row deleted: `thread.deleted`; `message.deleted` only while its thread still
//!   exists, so that deleting a thread (whose messages go by `ON DELETE CASCADE`) makes one
//!   `thread.deleted` and nothing per message.
//!
//! PostgreSQL: statement-level triggers with transition tables (one sequence update per
//! statement and user, however many rows), through `chat_events_write`. SQLite:
//! row-level triggers (SQLite has no other kind); its writers are serialized anyway.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;

/// Creates the outbox and its triggers.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    // Every write updates its user's row: room on each page keeps those updates HOT (no
    // index change, pruned in place), and vacuum comes after a thousand dead rows rather
    // than a fifth of the table.
    "CREATE TABLE chat_event_seq (user_id text PRIMARY KEY, last_seq bigint NOT NULL) \
     WITH (fillfactor = 20, autovacuum_vacuum_scale_factor = 0, \
           autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)",
    "CREATE TABLE chat_events (\
       user_id text NOT NULL, \
       seq bigint NOT NULL, \
       kind text NOT NULL, \
       thread_id uuid NOT NULL, \
       message_id uuid, \
       payload jsonb, \
       recorded_ms bigint NOT NULL \
         DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint, \
       PRIMARY KEY (user_id, seq))",
    "CREATE INDEX chat_events_recorded_ms ON chat_events (recorded_ms)",
    "CREATE TYPE chat_event_row AS (user_id text, thread_id uuid, message_id uuid, payload jsonb)",
    // Numbers the rows per user (in the given order) under the user's sequence row, whose
    // lock the transaction then holds until it ends.
    "CREATE FUNCTION chat_events_write(p_kind text, p_rows chat_event_row[]) RETURNS void \
     LANGUAGE sql AS $$ \
       WITH ev AS ( \
         SELECT u.user_id, u.thread_id, u.message_id, u.payload, \
                row_number() OVER (PARTITION BY u.user_id ORDER BY u.ord) AS k \
         FROM unnest(p_rows) WITH ORDINALITY AS u (user_id, thread_id, message_id, payload, ord)), \
       n AS (SELECT user_id, count(*) AS c FROM ev GROUP BY user_id), \
       s AS ( \
         INSERT INTO chat_event_seq AS s (user_id, last_seq) \
         SELECT user_id, c FROM n ORDER BY user_id \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq \
         RETURNING s.user_id, s.last_seq) \
       INSERT INTO chat_events (user_id, seq, kind, thread_id, message_id, payload) \
       SELECT ev.user_id, s.last_seq - n.c + ev.k, p_kind, ev.thread_id, ev.message_id, ev.payload \
       FROM ev JOIN n ON n.user_id = ev.user_id JOIN s ON s.user_id = ev.user_id \
     $$",
    "CREATE FUNCTION chat_events_thread_json(t chat_threads) RETURNS jsonb \
     LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object(\
       'id', t.id, 'user_id', t.user_id, 'title', t.title, 'metadata', t.metadata, \
       'archived_at', t.archived_at, 'pinned_at', t.pinned_at, \
       'message_count', t.message_count, 'last_message_at', t.last_message_at, \
       'created_at', t.created_at, 'updated_at', t.updated_at, 'version', t.version, \
       'active_leaf_id', t.active_leaf_id, 'active_stream_id', t.active_stream_id) $$",
    "CREATE FUNCTION chat_events_message_json(m chat_messages) RETURNS jsonb \
     LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object(\
       'id', m.id, 'thread_id', m.thread_id, 'parent_id', m.parent_id, 'role', m.role, \
       'content', m.content, 'parts', m.parts, 'status', m.status, 'sources', m.sources, \
       'metadata', m.metadata, 'feedback', m.feedback, 'created_at', m.created_at, \
       'updated_at', m.updated_at, 'version', m.version) $$",
    "CREATE FUNCTION chat_events_threads() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF TG_OP = 'INSERT' THEN \
         PERFORM chat_events_write('thread.created', ARRAY( \
           SELECT ROW(n.user_id, n.id, NULL, chat_events_thread_json(n))::chat_event_row \
           FROM new_rows AS n ORDER BY n.created_at, n.id)); \
       ELSIF TG_OP = 'UPDATE' THEN \
         PERFORM chat_events_write('thread.updated', ARRAY( \
           SELECT ROW(n.user_id, n.id, NULL, chat_events_thread_json(n))::chat_event_row \
           FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id \
           WHERE n.version IS DISTINCT FROM o.version ORDER BY n.updated_at, n.id)); \
       ELSE \
         PERFORM chat_events_write('thread.deleted', ARRAY( \
           SELECT ROW(o.user_id, o.id, NULL, NULL)::chat_event_row \
           FROM old_rows AS o ORDER BY o.updated_at, o.id)); \
       END IF; \
       RETURN NULL; \
     END $$",
    "CREATE FUNCTION chat_events_messages() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF TG_OP = 'INSERT' THEN \
         PERFORM chat_events_write('message.created', ARRAY( \
           SELECT ROW(n.user_id, n.thread_id, n.id, chat_events_message_json(n))::chat_event_row \
           FROM new_rows AS n ORDER BY n.created_at, n.id)); \
       ELSIF TG_OP = 'UPDATE' THEN \
         PERFORM chat_events_write('message.updated', ARRAY( \
           SELECT ROW(n.user_id, n.thread_id, n.id, chat_events_message_json(n))::chat_event_row \
           FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id \
           WHERE n.version IS DISTINCT FROM o.version ORDER BY n.created_at, n.id)); \
       ELSE \
         PERFORM chat_events_write('message.deleted', ARRAY( \
           SELECT ROW(o.user_id, o.thread_id, o.id, NULL)::chat_event_row \
           FROM old_rows AS o \
           WHERE EXISTS (SELECT 1 FROM chat_threads AS t WHERE t.id = o.thread_id) \
           ORDER BY o.created_at, o.id)); \
       END IF; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER chat_events_threads_insert AFTER INSERT ON chat_threads \
     REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_events_threads()",
    "CREATE TRIGGER chat_events_threads_update AFTER UPDATE ON chat_threads \
     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
     FOR EACH STATEMENT EXECUTE FUNCTION chat_events_threads()",
    "CREATE TRIGGER chat_events_threads_delete AFTER DELETE ON chat_threads \
     REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_events_threads()",
    "CREATE TRIGGER chat_events_messages_insert AFTER INSERT ON chat_messages \
     REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_events_messages()",
    "CREATE TRIGGER chat_events_messages_update AFTER UPDATE ON chat_messages \
     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
     FOR EACH STATEMENT EXECUTE FUNCTION chat_events_messages()",
    "CREATE TRIGGER chat_events_messages_delete AFTER DELETE ON chat_messages \
     REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_events_messages()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS chat_events_messages_delete ON chat_messages",
    "DROP TRIGGER IF EXISTS chat_events_messages_update ON chat_messages",
    "DROP TRIGGER IF EXISTS chat_events_messages_insert ON chat_messages",
    "DROP TRIGGER IF EXISTS chat_events_threads_delete ON chat_threads",
    "DROP TRIGGER IF EXISTS chat_events_threads_update ON chat_threads",
    "DROP TRIGGER IF EXISTS chat_events_threads_insert ON chat_threads",
    "DROP FUNCTION IF EXISTS chat_events_messages()",
    "DROP FUNCTION IF EXISTS chat_events_threads()",
    "DROP FUNCTION IF EXISTS chat_events_message_json(chat_messages)",
    "DROP FUNCTION IF EXISTS chat_events_thread_json(chat_threads)",
    "DROP FUNCTION IF EXISTS chat_events_write(text, chat_event_row[])",
    "DROP TYPE IF EXISTS chat_event_row",
    "DROP TABLE IF EXISTS chat_events",
    "DROP TABLE IF EXISTS chat_event_seq",
];

/// SQLite's UUIDs are 16-byte BLOBs: in JSON they go as 32 hex digits.
macro_rules! sqlite_uuid {
    ($col:literal) => {
        concat!(
            "CASE WHEN ",
            $col,
            " IS NULL THEN NULL ELSE lower(hex(",
            $col,
            ")) END"
        )
    };
}

macro_rules! sqlite_thread_json {
    ($row:literal) => {
        concat!(
            "json_object('id', lower(hex(",
            $row,
            ".id)), 'user_id', ",
            $row,
            ".user_id, ",
            "'title', ",
            $row,
            ".title, 'metadata', json(",
            $row,
            ".metadata), ",
            "'archived_at', ",
            $row,
            ".archived_at, 'pinned_at', ",
            $row,
            ".pinned_at, ",
            "'message_count', ",
            $row,
            ".message_count, 'last_message_at', ",
            $row,
            ".last_message_at, ",
            "'created_at', ",
            $row,
            ".created_at, 'updated_at', ",
            $row,
            ".updated_at, ",
            "'version', ",
            $row,
            ".version, 'active_leaf_id', ",
            sqlite_uuid!("NEW.active_leaf_id"),
            ", ",
            "'active_stream_id', ",
            $row,
            ".active_stream_id)"
        )
    };
}

macro_rules! sqlite_message_json {
    () => {
        concat!(
            "json_object('id', lower(hex(NEW.id)), 'thread_id', lower(hex(NEW.thread_id)), ",
            "'parent_id', ",
            sqlite_uuid!("NEW.parent_id"),
            ", 'role', NEW.role, ",
            "'content', NEW.content, 'parts', json(NEW.parts), 'status', NEW.status, ",
            "'sources', json(NEW.sources), 'metadata', json(NEW.metadata), ",
            "'feedback', json(NEW.feedback), 'created_at', NEW.created_at, ",
            "'updated_at', NEW.updated_at, 'version', NEW.version)"
        )
    };
}

/// The statements of a SQLite trigger body that take the next number of `$user`.
macro_rules! sqlite_next_seq {
    ($user:literal) => {
        concat!(
            "INSERT OR IGNORE INTO chat_event_seq (user_id, last_seq) VALUES (",
            $user,
            ", 0); ",
            "UPDATE chat_event_seq SET last_seq = last_seq + 1 WHERE user_id = ",
            $user,
            "; "
        )
    };
}

macro_rules! sqlite_record {
    ($user:literal, $kind:literal, $thread:literal, $message:literal, $($payload:tt)+) => {
        concat!(
            "INSERT INTO chat_events (user_id, seq, kind, thread_id, message_id, payload) ",
            "SELECT ", $user, ", last_seq, '", $kind, "', ", $thread, ", ", $message, ", ",
            $($payload)+, " FROM chat_event_seq WHERE user_id = ", $user, "; "
        )
    };
}

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE chat_event_seq (user_id text PRIMARY KEY NOT NULL, last_seq integer NOT NULL)",
    "CREATE TABLE chat_events (\
       user_id text NOT NULL, \
       seq integer NOT NULL, \
       kind text NOT NULL, \
       thread_id blob NOT NULL, \
       message_id blob, \
       payload json_text, \
       recorded_ms integer NOT NULL \
         DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)), \
       PRIMARY KEY (user_id, seq))",
    "CREATE INDEX chat_events_recorded_ms ON chat_events (recorded_ms)",
    concat!(
        "CREATE TRIGGER chat_events_threads_insert AFTER INSERT ON chat_threads BEGIN ",
        sqlite_next_seq!("NEW.user_id"),
        sqlite_record!(
            "NEW.user_id",
            "thread.created",
            "NEW.id",
            "NULL",
            sqlite_thread_json!("NEW")
        ),
        "END"
    ),
    concat!(
        "CREATE TRIGGER chat_events_threads_update AFTER UPDATE ON chat_threads ",
        "WHEN NEW.version IS NOT OLD.version BEGIN ",
        sqlite_next_seq!("NEW.user_id"),
        sqlite_record!(
            "NEW.user_id",
            "thread.updated",
            "NEW.id",
            "NULL",
            sqlite_thread_json!("NEW")
        ),
        "END"
    ),
    concat!(
        "CREATE TRIGGER chat_events_threads_delete AFTER DELETE ON chat_threads BEGIN ",
        sqlite_next_seq!("OLD.user_id"),
        sqlite_record!("OLD.user_id", "thread.deleted", "OLD.id", "NULL", "NULL"),
        "END"
    ),
    concat!(
        "CREATE TRIGGER chat_events_messages_insert AFTER INSERT ON chat_messages BEGIN ",
        sqlite_next_seq!("NEW.user_id"),
        sqlite_record!(
            "NEW.user_id",
            "message.created",
            "NEW.thread_id",
            "NEW.id",
            sqlite_message_json!()
        ),
        "END"
    ),
    concat!(
        "CREATE TRIGGER chat_events_messages_update AFTER UPDATE ON chat_messages ",
        "WHEN NEW.version IS NOT OLD.version BEGIN ",
        sqlite_next_seq!("NEW.user_id"),
        sqlite_record!(
            "NEW.user_id",
            "message.updated",
            "NEW.thread_id",
            "NEW.id",
            sqlite_message_json!()
        ),
        "END"
    ),
    concat!(
        "CREATE TRIGGER chat_events_messages_delete AFTER DELETE ON chat_messages ",
        "WHEN EXISTS (SELECT 1 FROM chat_threads WHERE id = OLD.thread_id) BEGIN ",
        sqlite_next_seq!("OLD.user_id"),
        sqlite_record!(
            "OLD.user_id",
            "message.deleted",
            "OLD.thread_id",
            "OLD.id",
            "NULL"
        ),
        "END"
    ),
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS chat_events_messages_delete",
    "DROP TRIGGER IF EXISTS chat_events_messages_update",
    "DROP TRIGGER IF EXISTS chat_events_messages_insert",
    "DROP TRIGGER IF EXISTS chat_events_threads_delete",
    "DROP TRIGGER IF EXISTS chat_events_threads_update",
    "DROP TRIGGER IF EXISTS chat_events_threads_insert",
    "DROP TABLE IF EXISTS chat_events",
    "DROP TABLE IF EXISTS chat_event_seq",
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
