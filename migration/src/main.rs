//! `cargo run -p migration -- up` (and `down`, `status`, `fresh`, ...) against `DATABASE_URL`.
//!
//! The service applies migrations itself at start (under an advisory lock on PostgreSQL);
//! this binary is for operators who migrate as a separate deployment step.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
