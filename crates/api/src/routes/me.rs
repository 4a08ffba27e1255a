//! `/api/v1/me` and `/api/v1/me/history`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::dto::MeResponse;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::routes::json;
use crate::state::AppState;

/// `GET /api/v1/me`: who the credential says the caller is.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, description = "The authenticated user.", body = MeResponse)))]
pub async fn me(AuthUser(user): AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(json(
        StatusCode::OK,
        &MeResponse {
            user_id: user.user_id.to_string(),
            auth: user.method.as_str(),
        },
    ))
}

/// `DELETE /api/v1/me/history`: all of the caller's threads and messages.
#[utoipa::path(delete, path = "/api/v1/me/history", tag = "account",
    responses((status = 204, description = "Every thread and message of the caller is deleted.")))]
pub async fn delete_history(
    AuthUser(user): AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let deleted = state.threads.delete_all(&user.user_id).await?;
    tracing::info!(
        threads = deleted.threads,
        messages = deleted.messages,
        "deleted a user's history"
    );
    Ok(HttpResponse::NoContent().finish())
}
