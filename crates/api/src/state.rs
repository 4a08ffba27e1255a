//! What every handler shares.

use std::sync::Arc;

use domain::{ImportService, Limits, MessageService, SearchService, ThreadService};

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
    /// Imports of export files.
    pub import: ImportService,
    /// Largest import file (`MAX_IMPORT_BYTES`).
    pub max_import_bytes: u64,
    /// Imports this process runs at once (each spools its file to disk first).
    pub imports: Arc<tokio::sync::Semaphore>,
}
