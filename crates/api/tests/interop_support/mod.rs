//! Shared by the Node tests (`better_auth_interop.rs`, `ai_sdk_interop.rs`, `ts_client.rs`):
//! runs the tests of a Node package of the repository (under `interop/`, or the
//! TypeScript client in `clients/typescript`) against this crate's binary, installing the
//! package's dependencies first when any is missing. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory of the repository, from its root (`interop/ai-sdk`, `clients/typescript`).
pub fn repo_dir(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// `interop/<name>` of the repository.
pub fn interop_dir(name: &str) -> PathBuf {
    repo_dir("interop").join(name)
}

/// Whether every package `package.json` names is installed (a checkout whose
/// `node_modules` predates a new dependency needs `npm ci` too).
fn installed(dir: &Path) -> bool {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).expect("package.json"),
    )
    .expect("package.json is JSON");
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|key| manifest[key].as_object())
        .flat_map(|deps| deps.keys())
        .all(|name| {
            dir.join("node_modules")
                .join(name)
                .join("package.json")
                .exists()
        })
}

/// `npm ci` in `dir` unless every dependency is installed; panics with `what` when it fails.
fn install(dir: &Path, what: &str) {
    if !installed(dir) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .unwrap_or_else(|e| panic!("npm is needed for {what} (Node.js 20 or later): {e}"));
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
}

/// Runs `node --test <file>` in `interop/<name>` with `CHAT_HISTORY_BIN` set, after
/// `npm ci` when needed; panics with `what` when it fails.
pub fn run_node_test(name: &str, file: &str, what: &str) {
    let dir = interop_dir(name);
    install(&dir, what);
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", file])
        .current_dir(&dir)
        .env("CHAT_HISTORY_BIN", env!("CARGO_BIN_EXE_chat-history"))
        .status()
        .expect("node runs");
    assert!(status.success(), "{what} failed (output above)");
}

/// Runs `npm test` in the package at `relative` (from the repository root) with
/// `CHAT_HISTORY_BIN` set, after `npm ci` when needed; panics with `what` when it fails.
pub fn run_npm_test(relative: &str, what: &str) {
    let dir = repo_dir(relative);
    install(&dir, what);
    let status = Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&dir)
        .env("CHAT_HISTORY_BIN", env!("CARGO_BIN_EXE_chat-history"))
        .status()
        .unwrap_or_else(|e| panic!("npm is needed for {what} (Node.js 20 or later): {e}"));
    assert!(status.success(), "{what} failed (output above)");
}
