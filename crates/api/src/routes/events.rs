//! `/api/v1/events`: the caller's live events as `text/event-stream`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use domain::ThreadId;

use crate::error::ApiError;
use crate::events::EventHub;
use crate::extract::AuthUser;

/// Query of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsParams {
    thread_id: Option<String>,
}

/// `GET /api/v1/events`: the caller's changes as they commit, on every replica.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(
        ("thread_id" = Option<String>, Query, format = Uuid, description = "Only the events of this thread of the caller's (404 before the stream starts when it is not one)."),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event the client received: every later event is delivered first, in order, as long as that event is still retained (`EVENTS_RETENTION_SECS`, default 300 s); otherwise (or for an id that was never issued) the stream starts with a `reset` event: reload what you show."),
    ),
    responses(
        (status = 200, description = "A `text/event-stream` that stays open. Each event has an `id:` (16 digits, increasing), an `event:` \
(`thread.created`, `thread.updated`, `thread.deleted`, `message.created`, `message.updated`, `message.deleted`, or `reset`) and one `data:` line: \
`{\"thread\": Thread}` or `{\"message\": Message}` for created/updated, `{\"thread_id\"}` or `{\"thread_id\", \"message_id\"}` for deleted, \
`{\"reason\"}` for `reset`. A `:` comment line comes every 15 s. The stream ends at shutdown, when the client reads too slowly, or when the \
database is unreachable; reconnect with `Last-Event-ID`.", content_type = "text/event-stream", body = String),
        (status = 404, description = "`thread_id` names no thread of the caller's.", body = crate::error::Problem),
        (status = 429, description = "The caller has `EVENTS_MAX_STREAMS_PER_USER` streams open on this replica already.", body = crate::error::Problem),
    ))]
pub async fn events(
    req: HttpRequest,
    AuthUser(user): AuthUser,
    params: web::Query<EventsParams>,
    hub: web::Data<EventHub>,
) -> Result<HttpResponse, ApiError> {
    let thread = params
        .thread_id
        .as_deref()
        .map(|text| {
            ThreadId::parse(text)
                .map_err(|_| ApiError::InvalidQuery("`thread_id` must be a UUID".to_owned()))
        })
        .transpose()?;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or(""));
    let start = hub
        .service()
        .start(&user.user_id, thread, last_event_id)
        .await?;
    let stream = hub.subscribe(user.user_id, thread, start)?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx and others buffer responses by default; an event stream must not wait.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
