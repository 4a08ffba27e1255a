//! `/api/v1/threads` and `/api/v1/threads/{thread_id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use domain::{ArchivedFilter, PageLimit, ThreadFilter};

use crate::dto::{CreateThreadBody, ForkBody, PageResponse, ThreadResponse, UpdateThreadBody};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody, if_match, thread_id};
use crate::routes::{create_response, json, resource};
use crate::state::AppState;

/// Query of `GET /api/v1/threads`.
#[derive(Debug, Deserialize)]
pub struct ListThreadsQuery {
    limit: Option<String>,
    cursor: Option<String>,
    archived: Option<String>,
    pinned: Option<String>,
}

/// Parses `limit`: 400 when not an integer, 422 when outside 1..=100.
pub(crate) fn page_limit(raw: Option<&str>, default: PageLimit) -> Result<PageLimit, ApiError> {
    match raw {
        None => Ok(default),
        Some(text) => {
            let n: i64 = text
                .parse()
                .map_err(|_| ApiError::InvalidQuery("`limit` must be an integer".into()))?;
            Ok(PageLimit::parse(n)?)
        }
    }
}

fn bool_param(name: &str, raw: &str) -> Result<bool, ApiError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::InvalidQuery(format!(
            "`{name}` must be true or false"
        ))),
    }
}

fn filter(query: &ListThreadsQuery) -> Result<ThreadFilter, ApiError> {
    let archived = match query.archived.as_deref() {
        None | Some("false") => ArchivedFilter::Active,
        Some("true") => ArchivedFilter::Archived,
        Some("all") => ArchivedFilter::All,
        Some(_) => {
            return Err(ApiError::InvalidQuery(
                "`archived` must be false, true or all".into(),
            ));
        }
    };
    let pinned = query
        .pinned
        .as_deref()
        .map(|p| bool_param("pinned", p))
        .transpose()?;
    Ok(ThreadFilter { archived, pinned })
}

/// `GET /api/v1/threads`: the caller's threads, most recently updated first.
#[utoipa::path(get, path = "/api/v1/threads", tag = "threads",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size, default 20."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`next_cursor` of the previous page."),
        ("archived" = Option<crate::dto::ArchivedSchema>, Query, description = "`false` (default), `true` or `all`."),
        ("pinned" = Option<bool>, Query, description = "Only pinned (`true`) or unpinned (`false`) threads."),
    ),
    responses((status = 200, description = "One page of threads, most recently updated first.", body = PageResponse<ThreadResponse>)))]
pub async fn list_threads(
    AuthUser(user): AuthUser,
    query: web::Query<ListThreadsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(&query)?;
    let limit = page_limit(query.limit.as_deref(), PageLimit::DEFAULT_THREADS)?;
    let page = state
        .threads
        .list(&user.user_id, filter, limit, query.cursor.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &PageResponse {
            has_more: page.has_more(),
            data: page.items.into_iter().map(ThreadResponse::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// `POST /api/v1/threads`: creates a thread (201), or replays an identical create (200).
#[utoipa::path(post, path = "/api/v1/threads", tag = "threads", request_body = CreateThreadBody,
    responses(
        (status = 201, description = "Created.", body = ThreadResponse,
            headers(("Location" = String, description = "The thread's URL."), ("ETag" = String))),
        (status = 200, description = "An identical create with the same `id` was replayed; nothing new was stored.", body = ThreadResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`."), ("Location" = String), ("ETag" = String))),
    ))]
pub async fn create_thread(
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<CreateThreadBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .threads
        .create(&user.user_id, body.try_into_domain()?)
        .await?;
    Ok(created_thread(&created))
}

/// `GET /api/v1/threads/{thread_id}`.
#[utoipa::path(get, path = "/api/v1/threads/{thread_id}", tag = "threads",
    params(("thread_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, description = "The thread.", body = ThreadResponse, headers(("ETag" = String))),
        (status = 304, description = "`If-None-Match` names the current ETag."),
    ))]
pub async fn get_thread(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = thread_id(&path)?;
    let thread = state.threads.get(&user.user_id, id).await?;
    Ok(resource(
        &req,
        thread.version,
        &ThreadResponse::from(&thread),
    ))
}

/// `PATCH /api/v1/threads/{thread_id}`: partial update, honouring `If-Match`.
#[utoipa::path(patch, path = "/api/v1/threads/{thread_id}", tag = "threads",
    params(("thread_id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "Update only if the ETag still matches.")),
    request_body = UpdateThreadBody,
    responses((status = 200, description = "The updated thread.", body = ThreadResponse, headers(("ETag" = String)))))]
pub async fn update_thread(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    req: HttpRequest,
    JsonBody(body): JsonBody<UpdateThreadBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = thread_id(&path)?;
    let patch = body.try_into_domain()?;
    let thread = state
        .threads
        .update(&user.user_id, id, patch, if_match(&req))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::ETAG, thread.version.etag()))
        .json(ThreadResponse::from(&thread)))
}

/// `POST /api/v1/threads/{thread_id}/fork`: a new thread holding copies of the path from
/// the root to a message (201), or a replayed identical fork (200).
#[utoipa::path(post, path = "/api/v1/threads/{thread_id}/fork", tag = "threads",
    params(("thread_id" = uuid::Uuid, Path)), request_body = ForkBody,
    responses(
        (status = 201, description = "A new thread of the caller holding copies (new ids; same role, content, sources, metadata and `created_at`) of the path from the root to `message_id`; its active leaf is the last copy; its title defaults to the source's; its `metadata` is the source's plus `forked_from: {thread_id, message_id}`.", body = ThreadResponse,
            headers(("Location" = String, description = "The new thread's URL."), ("ETag" = String))),
        (status = 200, description = "An identical fork with the same `id` was replayed; nothing new was stored.", body = ThreadResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`."), ("Location" = String), ("ETag" = String))),
        (status = 404, description = "`thread_not_found`: the source thread is not the caller's.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_message` (`field` `message_id`): the message is not in the source thread; or another invalid field.", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn fork_thread(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ForkBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let source = thread_id(&path)?;
    let created = state
        .threads
        .fork(&user.user_id, source, body.try_into_domain()?)
        .await?;
    Ok(created_thread(&created))
}

/// 201 with `Location` and `ETag` for a new thread, or 200 `Idempotent-Replayed` for a
/// replay: what thread creation and fork answer.
fn created_thread(created: &domain::Created<domain::Thread>) -> HttpResponse {
    let thread = &created.value;
    create_response(created.replayed, format!("/api/v1/threads/{}", thread.id))
        .insert_header((actix_web::http::header::ETAG, thread.version.etag()))
        .json(ThreadResponse::from(thread))
}

/// `DELETE /api/v1/threads/{thread_id}`: the thread and all its messages.
#[utoipa::path(delete, path = "/api/v1/threads/{thread_id}", tag = "threads",
    params(("thread_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted, with all its messages.")))]
pub async fn delete_thread(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = thread_id(&path)?;
    state.threads.delete(&user.user_id, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
