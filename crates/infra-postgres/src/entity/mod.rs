//! SeaORM entities of the chat tables. Private to this crate: rows are turned into domain
//! values (through their checking constructors) before they leave it.

pub(crate) mod message;
pub(crate) mod thread;
