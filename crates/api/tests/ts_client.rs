//! The typed TypeScript client (`clients/typescript`, `@chat-history/client`) against this
//! crate's binary: runs its `npm test`, which compiles it with `tsc` (strict), checks that
//! its `src/schema.ts` is what `openapi-typescript` generates from `openapi.json` now, and
//! drives every helper (threads, messages, branches, fork, the stream id's compare-and-set,
//! typed errors, export and import, live events over a streamed fetch) against the real
//! binary. Part of `cargo nextest run --workspace`, so the one test command covers it.

mod interop_support;

#[test]
fn the_typescript_client_works_against_the_binary() {
    interop_support::run_npm_test("clients/typescript", "the TypeScript client's tests");
}
