//! Running an import: a file of any size, read twice from disk (once to check that it is
//! a whole file of its format, then to store it conversation by conversation), so that a
//! file broken half-way changes nothing, and memory holds a few conversations at most.

use std::fs::File;
use std::io::{BufReader, Read, Seek as _};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::{DomainError, ImportService, Imported, UserId};
use serde::Serialize;

use super::{FileError, Format, read_conversations};

/// The most conversation errors a report lists; an import goes on past them.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// What an import did: the answer of `POST /api/v1/me/import`, and what `chat-history
/// import` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Conversations stored now, each as a thread.
    pub threads_created: u64,
    /// Conversations imported before (or temporary chats that have expired): nothing
    /// stored for them.
    pub threads_skipped: u64,
    /// Messages stored now.
    pub messages_created: u64,
    /// Conversations that could not be imported (nothing of each was stored), in file
    /// order; at most the first 1,000.
    pub errors: Vec<ImportIssue>,
}

/// One conversation that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportIssue {
    /// Its 0-based position in the file (chat-history files: among the non-blank lines).
    pub index: usize,
    /// Why, for a person.
    pub detail: String,
}

/// How far an import has come, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file read (the second pass).
    pub bytes: u64,
    /// The file's size.
    pub total_bytes: u64,
    /// Conversations done (stored, skipped or failed).
    pub conversations: u64,
}

/// Why an import stopped as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file is not a whole file of its format: nothing was stored.
    #[error("the file is not a {format} export")]
    File {
        /// The format it was read as.
        format: Format,
        /// What is wrong with it.
        #[source]
        source: FileError,
    },
    /// Storage failed: the conversations before were stored (importing the file again
    /// goes on where this one stopped, creating nothing twice).
    #[error("storage failed during the import")]
    Store(#[source] DomainError),
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Imports `file` (a whole file of `format`) into `user`'s history; `progress` is called
/// after each conversation.
///
/// # Errors
/// [`ImportFailure::File`] before anything is stored when the file is not a whole file of
/// its format; [`ImportFailure::Store`] when storage fails (what was stored stays).
pub async fn import_file(
    service: &ImportService,
    user: &UserId,
    format: Format,
    mut file: File,
    mut progress: impl FnMut(Progress),
) -> Result<ImportReport, ImportFailure> {
    let failed = |source| ImportFailure::File { format, source };
    let total_bytes = file.metadata().map_err(|e| failed(e.into()))?.len();
    // Pass 1: the whole file parses (conversations that are unusable are fine here). A
    // clone shares the file's position: both passes start from the beginning.
    file.rewind().map_err(|e| failed(e.into()))?;
    let check = file.try_clone().map_err(|e| failed(e.into()))?;
    tokio::task::spawn_blocking(move || {
        read_conversations(format, BufReader::new(check), |_, _| {
            ControlFlow::Continue(())
        })
    })
    .await
    .map_err(|e| failed(std::io::Error::other(e).into()))?
    .map_err(failed)?;
    file.rewind().map_err(|e| failed(e.into()))?;

    // Pass 2: a reader thread parses, this task stores. One conversation waits between
    // them at most: a parsed conversation is a JSON tree several times its size in the
    // file, so the queue, not the file, bounds the memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let read = Arc::new(AtomicU64::new(0));
    let reader = Counting {
        inner: file,
        read: read.clone(),
    };
    let parser = tokio::task::spawn_blocking(move || {
        read_conversations(format, BufReader::new(reader), |index, conversation| {
            match tx.blocking_send((index, conversation)) {
                Ok(()) => ControlFlow::Continue(()),
                // The importer stopped (storage failed): so does reading.
                Err(_) => ControlFlow::Break(()),
            }
        })
    });
    let mut report = ImportReport::default();
    let mut done = 0u64;
    while let Some((index, conversation)) = rx.recv().await {
        let outcome = match conversation {
            Ok(conversation) => service.import(user, format.as_str(), conversation).await,
            Err(err) => Err(DomainError::invalid("conversation", err.detail)),
        };
        match outcome {
            Ok(Imported::Created { messages }) => {
                report.threads_created += 1;
                report.messages_created += messages;
            }
            Ok(Imported::Skipped) => report.threads_skipped += 1,
            Err(err @ (DomainError::Unavailable(_) | DomainError::Unexpected(_))) => {
                drop(rx);
                let _ = parser.await;
                return Err(ImportFailure::Store(err));
            }
            Err(err) => {
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report.errors.push(ImportIssue {
                        index,
                        detail: issue(&err),
                    });
                }
            }
        }
        done += 1;
        progress(Progress {
            bytes: read.load(Ordering::Relaxed),
            total_bytes,
            conversations: done,
        });
    }
    parser
        .await
        .map_err(|e| failed(std::io::Error::other(e).into()))?
        .map_err(failed)?;
    Ok(report)
}

/// A conversation's error as the report says it.
fn issue(err: &DomainError) -> String {
    match err {
        DomainError::Invalid { field, reason } if field == "conversation" => reason.clone(),
        DomainError::Invalid { field, reason } => format!("{field}: {reason}"),
        DomainError::IdConflict => "its id is taken by another thread".to_owned(),
        other => other.to_string(),
    }
}
