//! The storage adapter of chat-history: the domain's [`domain::ThreadRepository`],
//! [`domain::MessageRepository`] and [`domain::SearchRepository`] ports implemented with
//! SeaORM, on PostgreSQL in production and on an embedded SQLite file by default, through the
//! same migrations and queries (full-text search uses each database's own engine: see
//! `SeaOrmSearchRepository`).
//!
//! ```no_run
//! # async fn start() -> Result<(), domain::StoreError> {
//! use infra_postgres::{Backend, Store, StoreOptions};
//!
//! let store = Store::connect("sqlite://data/chat-history.db?mode=rwc", StoreOptions::default())
//!     .await?;
//! store.migrate().await?; // advisory-locked on PostgreSQL
//! let threads = domain::ThreadService::new(store.thread_repository());
//! let messages = domain::MessageService::new(store.message_repository());
//! assert_eq!(store.backend(), Backend::Sqlite);
//! # let _ = (threads, messages);
//! store.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Architecture invariant: SeaORM and sqlx types (entities, `DbErr`, connections) never
//! leave this crate; its public API speaks domain types and [`domain::StoreError`] only.
//! Every query that touches user data is scoped by the user id (messages through their
//! thread: `thread_id IN (SELECT id FROM chat_threads WHERE id = $t AND user_id = $u)`), so
//! a missing ownership check elsewhere leaks nothing. Transactions begin and end inside one
//! port method. This crate depends on `domain` and `migration`, never on the HTTP or auth
//! crates.
//!
//! [`better_auth::BetterAuthSessionStore`] implements the domain's [`domain::SessionStore`]
//! port: read-only lookups in Better Auth's `session` table, over its own small pool.
//!
//! Decisions worth knowing:
//! - SQLite has no time type. Every timestamp is written by this crate as fixed-width
//!   RFC 3339 text with six fractional digits and `Z` (`2026-11-24T10:15:30.123456Z`), so
//!   text order is time order for `ORDER BY`, `MAX()` and keyset comparisons. Timestamps
//!   are therefore never written through SeaORM `ActiveModel`s (sqlx would use another
//!   text form); all writes build their statements with `Db::timestamp`.
//! - UUIDs are 16-byte BLOBs on SQLite (sqlx's encoding), so they order like PostgreSQL's
//!   `uuid` and like [`uuid::Uuid`]'s `Ord`.
//! - SQLite write transactions are `BEGIN IMMEDIATE`; on PostgreSQL the first statement of
//!   every message write is an `UPDATE` of the thread row, which locks it and checks
//!   ownership, so writers of one thread are serialized and counters stay exact.
//! - Versions follow [`domain::Version`]: `CASE WHEN version + 1 > $now THEN version + 1
//!   ELSE $now END`, in the statement that writes.
//! - Search statements are SQL text with numbered placeholders whose shape follows the
//!   parsed query; every piece of user text is a bound value (on SQLite, inside a quoted
//!   FTS5 string that is itself bound). Rank depends on the message and the query only.
//! - Errors: unique violations become `AlreadyExists`; connection, pool, I/O, SQLite busy
//!   and PostgreSQL shutdown/resource/serialization errors become `Unavailable`; the rest is
//!   `Unexpected`. The backend error is kept only as the `source`.

pub mod better_auth;
mod convert;
mod db;
mod entity;
mod error;
mod messages;
mod pool;
mod search;
mod store;
mod threads;

pub use messages::SeaOrmMessageRepository;
pub use pool::PoolStats;
pub use search::SeaOrmSearchRepository;
pub use store::{Backend, Store, StoreOptions};
pub use threads::SeaOrmThreadRepository;
