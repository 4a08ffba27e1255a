//! Interop with a real Better Auth: runs the Node test in `interop/better-auth`, which
//! starts better-auth on PostgreSQL, signs users up, and drives this crate's binary with
//! their cookies, bearer tokens and JWTs. Part of `cargo nextest run --workspace`, so the
//! one test command covers it.

mod interop_support;

#[test]
fn a_real_better_auth_installations_credentials_work_against_the_binary() {
    interop_support::run_node_test(
        "better-auth",
        "interop.test.mjs",
        "the Better Auth interop test",
    );
}
