//! Handlers, one module per resource. Each extracts, calls one domain service and maps
//! the result; none holds a rule of its own.

pub mod events;
pub mod export;
pub mod health;
pub mod import;
pub mod me;
pub mod messages;
pub mod search;
pub mod threads;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use domain::Version;

use crate::error::ApiError;

/// A JSON answer.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// A JSON answer of about `capacity` bytes, encoded into a buffer of that size: a page of
/// messages is tens of kilobytes, which a growing buffer would copy several times over.
pub(crate) fn json_sized<T: Serialize>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> HttpResponse {
    let mut buffer = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut buffer, body) {
        Ok(()) => HttpResponse::build(status)
            .content_type(mime::APPLICATION_JSON)
            .body(buffer),
        // Not reached for this API's bodies; actix's own encoder reports the failure.
        Err(_) => json(status, body),
    }
}

/// A single resource with its `ETag`, or 304 when `If-None-Match` already names it.
pub(crate) fn resource<T: Serialize>(
    req: &HttpRequest,
    version: Version,
    body: &T,
) -> HttpResponse {
    if crate::extract::if_none_match(req, version) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, version.etag()))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, version.etag()))
        .json(body)
}

/// 201 with `Location`, or 200 with `Idempotent-Replayed: true` for a replay.
pub(crate) fn create_response(replayed: bool, location: String) -> HttpResponseBuilder {
    let mut builder = if replayed {
        let mut b = HttpResponse::Ok();
        b.insert_header(("Idempotent-Replayed", "true"));
        b
    } else {
        HttpResponse::Created()
    };
    builder.insert_header((header::LOCATION, location));
    builder
}

/// The answer for a known path with an unsupported method, with `Allow` listing the
/// methods the OpenAPI document gives that path (the one source of truth for both).
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .match_pattern()
        .and_then(|pattern| crate::openapi::allowed_methods(&pattern));
    Err(ApiError::MethodNotAllowed(allow))
}

/// The answer for an unknown path.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
