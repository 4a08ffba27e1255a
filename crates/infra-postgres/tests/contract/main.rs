//! The repository contract: one suite written against the domain's ports
//! (`ThreadRepository`, `MessageRepository`), run on PostgreSQL and on SQLite.
//!
//! Each scenario is declared once with [`contract_test!`] and becomes two tests,
//! `<module>::<scenario>::on_postgres` and `<module>::<scenario>::on_sqlite`, each on a
//! database of its own: a clone of a migrated template database on PostgreSQL
//! (`TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), a fresh file
//! in a temporary directory on SQLite. PostgreSQL being unreachable fails the tests with
//! instructions; nothing is skipped.

/// Declares a scenario run against both backends:
///
/// ```ignore
/// contract_test!(async fn a_sentence_saying_what_holds(repos: Repos) { ... });
/// ```
macro_rules! contract_test {
    (async fn $name:ident($repos:ident : Repos $(,)?) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($repos: crate::support::Repos) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let db = crate::support::TestStore::postgres().await;
                scenario(db.repos()).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let db = crate::support::TestStore::sqlite().await;
                scenario(db.repos()).await;
                db.finish().await;
            }
        }
    };
}

/// Asserts that a port call failed with the given [`domain::StoreError`] variant.
macro_rules! assert_store_err {
    ($result:expr, $variant:ident) => {
        match $result {
            Err(domain::StoreError::$variant) => {}
            other => panic!(
                "expected StoreError::{}, got {:?}",
                stringify!($variant),
                other
            ),
        }
    };
}

mod concurrency;
mod import;
mod isolation;
mod messages;
mod pagination;
mod parts;
mod retention;
mod search;
mod store;
mod support;
mod threads;
mod trees;
