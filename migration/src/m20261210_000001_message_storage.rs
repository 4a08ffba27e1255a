//! PostgreSQL: a message's row keeps its search words (`search_vector`) in the row itself,
//! and a message of up to about 8 kB is stored in its row whole.
//!
//! With PostgreSQL's defaults a row of more than 2 kB is compressed and its largest values
//! are moved out to the table's TOAST relation until it fits in 2 kB. `search_vector`, as
//! large as the text it indexes, was usually the one moved out, so the search read it
//! through the TOAST index and pages for every row it considered, twice for a row it kept
//! (the match, then the rank): 8,018 buffers for the newest 1,000 matches of a common word
//! in a user's 50,000 messages, and 12,645 (more than `shared_buffers` holds by default, so
//! also read from the operating system) with 1,000,000 messages of others in the table,
//! whose TOAST entries lie between the user's (docs/benchmarks.md, round 12).
//!
//! - `search_vector` gets storage `MAIN`: compressed in the row if need be, moved out only
//!   when the row cannot fit in a page otherwise, after every other value has been.
//! - `toast_tuple_target = 8160` (the largest allowed, on 8 kB pages): a row is compressed
//!   or moved out only beyond about 8 kB, so a typical message (content, parts and words)
//!   is one row on one page: read by one buffer, written without TOAST entries.
//!
//! Both are catalog changes, immediate on any size of table. Rows stored before keep their
//! layout until the table is rewritten (`VACUUM FULL`, which locks the table, or
//! `pg_repack` online; docs/operations.md). SQLite has no TOAST: nothing to do there.
//!
//! This migration has landed once merged: never edit it, add a new one instead.

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE chat_messages ALTER COLUMN search_vector SET STORAGE MAIN, \
     SET (toast_tuple_target = 8160)",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE chat_messages ALTER COLUMN search_vector SET STORAGE EXTENDED, \
     RESET (toast_tuple_target)",
];

/// Keeps `chat_messages.search_vector` in the row and rows of up to 8 kB whole.
pub(crate) const MIGRATION: crate::SqlMigration = crate::SqlMigration {
    module: module_path!(),
    sql: crate::BackendSql {
        postgres_up: POSTGRES_UP,
        postgres_down: POSTGRES_DOWN,
        sqlite_up: &[],
        sqlite_down: &[],
    },
};
