//! Interop with the Vercel AI SDK 6: runs the Node test in `interop/ai-sdk`, which streams
//! replies from a mock model through the SDK, saves them with `PUT .../messages/{id}` as
//! they grow (`interop/ai-sdk/chat-store.mjs`, the code of `docs/guides/ai-sdk.md`), and
//! checks that the SDK accepts what this crate's binary gives back. Part of
//! `cargo nextest run --workspace`, so the one test command covers it.

use std::path::PathBuf;
use std::process::Command;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/ai-sdk")
}

fn npm(dir: &PathBuf, args: &[&str]) -> std::process::ExitStatus {
    Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!("npm is needed for the AI SDK interop test (Node.js 20 or later): {e}")
        })
}

/// Whether every package `package.json` names is installed (a checkout whose
/// `node_modules` predates a new dependency needs `npm ci` too).
fn installed(dir: &std::path::Path) -> bool {
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

#[test]
fn replies_streamed_by_the_ai_sdk_are_saved_and_read_back_as_it_produced_them() {
    let dir = interop_dir();
    if !installed(&dir) {
        let status = npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        assert!(status.success(), "npm ci in interop/ai-sdk failed");
    }
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "ai-sdk.test.mjs"])
        .current_dir(&dir)
        .env("CHAT_HISTORY_BIN", env!("CARGO_BIN_EXE_chat-history"))
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the AI SDK interop test failed (output above)"
    );
}
