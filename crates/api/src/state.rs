//! What every handler shares.

use domain::{Limits, MessageService, ThreadService};

/// The application services and settings handlers need; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Thread use cases.
    pub threads: ThreadService,
    /// Message use cases.
    pub messages: MessageService,
    /// Configurable limits (content size).
    pub limits: Limits,
}
