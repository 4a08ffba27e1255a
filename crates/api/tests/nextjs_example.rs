//! The reference front end (`examples/nextjs`: Next.js App Router, Better Auth with its
//! `jwt` plugin on PostgreSQL, the AI SDK's `useChat`, `@chat-history/client`) against this
//! crate's binary: runs its `npm test`, which migrates Better Auth's tables into a fresh
//! PostgreSQL database, starts the binary (JWTs verified through the app's JWKS), builds
//! and starts the app, and drives Debian's Chromium with playwright-core: sign up, chat,
//! reload, edit and switch versions, regenerate, stop, reload mid-reply, a second tab,
//! search, pin, archive, export. Screenshots go to `examples/nextjs/test-output/`. Part
//! of `cargo nextest run --workspace`, so the one test command covers it.

mod interop_support;

#[test]
fn the_nextjs_example_works_in_a_browser() {
    interop_support::run_npm_test("examples/nextjs", "the Next.js example's browser test");
}
