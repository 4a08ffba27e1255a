//! The storage adapter of chat-history: the domain's [`domain::ThreadRepository`],
//! [`domain::MessageRepository`] and [`domain::SearchRepository`] ports, on PostgreSQL in
//! production and on an embedded SQLite file by default, through the same migrations and
//! queries (full-text search uses each database's own engine: see
//! `SeaOrmSearchRepository`). Statements are built with SeaORM's query API and sea-query;
//! the crate's executor runs them (ADR 003, `docs/adr/003-storage-executor.md`).
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
//! Architecture invariant: SeaORM and sqlx types (entities, `DbErr`, connections, pools)
//! never leave this crate; its public API speaks domain types and [`domain::StoreError`]
//! only, and callers see a [`Store`] (and its one [`Store::pool_stats`]), never a pool.
//! Every query that touches user data is scoped by the user id (messages by their own
//! `user_id` column: `thread_id = $t AND user_id = $u`, which the foreign key
//! `(thread_id, user_id) -> chat_threads (id, user_id)` keeps equal to the thread's owner
//! on PostgreSQL), so a missing ownership check elsewhere leaks nothing. Transactions
//! begin and end inside one port method. This crate depends on `domain` and `migration`,
//! never on the HTTP or auth crates.
//!
//! How statements run:
//! - **One executor** (`db.rs`): `Db` runs one statement and `Txn` a transaction; both
//!   hand back rows (`Row`) and [`domain::StoreError`]s, converted once, there. On
//!   PostgreSQL they run on the process's one pool, on SQLite on SeaORM's connection.
//! - **One PostgreSQL pool per [`Store`]** (`pool.rs`): every statement, every transaction
//!   and (in the same database) Better Auth session lookups. Its maximum
//!   ([`StoreOptions::max_connections`]) is a hard cap on connections open or being
//!   opened. A connection remembers the thread whose event loop opened it; a request takes
//!   an idle connection of its own thread, else opens one while below the cap, else
//!   borrows another thread's idle one, and waits only when all are in use. No round trip
//!   when a connection is handed back; it is tested before reuse only after an unfinished
//!   statement or 1 s idle; a transaction dropped half-way is rolled back before its
//!   connection is reused. Connections older than 30 minutes are replaced when next
//!   needed, and those idle for 10 minutes are closed. [`PoolStats`] reports size, idle,
//!   maximum and waiters.
//! - **SeaORM** builds the statements (entities, `Select`, sea-query), is SQLite's
//!   executor, and runs the migrations. Raw SQL only where it cannot express a statement,
//!   each with a comment saying why: PostgreSQL's one-statement append (a `WITH` holding
//!   an `UPDATE ... RETURNING` in front of an `INSERT ... SELECT` from `VALUES`), search
//!   (`tsquery` and FTS5 expressions), and the Better Auth lookup (configured identifiers,
//!   `EXTRACT`).
//! - **Migrations** ([`Store::migrate`]) on PostgreSQL open two connections of their own
//!   (the migrations and the advisory lock), without the statement timeout, closed
//!   afterwards.
//!
//! [`better_auth::BetterAuthSessionStore`] implements the domain's [`domain::SessionStore`]
//! port: read-only lookups in Better Auth's `session` table, on the store's pool when the
//! table is in its database ([`Store::better_auth_sessions`]), else on a small pool of its
//! own ([`better_auth::BetterAuthSessionStore::connect`]).
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
//!   every message write locks the thread row (`FOR UPDATE` or its `UPDATE`) and checks
//!   ownership, so writers of one thread are serialized and counters stay exact. A write's
//!   last statement on the thread is the one that grows its version, so the thread's live
//!   event (written by the schema's triggers, see `events`) shows it as the write left it.
//!   The one-statement append takes the lock inside its own statement, whose snapshot
//!   predates the wait: when it loses a race for a place in the tree, it runs again in a
//!   transaction that locks the thread first.
//! - Versions follow [`domain::Version`]: `CASE WHEN version + 1 > $now THEN version + 1
//!   ELSE $now END`, in the statement that writes.
//! - Search statements are SQL text with numbered placeholders whose shape follows the
//!   parsed query; every piece of user text is a bound value (on SQLite, inside a quoted
//!   FTS5 string that is itself bound). Rank depends on the message and the query only.
//!   Only the user's newest [`domain::SearchRequest::CANDIDATES`] matches are ranked, so
//!   ranking, the costly part, does not grow with the user's number of matches. On
//!   PostgreSQL search runs as an unnamed prepared statement, planned for its words (the
//!   user's newest messages through `(user_id, created_at DESC, id DESC)` for common
//!   words, the GIN index for rare ones).
//! - Errors: unique violations become `AlreadyExists`; connection, pool, I/O, SQLite busy
//!   and PostgreSQL shutdown/resource/serialization errors become `Unavailable`; the rest is
//!   `Unexpected`. The backend error is kept only as the `source`.

pub mod better_auth;
mod convert;
mod db;
mod entity;
mod error;
mod events;
mod messages;
mod pool;
mod search;
mod store;
mod threads;
mod tree;

pub use events::{EventSignals, SeaOrmEventLog, Wake};
pub use messages::SeaOrmMessageRepository;
pub use pool::{PoolStats, Pooler};
pub use search::SeaOrmSearchRepository;
pub use store::{Backend, Store, StoreOptions};
pub use threads::SeaOrmThreadRepository;
