//! `/api/v1/threads/{thread_id}/messages` and below.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use domain::{
    DeleteScope, DomainError, MessageId, MessageView, PageLimit, PathTarget, SortOrder, Upsert,
};

use crate::dto::{
    BatchBody, CreateMessageBody, DataResponse, FeedbackBody, FeedbackResponse, MessageResponse,
    PageResponse, PutMessageBody, UpdateMessageBody,
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
    branch: Option<String>,
    through: Option<String>,
}

/// Which messages a list shows, from `branch` and `through`.
fn view(branch: Option<&str>, through: Option<&str>) -> Result<MessageView, ApiError> {
    let through = through
        .map(|id| {
            MessageId::parse(id)
                .map_err(|_| ApiError::InvalidQuery("`through` must be a UUID".into()))
        })
        .transpose()?;
    match (branch, through) {
        (Some("all"), Some(_)) => Err(ApiError::InvalidQuery(
            "`branch=all` cannot be combined with `through`".into(),
        )),
        (Some("all"), None) => Ok(MessageView::All),
        (None | Some("active"), Some(id)) => Ok(MessageView::Path(PathTarget::Through(id))),
        (None | Some("active"), None) => Ok(MessageView::Path(PathTarget::Active)),
        (Some(_), _) => Err(ApiError::InvalidQuery(
            "`branch` must be active or all".into(),
        )),
    }
}

/// Query of `DELETE /api/v1/threads/{thread_id}/messages/{message_id}`.
#[derive(Debug, Deserialize)]
pub struct DeleteMessageQuery {
    subtree: Option<String>,
}

fn order(raw: Option<&str>) -> Result<SortOrder, ApiError> {
    match raw {
        None | Some("asc") => Ok(SortOrder::Asc),
        Some("desc") => Ok(SortOrder::Desc),
        Some(_) => Err(ApiError::InvalidQuery("`order` must be asc or desc".into())),
    }
}

