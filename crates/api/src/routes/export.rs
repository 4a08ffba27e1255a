//! `GET /api/v1/threads/{thread_id}/export`: a whole thread as one download, streamed page
//! by page so that a long thread never sits in memory as one string.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures::stream::{self, Stream, StreamExt as _};
use serde::Deserialize;

use domain::{
    DomainError, Message, MessageService, MessageStatus, Page, PageLimit, PathTarget, SortOrder,
    Thread, ThreadId, UserId,
};
use serde_json::Value;

use crate::dto::{MessageResponse, ThreadResponse};
use crate::error::ApiError;
use crate::extract::{AuthUser, thread_id};
use crate::state::AppState;

/// Query of the export route.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Markdown,
}

/// How the export is written: a head, each message, a tail.
trait Writer {
    fn head(&self, thread: &Thread) -> String;
    fn message(&self, message: &Message, first: bool) -> String;
    fn tail(&self) -> String;
}

struct JsonWriter;

impl Writer for JsonWriter {
    fn head(&self, thread: &Thread) -> String {
        let thread = serde_json::to_string(&ThreadResponse::from(thread)).unwrap_or_default();
        format!("{{\"thread\":{thread},\"messages\":[")
    }

    fn message(&self, message: &Message, first: bool) -> String {
        let json = serde_json::to_string(&MessageResponse::from(message)).unwrap_or_default();
        if first { json } else { format!(",{json}") }
    }

    fn tail(&self) -> String {
        "]}".to_owned()
    }
}

struct MarkdownWriter;

/// `text` in a fenced code block whose fence is longer than any run of backticks in it.
fn fenced(out: &mut String, language: &str, text: &str) {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    out.push_str(&format!("{fence}{language}\n{text}\n{fence}\n\n"));
}

/// A JSON value, pretty-printed, in a fenced block.
fn fenced_json(out: &mut String, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    fenced(out, "json", &text);
}

