//! Temporary chats and retention: `chat_threads.expires_at`.
//!
//! A thread whose `expires_at` has passed is treated as missing by every query (a
//! condition of the query, not only the sweeper's job), and the sweeper deletes it. The
//! partial index `chat_threads_expires_at_idx` holds only threads that expire, so the
//! sweeper finds them without a scan and ordinary threads cost it nothing.
//!
//! `chat_threads_user_id_idx` on `(user_id, id)` serves the walk over all of one user's
//! threads in id order (`GET /api/v1/me/export`), which no change of a thread can move; its
//! columns never change, so it costs inserts only, not updates.
//!
//! `RETENTION_DAYS` (delete threads whose `updated_at` is older) gets no index of its own:
//! `updated_at` changes on every append, and one more index on it would cost every write
//! to find rarely swept rows. Its sweep reads the table in bounded batches instead.
//!
//! The live events' thread image gains `expires_at`: PostgreSQL's
//! `chat_events_thread_json` is replaced, SQLite's two thread triggers are recreated.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

use sea_orm_migration::prelude::*;

/// Adds the column, its index and the events' new thread image.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

/// `chat_events_thread_json`, with `expires_at` when `with_expiry`.
fn postgres_thread_json(with_expiry: bool) -> String {
    let expiry = if with_expiry {
        ", 'expires_at', t.expires_at"
    } else {
        ""
    };
    format!(
        "CREATE OR REPLACE FUNCTION chat_events_thread_json(t chat_threads) RETURNS jsonb \
         LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object(\
           'id', t.id, 'user_id', t.user_id, 'title', t.title, 'metadata', t.metadata, \
           'archived_at', t.archived_at, 'pinned_at', t.pinned_at, \
           'message_count', t.message_count, 'last_message_at', t.last_message_at, \
           'created_at', t.created_at, 'updated_at', t.updated_at, 'version', t.version, \
           'active_leaf_id', t.active_leaf_id, 'active_stream_id', t.active_stream_id{expiry}) $$"
    )
}

fn postgres_up() -> Vec<String> {
    vec![
        "ALTER TABLE chat_threads ADD COLUMN expires_at timestamptz".into(),
        "CREATE INDEX chat_threads_expires_at_idx ON chat_threads (expires_at) \
         WHERE expires_at IS NOT NULL"
            .into(),
        "CREATE INDEX chat_threads_user_id_idx ON chat_threads (user_id, id)".into(),
        postgres_thread_json(true),
    ]
}

fn postgres_down() -> Vec<String> {
    vec![
        postgres_thread_json(false),
        "DROP INDEX IF EXISTS chat_threads_user_id_idx".into(),
        "DROP INDEX IF EXISTS chat_threads_expires_at_idx".into(),
        "ALTER TABLE chat_threads DROP COLUMN IF EXISTS expires_at".into(),
    ]
}

/// SQLite's thread insert and update triggers (as the events migration made them), with
/// `expires_at` in the thread image when `with_expiry`.
fn sqlite_thread_triggers(with_expiry: bool) -> Vec<String> {
    let expiry = if with_expiry {
        ", 'expires_at', NEW.expires_at"
    } else {
        ""
    };
    let image = format!(
        "json_object('id', lower(hex(NEW.id)), 'user_id', NEW.user_id, 'title', NEW.title, \
         'metadata', json(NEW.metadata), 'archived_at', NEW.archived_at, \
         'pinned_at', NEW.pinned_at, 'message_count', NEW.message_count, \
         'last_message_at', NEW.last_message_at, 'created_at', NEW.created_at, \
         'updated_at', NEW.updated_at, 'version', NEW.version, 'active_leaf_id', \
         CASE WHEN NEW.active_leaf_id IS NULL THEN NULL ELSE lower(hex(NEW.active_leaf_id)) END, \
         'active_stream_id', NEW.active_stream_id{expiry})"
    );
    let record = |kind: &str| {
        format!(
            "INSERT OR IGNORE INTO chat_event_seq (user_id, last_seq) VALUES (NEW.user_id, 0); \
             UPDATE chat_event_seq SET last_seq = last_seq + 1 WHERE user_id = NEW.user_id; \
             INSERT INTO chat_events (user_id, seq, kind, thread_id, message_id, payload) \
             SELECT NEW.user_id, last_seq, '{kind}', NEW.id, NULL, {image} \
             FROM chat_event_seq WHERE user_id = NEW.user_id; "
        )
    };
    vec![
        "DROP TRIGGER IF EXISTS chat_events_threads_insert".into(),
        "DROP TRIGGER IF EXISTS chat_events_threads_update".into(),
        format!(
            "CREATE TRIGGER chat_events_threads_insert AFTER INSERT ON chat_threads BEGIN {}END",
            record("thread.created")
        ),
        format!(
            "CREATE TRIGGER chat_events_threads_update AFTER UPDATE ON chat_threads \
             WHEN NEW.version IS NOT OLD.version BEGIN {}END",
            record("thread.updated")
        ),
    ]
}

fn sqlite_up() -> Vec<String> {
    let mut up = vec![
        "ALTER TABLE chat_threads ADD COLUMN expires_at text".into(),
        "CREATE INDEX chat_threads_expires_at_idx ON chat_threads (expires_at) \
         WHERE expires_at IS NOT NULL"
            .into(),
        "CREATE INDEX chat_threads_user_id_idx ON chat_threads (user_id, id)".into(),
    ];
    up.extend(sqlite_thread_triggers(true));
    up
}

fn sqlite_down() -> Vec<String> {
    // The triggers name the column, so they go first and come back without it.
    let mut down = vec![
        "DROP TRIGGER IF EXISTS chat_events_threads_insert".to_owned(),
        "DROP TRIGGER IF EXISTS chat_events_threads_update".to_owned(),
        "DROP INDEX IF EXISTS chat_threads_user_id_idx".to_owned(),
        "DROP INDEX IF EXISTS chat_threads_expires_at_idx".to_owned(),
        "ALTER TABLE chat_threads DROP COLUMN expires_at".to_owned(),
    ];
    down.extend(sqlite_thread_triggers(false));
    down
}

async fn run(manager: &SchemaManager<'_>, up: bool) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::DbBackend;
    let statements = match (manager.get_database_backend(), up) {
        (DbBackend::Postgres, true) => postgres_up(),
        (DbBackend::Postgres, false) => postgres_down(),
        (DbBackend::Sqlite, true) => sqlite_up(),
        (DbBackend::Sqlite, false) => sqlite_down(),
        (other, _) => {
            return Err(DbErr::Migration(format!(
                "chat-history supports PostgreSQL and SQLite, not {other:?}"
            )));
        }
    };
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    crate::execute_all(manager, &statements).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, false).await
    }
}