/// `GET /api/v1/threads/{thread_id}/messages`: one page of the active path (default),
/// of the path through a message, or of every message.
#[utoipa::path(get, path = "/api/v1/threads/{thread_id}/messages", tag = "messages",
    params(
        ("thread_id" = uuid::Uuid, Path),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size, default 50."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`next_cursor` of the previous page of the same listing (same `branch`, `through` and `order`), else 400 `invalid_cursor`."),
        ("order" = Option<crate::dto::OrderSchema>, Query, description = "`asc` (default: root first, oldest first) or `desc` (leaf first, newest first)."),
        ("branch" = Option<crate::dto::BranchSchema>, Query, description = "`active` (default): the path from the root to the thread's active leaf (when it has none, the path through the newest root and down through newest children); every message carries `sibling_ids`. `all`: every message of the thread on every branch by `(created_at, id)`; cannot be combined with `through` (400 `invalid_query`)."),
        ("through" = Option<uuid::Uuid>, Query, description = "The path from the root through this message and on down, taking at each step the newest child, to a leaf; every message carries `sibling_ids`. Not a message of this thread: 404 `message_not_found`; not a UUID: 400 `invalid_query`."),
    ),
    responses(
        (status = 200, description = "One page. A path walk stays on the path it started on: switching the active leaf does not move it, while messages appended below its end appear on later pages.", body = PageResponse<MessageResponse>),
        (status = 400, description = "`invalid_query` or `invalid_cursor`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`thread_not_found`, or `message_not_found` for `through`.", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_messages(
    AuthUser(user): AuthUser,
    path: web::Path<String>,
    query: web::Query<ListMessagesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread = thread_id(&path)?;
    let order = order(query.order.as_deref())?;
    let view = view(query.branch.as_deref(), query.through.as_deref())?;
    let limit = page_limit(query.limit.as_deref(), PageLimit::DEFAULT_MESSAGES)?;
    let cursor = query.cursor.as_deref();
    let (page, has_more, next_cursor) = match view {
        MessageView::All => {
            let page = state
                .messages
                .list(&user.user_id, thread, order, limit, cursor)
                .await?;
            let has_more = page.has_more();
            let data: Vec<MessageResponse> =
                page.items.into_iter().map(MessageResponse::from).collect();
            (data, has_more, page.next_cursor)
        }
        MessageView::Path(target) => {
            let page = state
                .messages
                .list_path(&user.user_id, thread, target, order, limit, cursor)
                .await?;
            let has_more = page.has_more();
            let data: Vec<MessageResponse> =
                page.items.into_iter().map(MessageResponse::from).collect();
            (data, has_more, page.next_cursor)
        }
    };
    // The stored text plus the keys, ids and timestamps around it.
    let size = page.iter().map(MessageResponse::size_hint).sum::<usize>() + 128;
    Ok(json_sized(
        StatusCode::OK,
        &PageResponse {
            has_more,
            data: page,
            next_cursor,
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

/// `PUT /api/v1/threads/{thread_id}/messages/{message_id}`: creates the message with this
/// id (201) or replaces it (200). The one call a streaming route handler needs.
#[utoipa::path(put, path = "/api/v1/threads/{thread_id}/messages/{message_id}", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "Write only if the message's ETag still matches; when the message does not exist yet, any `If-Match` fails (412).")),
    request_body(content = PutMessageBody, description = "The create body (`id` may be omitted; when given it must equal the path's)."),
    responses(
        (status = 201, description = "Created, exactly as an append: the parent rule, the active leaf and the counters.", body = MessageResponse,
            headers(("Location" = String), ("ETag" = String))),
        (status = 200, description = "Replaced its `content`, `parts`, `sources`, `metadata` and `status` (fields omitted take their create defaults); its `updated_at` and the thread's moved; the active leaf did not.", body = MessageResponse,
            headers(("ETag" = String))),
        (status = 409, description = "`message_conflict`: the message exists with another `role`, or the body names a `parent_id` other than the stored one. `id_conflict`: the id is used in another thread or by another user.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` does not match (or the message does not exist yet).", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_message(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    JsonBody(body): JsonBody<PutMessageBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    let message = body.try_into_put(id, &state.limits)?;
    let put = state
        .messages
        .put(&user.user_id, thread, id, message, if_match(&req))
        .await?;
    Ok(match put {
        Upsert::Created(message) => HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/threads/{thread}/messages/{}", message.id),
            ))
            .insert_header((header::ETAG, message.version.etag()))
            .json(MessageResponse::from(message)),
        Upsert::Replaced(message) => HttpResponse::Ok()
            .insert_header((header::ETAG, message.version.etag()))
            .json(MessageResponse::from(message)),
    })
}

/// `PUT /api/v1/threads/{thread_id}/messages/{message_id}/feedback`.
#[utoipa::path(put, path = "/api/v1/threads/{thread_id}/messages/{message_id}/feedback", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "The feedback as stored (replacing any earlier one). The message's `updated_at` and its thread's do not move; its `ETag` does.", body = FeedbackResponse),
    ))]
pub async fn put_feedback(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<FeedbackBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    let feedback = body.try_into_domain()?;
    let stored = state
        .messages
        .set_feedback(&user.user_id, thread, id, feedback)
        .await?;
    Ok(HttpResponse::Ok().json(FeedbackResponse::from(stored)))
}

/// `DELETE /api/v1/threads/{thread_id}/messages/{message_id}/feedback`.
#[utoipa::path(delete, path = "/api/v1/threads/{thread_id}/messages/{message_id}/feedback", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "No feedback is left on the message (also when there was none).")))]
pub async fn delete_feedback(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    state
        .messages
        .clear_feedback(&user.user_id, thread, id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/threads/{thread_id}/messages/{message_id}`.
#[utoipa::path(delete, path = "/api/v1/threads/{thread_id}/messages/{message_id}", tag = "messages",
    params(("thread_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path),
        ("subtree" = Option<bool>, Query, description = "`false` (default): the message alone; its children take its parent as theirs (roots if it was a root). `true`: the message and every message below it.")),
    responses((status = 204, description = "Deleted; the thread's counters were recomputed, and an active leaf that was deleted moved to the deleted message's parent.")))]
pub async fn delete_message(
    AuthUser(user): AuthUser,
    path: web::Path<(String, String)>,
    query: web::Query<DeleteMessageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread, id) = (thread_id(&path.0)?, message_id(&path.1)?);
    let scope = match query.subtree.as_deref() {
        None | Some("false") => DeleteScope::Message,
        Some("true") => DeleteScope::Subtree,
        Some(_) => {
            return Err(ApiError::InvalidQuery(
                "`subtree` must be true or false".into(),
            ));
        }
    };
    state
        .messages
        .delete(&user.user_id, thread, id, scope)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
