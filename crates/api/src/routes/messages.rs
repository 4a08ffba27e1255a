//! `/api/v1/threads/{thread_id}/messages` and below.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use domain::{DomainError, PageLimit, SortOrder};

use crate::dto::{
    BatchBody, CreateMessageBody, DataResponse, MessageResponse, PageResponse, UpdateMessageBody,
};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody, from_value, if_match, message_id, thread_id};
use crate::routes::threads::page_limit;
use crate::routes::{create_response, json_sized, resource};
use crate::state::AppState;

/// Query of `GET /api/v1/threads/{thread_id}/messages`.
#[derive(Debug, Deserialize)]
pub struct ListMessagesQuery {
    limit: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
}

fn order(raw: Option<&str>) -> Result<SortOrder, ApiError> {
    match raw {
        None | Some("asc") => Ok(SortOrder::Asc),
        Some("desc") => Ok(SortOrder::Desc),
        Some(_) => Err(ApiError::InvalidQuery("`order` must be asc or desc".into())),
    }
}

/// `GET /api/v1/threads/{thread_id}/messages`: one page, by `(created_at, id)`.
#[utoipa::path(get, path = "/api/v1/threads/{thread_id}/messages", tag = "messages",
    params(
        ("thread_id" = uuid::Uuid, Path),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size, default 50."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`next_cursor` of the previous page."),
        ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "`asc` (default, oldest first) or `desc`."),
    ),
    responses((status = 200, description = "One page of messages by `(created_at, id)`.", body = PageResponse<MessageResponse>)))]
pub async fn list_messages(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    query: web::Query<ListMessagesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread = thread_id(&path)?;
    let order = order(query.order.as_deref())?;
    let limit = page_limit(query.limit.as_deref(), PageLimit::DEFAULT_MESSAGES)?;
    let page = state
        .messages
        .list(&user.user_id, thread, order, limit, query.cursor.as_deref())
        .await?;
    // The stored text plus the keys, ids and timestamps around it.
    let size = page
        .items
        .iter()
        .map(|m| {
            m.content.as_str().len()
                + m.sources.as_raw().get().len()
                + m.metadata.as_raw().get().len()
                + 256
        })
        .sum::<usize>()
        + 128;
    Ok(json_sized(
        StatusCode::OK,
        &PageResponse {
            has_more: page.has_more(),
            data: page.items.into_iter().map(MessageResponse::from).collect(),
            next_cursor: page.next_cursor,
        },
        size,
    ))
}

/// `POST /api/v1/threads/{thread_id}/messages`: appends one message (201), or replays an
/// identical append (200).
#[utoipa::path(post, path = "/api/v1/threads/{thread_id}/messages", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path)), request_body = CreateMessageBody,
    responses(
        (status = 201, description = "Appended; the thread's counters moved in the same transaction.", body = MessageResponse,
            headers(("Location" = String), ("ETag" = String))),
        (status = 200, description = "An identical append with the same `id` was replayed; nothing new was stored.", body = MessageResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`."), ("Location" = String), ("ETag" = String))),
    ))]
pub async fn append_message(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<CreateMessageBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread = thread_id(&path)?;
    let message = body.try_into_domain(&state.limits)?;
    let created = state
        .messages
        .append(&user.user_id, thread, message)
        .await?;
    let message = created.value;
    Ok(create_response(
        created.replayed,
        format!("/api/v1/threads/{thread}/messages/{}", message.id),
    )
    .insert_header((header::ETAG, message.version.etag()))
    .json(MessageResponse::from(message)))
}

/// `POST /api/v1/threads/{thread_id}/messages/batch`: appends up to 100 messages, all or
/// none, in the given order.
#[utoipa::path(post, path = "/api/v1/threads/{thread_id}/messages/batch", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path)), request_body = BatchBody,
    responses(
        (status = 201, description = "All appended, in order.", body = DataResponse<MessageResponse>, headers(("Location" = String))),
        (status = 200, description = "The same batch (same ids and bodies) was replayed.", body = DataResponse<MessageResponse>,
            headers(("Idempotent-Replayed" = String), ("Location" = String))),
    ))]
pub async fn append_batch(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<serde_json::Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread = thread_id(&path)?;
    // Parsed in two steps so that an item written as an array is refused (422) like any
    // other wrong type, instead of being read positionally.
    if let Some(i) = body["messages"]
        .as_array()
        .and_then(|items| items.iter().position(|item| !item.is_object()))
    {
        return Err(DomainError::invalid(format!("messages[{i}]"), "must be an object").into());
    }
    let body: BatchBody = from_value(body)?;
    let messages = body.try_into_domain(&state.limits)?;
    let created = state
        .messages
        .append_batch(&user.user_id, thread, messages)
        .await?;
    Ok(create_response(
        created.replayed,
        format!("/api/v1/threads/{thread}/messages"),
    )
    .json(DataResponse {
        data: created
            .value
            .into_iter()
            .map(MessageResponse::from)
            .collect(),
    }))
}

/// `GET /api/v1/threads/{thread_id}/messages/{message_id}`.
#[utoipa::path(get, path = "/api/v1/threads/{thread_id}/messages/{message_id}", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses(
        (status = 200, description = "The message.", body = MessageResponse, headers(("ETag" = String))),
        (status = 304, description = "`If-None-Match` names the current ETag."),
    ))]
pub async fn get_message(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    let message = state.messages.get(&user.user_id, thread, id).await?;
    Ok(resource(
        &req,
        message.version,
        &MessageResponse::from(message),
    ))
}

/// `PATCH /api/v1/threads/{thread_id}/messages/{message_id}`: edits, honouring `If-Match`.
#[utoipa::path(patch, path = "/api/v1/threads/{thread_id}/messages/{message_id}", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "Update only if the ETag still matches.")),
    request_body = UpdateMessageBody,
    responses((status = 200, description = "The edited message.", body = MessageResponse, headers(("ETag" = String)))))]
pub async fn update_message(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    JsonBody(body): JsonBody<UpdateMessageBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    let patch = body.try_into_domain(&state.limits)?;
    let message = state
        .messages
        .update(&user.user_id, thread, id, patch, if_match(&req))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, message.version.etag()))
        .json(MessageResponse::from(message)))
}

/// `DELETE /api/v1/threads/{thread_id}/messages/{message_id}`.
#[utoipa::path(delete, path = "/api/v1/threads/{thread_id}/messages/{message_id}", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted; the thread's counters were recomputed.")))]
pub async fn delete_message(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    state.messages.delete(&user.user_id, thread, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
