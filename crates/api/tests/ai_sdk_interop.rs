//! Interop with the Vercel AI SDK 6: runs the Node test in `interop/ai-sdk`, which streams
//! replies from a mock model through the SDK, saves them with `PUT .../messages/{id}` as
//! they grow (`interop/ai-sdk/chat-store.mjs`, the code of `docs/guides/ai-sdk.md`), checks
//! that the SDK accepts what this crate's binary gives back, and type-checks the SDK's
//! `UIMessage`s against a client generated from `/openapi.json`. Part of
//! `cargo nextest run --workspace`, so the one test command covers it.

mod interop_support;

#[test]
fn replies_streamed_by_the_ai_sdk_are_saved_and_read_back_as_it_produced_them() {
    interop_support::run_node_test("ai-sdk", "ai-sdk.test.mjs", "the AI SDK interop test");
}
