//! What every handler shares.

use domain::{Limits, MessageService, SearchService, ThreadService};

/// The application services and settings handlers need; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Thread use cases.
    pub threads: ThreadService,
    /// Message use cases.
    pub messages: MessageService,
    /// Full-text search.
    pub search: SearchService,
    /// Configurable limits (content size).
    pub limits: Limits,
}