/// A message's parts, readably: text as it is, reasoning as a quote, tool calls and
/// results and data as fenced JSON, sources as links, files by name and media type; a
/// part of another type as fenced JSON.
fn render_parts(out: &mut String, parts: &[Value]) {
    for part in parts {
        let field = |name: &str| part.get(name).and_then(Value::as_str).unwrap_or("");
        let kind = field("type");
        match kind {
            "text" => {
                out.push_str(field("text"));
                out.push_str("\n\n");
            }
            "reasoning" => {
                out.push_str("> **Reasoning**\n>\n");
                for line in field("text").lines() {
                    out.push_str(&format!("> {line}\n"));
                }
                out.push('\n');
            }
            "step-start" => {}
            "source-url" => {
                let url = one_line(field("url"));
                let title = Some(one_line(field("title")))
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| url.clone());
                out.push_str(&format!("- Source: [{title}](<{url}>)\n\n"));
            }
            "source-document" => {
                out.push_str(&format!(
                    "- Source document: {} ({})\n\n",
                    one_line(field("title")),
                    one_line(field("mediaType"))
                ));
            }
            "file" => {
                let name = Some(one_line(field("filename")))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "unnamed file".into());
                out.push_str(&format!(
                    "- File: `{name}` ({})\n\n",
                    one_line(field("mediaType"))
                ));
            }
            _ if kind == "dynamic-tool" || kind.starts_with("tool-") => {
                let name = if kind == "dynamic-tool" {
                    field("toolName")
                } else {
                    &kind["tool-".len()..]
                };
                out.push_str(&format!(
                    "**Tool `{}`** ({})\n\n",
                    one_line(name),
                    one_line(field("state"))
                ));
                if let Some(input) = part.get("input") {
                    out.push_str("Input:\n\n");
                    fenced_json(out, input);
                }
                if let Some(output) = part.get("output") {
                    out.push_str("Output:\n\n");
                    fenced_json(out, output);
                }
                if !field("errorText").is_empty() {
                    out.push_str("Error:\n\n");
                    fenced(out, "text", field("errorText"));
                }
            }
            _ if kind.starts_with("data-") => {
                out.push_str(&format!(
                    "**Data `{}`**\n\n",
                    one_line(&kind["data-".len()..])
                ));
                fenced_json(out, part.get("data").unwrap_or(&Value::Null));
            }
            _ => {
                out.push_str(&format!("**Part `{}`**\n\n", one_line(kind)));
                fenced_json(out, part);
            }
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Writer for MarkdownWriter {
    fn head(&self, thread: &Thread) -> String {
        let title = if thread.title.as_str().trim().is_empty() {
            "Untitled thread".to_owned()
        } else {
            one_line(thread.title.as_str())
        };
        format!(
            "# {title}\n\n- Thread: `{}`\n- Created: {}\n- Messages: {} on every branch; below, the active path\n\n",
            thread.id, thread.created_at, thread.message_count
        )
    }

    fn message(&self, message: &Message, _first: bool) -> String {
        let mut out = format!("---\n\n## {} · {}", message.role, message.created_at);
        if message.status != MessageStatus::Complete {
            out.push_str(&format!(" ({})", message.status.as_str()));
        }
        out.push_str("\n\n");
        if message.parts.is_derived() {
            out.push_str(message.content.as_str());
            out.push('\n');
        } else {
            render_parts(&mut out, &message.parts.items());
        }
        let sources = message.sources.items();
        if !sources.is_empty() {
            out.push_str("\nSources:\n\n");
            for source in &sources {
                let field = |name: &str| source.get(name).and_then(|v| v.as_str()).map(one_line);
                let url = field("url");
                let title = field("title")
                    .or_else(|| url.clone())
                    .unwrap_or_else(|| "source".into());
                let line = match url {
                    Some(url) => format!("- [{title}](<{url}>)"),
                    None => format!("- {title}"),
                };
                out.push_str(&line);
                if let Some(snippet) = field("snippet").filter(|s| !s.is_empty()) {
                    out.push_str(&format!(": {snippet}"));
                }
                out.push('\n');
            }
        }
        out.push('\n');
        out
    }

    fn tail(&self) -> String {
        String::new()
    }
}

struct Pages {
    service: MessageService,
    user: UserId,
    thread: ThreadId,
    cursor: Option<String>,
    done: bool,
    first: bool,
    /// The active path only (markdown), rather than every message on every branch (JSON).
    active_path: bool,
    /// The request's span: the body is streamed after the handler returned, outside it,
    /// and a line logged mid-stream must still carry the request id.
    span: tracing::Span,
}

impl Pages {
    /// The walk over `thread`'s messages from the first page, logging in `span`.
    fn new(
        service: MessageService,
        user: UserId,
        thread: ThreadId,
        active_path: bool,
        span: tracing::Span,
    ) -> Self {
        Self {
            service,
            user,
            thread,
            cursor: None,
            done: false,
            first: true,
            active_path,
            span,
        }
    }
}

/// The messages of a thread in `(created_at, id)` order (all of them, or those of the active
/// path), fetched 100 at a time.
fn message_chunks(
    pages: Pages,
    writer: &'static (dyn Writer + Sync),
) -> impl Stream<Item = Result<Bytes, DomainError>> {
    stream::unfold(pages, move |mut state| async move {
        if state.done {
            return None;
        }
        let limit = PageLimit::parse(100).unwrap_or(PageLimit::DEFAULT_MESSAGES);
        let page = if state.active_path {
            state
                .service
                .list_path(
                    &state.user,
                    state.thread,
                    PathTarget::Active,
                    SortOrder::Asc,
                    limit,
                    state.cursor.as_deref(),
                )
                .await
                .map(|page| Page {
                    items: page.items.into_iter().map(|m| m.message).collect(),
                    next_cursor: page.next_cursor,
                })
        } else {
            state
                .service
                .list(
                    &state.user,
                    state.thread,
                    SortOrder::Asc,
                    limit,
                    state.cursor.as_deref(),
                )
                .await
        };
        match page {
            Ok(page) => {
                let mut chunk = String::new();
                for message in &page.items {
                    chunk.push_str(&writer.message(message, state.first));
                    state.first = false;
                }
                state.done = page.next_cursor.is_none();
                state.cursor = page.next_cursor;
                Some((Ok(Bytes::from(chunk)), state))
            }
            Err(e) => {
                state
                    .span
                    .in_scope(|| tracing::error!(error = %e, "export failed mid-stream"));
                state.done = true;
                Some((Err(e), state))
            }
        }
    })
}

/// `GET /api/v1/threads/{thread_id}/export?format=json|markdown`.
#[utoipa::path(get, path = "/api/v1/threads/{thread_id}/export", tag = "threads",
    params(
        ("thread_id" = uuid::Uuid, Path),
        ("format" = Option<crate::dto::ExportFormatSchema>, Query, description = "`json` (default) or `markdown`."),
    ),
    responses(
        (status = 200, description = "The whole thread as an attachment: JSON `{\"thread\": Thread, \"messages\": [Message]}` with every message on every branch in `created_at, id` order (each with its `parent_id`; the thread with its `active_leaf_id`), or Markdown of the active path.",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"thread-<id>.json\"` (or `.md`).")),
            content(
                (ExportDocument = "application/json"),
                (String = "text/markdown; charset=utf-8"),
            )),
    ))]
