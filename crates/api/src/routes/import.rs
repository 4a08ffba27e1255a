//! `POST /api/v1/me/import`: a whole export file (this service's, ChatGPT's or Claude's)
//! into the caller's history.
//!
//! The body is spooled to an unnamed temporary file as it arrives (at most
//! `MAX_IMPORT_BYTES`), then read twice by [`crate::import::run::import_file`]: a file that
//! is not whole changes nothing, and memory never holds the file.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use futures::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use domain::DomainError;

use crate::error::ApiError;
use crate::extract::{AuthUser, BodyTimeout};
use crate::import::run::{ImportFailure, ImportReport, import_file};
use crate::import::{FileError, Format};
use crate::state::AppState;

/// Imports one process runs at once; one more is answered 429 with `Retry-After`.
pub const AT_ONCE: usize = 2;

/// Query of the import route.
#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    format: Option<String>,
}

/// An I/O failure of the spool file: the server's fault, not the client's.
fn spool_error(err: std::io::Error) -> ApiError {
    ApiError::Domain(DomainError::Unexpected(Box::new(err)))
}

/// Writes the body to a temporary file, refusing it beyond `limit` bytes and when a chunk
/// takes longer than `timeout` to arrive.
async fn spool(
    mut payload: web::Payload,
    limit: u64,
    timeout: std::time::Duration,
) -> Result<std::fs::File, ApiError> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let file = tempfile::tempfile().map_err(spool_error)?;
    let mut out = tokio::fs::File::from_std(file);
    let mut written: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(timeout, payload.next()).await {
            Err(_) => return Err(ApiError::RequestTimeout),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|e| match e {
                actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge(limit_usize),
                other => ApiError::MalformedJson(other.to_string()),
            })?,
        };
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::PayloadTooLarge(limit_usize));
        }
        out.write_all(&chunk).await.map_err(spool_error)?;
    }
    out.flush().await.map_err(spool_error)?;
    Ok(out.into_std().await)
}

/// What a client sees when the file itself is unusable.
fn file_failure(failure: ImportFailure) -> ApiError {
    match failure {
        ImportFailure::File {
            source: FileError::Syntax { .. } | FileError::Truncated { .. },
            format,
            ..
        } => ApiError::MalformedJson(format!(
            "the file is not a whole {format} export ({})",
            failure_source(&failure)
        )),
        ImportFailure::File {
            source: FileError::NotAnArray,
            format,
        } => ApiError::Domain(DomainError::invalid(
            "body",
            format!("must be a {format} export: a JSON array of conversations"),
        )),
        ImportFailure::File {
            source: FileError::Io(err),
            ..
        } => spool_error(err),
        ImportFailure::Store(err) => ApiError::Domain(err),
    }
}

fn failure_source(failure: &ImportFailure) -> String {
    std::error::Error::source(failure).map_or_else(String::new, ToString::to_string)
}

/// `POST /api/v1/me/import?format=chat-history|chatgpt|claude`.
#[utoipa::path(post, path = "/api/v1/me/import", tag = "account",
    params(
        ("format" = Option<crate::dto::ImportFormatSchema>, Query, description = "`chat-history` (default: this service's NDJSON export, `GET /api/v1/me/export`), `chatgpt` (ChatGPT's `conversations.json`) or `claude` (Claude's `conversations.json`)."),
    ),
    request_body(content = String, description = "The export file as it is, whatever its content type, at most `MAX_IMPORT_BYTES` (default 256 MiB).", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "What was imported. Each conversation becomes one thread, all or none, keeping the source's timestamps (a ChatGPT conversation's tree becomes the message tree, its `current_node` the active leaf). Ids are derived from the source's ids and the caller, so importing the same file again creates nothing twice (`threads_skipped`), and two users importing the same file never collide. Conversations that break a rule are listed in `errors` and the others are imported. An import produces the live events of what it stored.", body = ImportReport),
        (status = 400, description = "The file is not whole (broken or truncated JSON): nothing was imported.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than `MAX_IMPORT_BYTES`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is empty, or JSON but not an export of this format: nothing was imported.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "This process is running as many imports as it runs at once; retry after `Retry-After` seconds.", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_history(
    AuthUser(user): AuthUser,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let format = match query.format.as_deref() {
        None => Format::ChatHistory,
        Some(name) => name.parse().map_err(|_| {
            ApiError::InvalidQuery("`format` must be chat-history, chatgpt or claude".into())
        })?,
    };
    let limit = state.max_import_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(
            usize::try_from(limit).unwrap_or(usize::MAX),
        ));
    }
    let Ok(_permit) = state.imports.clone().try_acquire_owned() else {
        return Err(ApiError::RateLimited(crate::error::RETRY_AFTER_SECS));
    };
    let timeout = req
        .app_data::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(15), |t| t.0);
    let file = spool(payload, limit, timeout).await?;
    if file.metadata().map_err(spool_error)?.len() == 0 {
        // An empty body is a client that forgot the file (`--data-binary @file`), not an
        // empty history: say so rather than report nothing imported.
        return Err(ApiError::Domain(DomainError::invalid(
            "body",
            "is empty: send the export file as the body",
        )));
    }
    let report = import_file(&state.import, &user.user_id, format, file, |_| {})
        .await
        .map_err(file_failure)?;
    tracing::info!(
        format = %format,
        threads_created = report.threads_created,
        threads_skipped = report.threads_skipped,
        messages_created = report.messages_created,
        errors = report.errors.len(),
        "imported history"
    );
    Ok(HttpResponse::Ok().json(report))
}
