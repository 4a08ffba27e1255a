//! Interop with a real Better Auth: runs the Node test in `interop/better-auth`, which
//! starts better-auth on PostgreSQL, signs users up, and drives this crate's binary with
//! their cookies, bearer tokens and JWTs. Part of `cargo nextest run --workspace`, so the
//! one test command covers it.

use std::path::PathBuf;
use std::process::Command;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/better-auth")
}

fn npm(dir: &PathBuf, args: &[&str]) -> std::process::ExitStatus {
    Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!("npm is needed for the Better Auth interop test (Node.js 20 or later): {e}")
        })
}

#[test]
fn a_real_better_auth_installations_credentials_work_against_the_binary() {
    let dir = interop_dir();
    if !dir.join("node_modules/better-auth").exists() {
        let status = npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        assert!(status.success(), "npm ci in interop/better-auth failed");
    }
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "interop.test.mjs"])
        .current_dir(&dir)
        .env("CHAT_HISTORY_BIN", env!("CARGO_BIN_EXE_chat-history"))
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the Better Auth interop test failed (output above)"
    );
}