pub async fn export_thread(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = thread_id(&path)?;
    let format = match query.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("markdown") => Format::Markdown,
        Some(_) => {
            return Err(ApiError::InvalidQuery(
                "`format` must be json or markdown".into(),
            ));
        }
    };
    let thread = state.threads.get(&user.user_id, id).await?;
    let (writer, content_type, extension): (&'static (dyn Writer + Sync), _, _) = match format {
        Format::Json => (&JsonWriter, "application/json", "json"),
        Format::Markdown => (&MarkdownWriter, "text/markdown; charset=utf-8", "md"),
    };
    let pages = Pages::new(
        state.messages.clone(),
        user.user_id.clone(),
        id,
        matches!(format, Format::Markdown),
        tracing::Span::current(),
    );
    let head = stream::once(futures::future::ready(Ok(Bytes::from(
        writer.head(&thread),
    ))));
    let tail = stream::once(futures::future::ready(Ok(Bytes::from(writer.tail()))));
    let body = head
        .chain(message_chunks(pages, writer))
        .chain(tail)
        .map(|chunk: Result<Bytes, DomainError>| chunk.map_err(ApiError::from));
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "thread-{id}.{extension}"
            ))],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// The JSON export's shape, for the OpenAPI document.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ExportDocument {
    thread: ThreadResponse,
    messages: Vec<MessageResponse>,
}

/// Threads fetched per statement of the history export.
const THREADS_PER_PAGE: u64 = 100;

/// The history export's walk over the caller's threads, in id order.
struct ThreadWalk {
    state: web::Data<AppState>,
    user: UserId,
    after: Option<ThreadId>,
    done: bool,
    span: tracing::Span,
}

/// The caller's threads, fetched [`THREADS_PER_PAGE`] at a time.
fn all_threads(walk: ThreadWalk) -> impl Stream<Item = Result<Thread, DomainError>> {
    stream::unfold(walk, |mut walk| async move {
        if walk.done {
            return None;
        }
        match walk
            .state
            .threads
            .walk(&walk.user, walk.after, THREADS_PER_PAGE)
            .await
        {
            Ok(page) => {
                walk.done = (page.len() as u64) < THREADS_PER_PAGE;
                walk.after = page.last().map(|t| t.id);
                Some((Ok(page), walk))
            }
            Err(e) => {
                walk.span
                    .in_scope(|| tracing::error!(error = %e, "history export failed mid-stream"));
                walk.done = true;
                Some((Err(e), walk))
            }
        }
    })
    .flat_map(|page| match page {
        Ok(threads) => stream::iter(threads.into_iter().map(Ok)).left_stream(),
        Err(e) => stream::once(futures::future::ready(Err(e))).right_stream(),
    })
}

/// One NDJSON line: `{"thread": Thread, "messages": [...]}` and a line feed, its messages
/// streamed page by page. A thread deleted while it is being written ends its line with
/// the messages read so far.
fn thread_line(
    state: &web::Data<AppState>,
    user: &UserId,
    thread: &Thread,
    span: &tracing::Span,
) -> impl Stream<Item = Result<Bytes, DomainError>> + use<> {
    let pages = Pages::new(
        state.messages.clone(),
        user.clone(),
        thread.id,
        false,
        span.clone(),
    );
    let head = stream::once(futures::future::ready(Ok(Bytes::from(
        JsonWriter.head(thread),
    ))));
    let messages = message_chunks(pages, &JsonWriter).take_while(|chunk| {
        futures::future::ready(!matches!(
            chunk,
            Err(DomainError::NotFound(domain::Resource::Thread))
        ))
    });
    let tail = stream::once(futures::future::ready(Ok(Bytes::from_static(b"]}\n"))));
    head.chain(messages).chain(tail)
}

/// `GET /api/v1/me/export`: all of the caller's history, one thread per line.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "account",
    responses(
        (status = 200, description = "All of the caller's threads (archived too; not expired ones), in id order (UUIDv7 ids: creation order), one per line as `{\"thread\": Thread, \"messages\": [Message]}` with every message on every branch in `created_at, id` order, streamed: memory stays bounded whatever the history's size. A thread created during the export may or may not be in it; one deleted during it may end its line early. `POST /api/v1/me/import?format=chat-history` reads this file back.",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"chat-history.ndjson\"`.")),
            content((ExportDocument = "application/x-ndjson"))),
    ))]
pub async fn export_history(
    AuthUser(user): AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let span = tracing::Span::current();
    let walk = ThreadWalk {
        state: state.clone(),
        user: user.user_id.clone(),
        after: None,
        done: false,
        span: span.clone(),
    };
    let user_id = user.user_id.clone();
    let body = all_threads(walk)
        .flat_map(move |thread| match thread {
            Ok(thread) => thread_line(&state, &user_id, &thread, &span).left_stream(),
            Err(e) => stream::once(futures::future::ready(Err(e))).right_stream(),
        })
        .map(|chunk: Result<Bytes, DomainError>| chunk.map_err(ApiError::from));
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename("chat-history.ndjson".to_owned())],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
