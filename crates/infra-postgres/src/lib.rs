//! The storage adapter of chat-history: the domain's [`domain::ThreadRepository`] and
//! [`domain::MessageRepository`] ports implemented with SeaORM, on PostgreSQL in production
//! and on an embedded SQLite file by default, through the same migrations and queries.
//!
//! Start with [`Store::connect`], then [`Store::migrate`], then hand
//! [`Store::thread_repository`] and [`Store::message_repository`] to the domain services.
//!
//! Architecture invariant: SeaORM and sqlx types (entities, `DbErr`, connections) never
//! leave this crate; its public API speaks domain types and [`domain::StoreError`] only.
//! Every query that touches user data is scoped by the user id (messages through their
//! thread), so a missing ownership check elsewhere leaks nothing. Transactions begin and
//! end inside one port method. This crate depends on `domain` and `migration`, never on
//! the HTTP or auth crates.

mod convert;
mod db;
mod entity;
mod error;
mod messages;
mod store;
mod threads;

pub use messages::SeaOrmMessageRepository;
pub use store::{Backend, Store, StoreOptions};
pub use threads::SeaOrmThreadRepository;
