//! Fault tests: the real `chat-history` binary under load while its process is killed,
//! its database restarts or cannot keep up, and while it is asked to stop. Each test is
//! bounded in time, talks to 127.0.0.1 only, and proves the two promises of the service:
//! no acknowledged message is lost or duplicated, and failures are answered (503 with
//! `Retry-After`), never hung on and never a 500.
//!
//! Figures (faults injected, messages acknowledged and found) are printed with
//! `eprintln!`; `cargo nextest run --no-capture -E 'binary(chaos)'` shows them.

mod db_restart;
#[path = "../db_support/mod.rs"]
mod db_support;
mod kill9;
mod load;
mod pgbouncer;
mod private_postgres;
mod replicas;
mod sigterm;
mod slow_db;
mod support;
