//! The chat-history domain: threads of messages that belong to one user each.
//!
//! This crate holds the entities ([`Thread`], [`Message`]), the value types whose
//! constructors make invalid values impossible ([`ThreadTitle`], [`MessageContent`],
//! [`Sources`], [`Metadata`], ...), keyset pagination ([`Page`], [`PageLimit`], cursors),
//! full-text search queries in web-search syntax ([`SearchQuery`]), the ports that storage
//! adapters implement ([`ThreadRepository`], [`MessageRepository`], [`SearchRepository`],
//! [`EventLog`] for the live events feed, and [`SessionStore`] for reading Better Auth
//! sessions) and the application services that hold the rules ([`ThreadService`],
//! [`MessageService`], [`SearchService`], [`EventService`], [`RetentionService`], [`ImportService`]).
//!
//! Architecture invariant: this crate depends on no web framework, no database driver
//! or ORM and no async runtime. Adapters depend on it, never the other way round. Mocks
//! of the ports are generated with mockall behind the `mock` feature.

#![warn(missing_docs)]

mod error;
mod event;
mod ids;
mod import;
mod json;
mod message;
mod page;
mod ports;
mod retention;
mod search;
mod services;
mod session;
mod thread;
mod time;
mod values;

pub use error::{DomainError, Resource, StoreError};
pub use event::{Change, Event, EventId, StreamStart};
pub use ids::{MessageId, ThreadId, UserId};
pub use import::{SourceConversation, SourceMessage};
pub use message::{
    DeleteScope, Message, MessagePatch, NewMessage, ParentChoice, PathMessage, text_and_parts,
};
pub use page::{
    CursorError, MessageKey, MessageListQuery, MessageView, Page, PageLimit, PathPage, PathQuery,
    PathTarget, SortOrder, ThreadKey, ThreadListQuery,
};
pub use ports::{EventLog, MessageRepository, SearchRepository, ThreadRepository};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockEventLog, MockMessageRepository, MockSearchRepository, MockThreadRepository};
pub use retention::{PurgeRule, Purged, SweepReport};
pub use search::{SearchHit, SearchKey, SearchQuery, SearchRequest, SearchTerm};
pub use services::{
    Created, EventService, IfMatch, ImportService, Imported, MessageService, RetentionService,
    SearchService, ThreadService, Upsert,
};
#[cfg(any(test, feature = "mock"))]
pub use session::MockSessionStore;
pub use session::{AuthMethod, Principal, SessionRecord, SessionStore};
pub use thread::{ArchivedFilter, NewFork, NewThread, Thread, ThreadFilter, ThreadPatch};
pub use time::Timestamp;
pub use values::{
    Feedback, FeedbackInput, Limits, MessageContent, MessageParts, MessageStatus, Metadata, Rating,
    Role, Sources, StreamId, ThreadTitle, Version,
};
