//! Application services: the use cases, with the rules that hold whatever the adapter.

mod events;
mod import;
mod messages;
mod retention;
mod search;
mod threads;

pub use events::EventService;
pub use import::{ImportService, Imported};
pub use messages::MessageService;
pub use retention::RetentionService;
pub use search::SearchService;
pub use threads::ThreadService;

use crate::Version;

/// The result of a create: the stored resource, and whether it already existed (an
/// idempotent replay) rather than being created now.
#[derive(Debug, Clone, PartialEq)]
pub struct Created<T> {
    /// The stored resource.
    pub value: T,
    /// `true` when an identical create with the same client id had already stored it.
    pub replayed: bool,
}

/// The result of a create-or-replace (`PUT`).
#[derive(Debug, Clone, PartialEq)]
pub enum Upsert<T> {
    /// Nothing had this id: created now.
    Created(T),
    /// Replaced what had this id.
    Replaced(T),
}

/// An update's precondition (HTTP `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IfMatch {
    /// No precondition.
    #[default]
    Any,
    /// `*`: the resource must merely exist (a `PUT` of a message that does not exist yet
    /// fails it).
    Exists,
    /// The current version must be one of these. An empty list matches nothing.
    OneOf(Vec<Version>),
}

impl IfMatch {
    fn into_expected(self) -> Option<Vec<Version>> {
        match self {
            Self::Any | Self::Exists => None,
            Self::OneOf(versions) => Some(versions),
        }
    }
}
