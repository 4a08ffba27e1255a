//! Probes: `/healthz` (the process answers) and `/readyz` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: liveness; never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(),
    responses((status = 200, description = "The process is alive.", body = Object, example = json!({"status": "ok"}))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers, else 503 with `Retry-After`.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, description = "The database answers.", body = Object, example = json!({"status": "ready"}))))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.threads.ready().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
