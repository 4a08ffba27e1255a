//! SeaORM entities of the chat tables. Private to this crate: rows are turned into domain
//! values (through their checking constructors) before they leave it.
//!
//! The entities serve reads and filters. Writes are built as sea-query statements whose
//! timestamps go through `Db::timestamp`, never through an `ActiveModel`: on SQLite an
//! `ActiveModel` would store another text form of the same instant, and text comparisons
//! between the two forms would not follow time.

pub(crate) mod message;
pub(crate) mod thread;
