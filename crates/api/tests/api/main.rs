//! HTTP tests: the real server on a random port, a fresh database of each backend.

mod abuse;
mod bola;
mod csrf;
#[path = "../db_support/mod.rs"]
mod db_support;
mod errors;
mod events;
mod export;
mod helpers;
mod hostile;
mod import;
mod isolation;
mod lifecycle;
mod messages;
mod openapi;
mod parts;
mod pool;
mod retention;
mod search;
mod threads;
mod tree_model;
mod trees;
