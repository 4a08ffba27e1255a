//! Arbitrary text as the `cursor` of a thread list and a message list: never a panic,
//! always refused (a cursor needs the check digest of its own list).
#![no_main]

use std::sync::{Arc, OnceLock};

use domain::{
    DomainError, MessageService, MockMessageRepository, MockThreadRepository, PageLimit,
    SortOrder, ThreadFilter, ThreadId, ThreadService, UserId,
};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(cursor) = std::str::from_utf8(data) else {
        return;
    };
    let user = UserId::parse("fuzz").expect("user id");
    let mut threads = MockThreadRepository::new();
    threads.expect_list_threads().returning(|_, _| Ok(Vec::new()));
    let threads = ThreadService::new(Arc::new(threads));
    let result = runtime().block_on(threads.list(
        &user,
        ThreadFilter::default(),
        PageLimit::DEFAULT_THREADS,
        Some(cursor),
    ));
    assert!(matches!(result, Err(DomainError::InvalidCursor)), "{result:?}");

    let mut messages = MockMessageRepository::new();
    messages.expect_list_messages().returning(|_, _, _| Ok(Vec::new()));
    let messages = MessageService::new(Arc::new(messages));
    let result = runtime().block_on(messages.list(
        &user,
        ThreadId::generate(),
        SortOrder::Asc,
        PageLimit::DEFAULT_MESSAGES,
        Some(cursor),
    ));
    assert!(matches!(result, Err(DomainError::InvalidCursor)), "{result:?}");
});
