//! Request ids and the one log line per request; compression of large responses.

use std::time::Instant;

use actix_http::encoding::Encoder;
use actix_web::HttpMessage as _;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    self, AcceptEncoding, ContentEncoding, Encoding, Header as _, HeaderName, HeaderValue,
};
use actix_web::middleware::Next;
use actix_web::web;

use domain::Principal;
use tracing::Instrument as _;

use crate::metrics::Metrics;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming id is kept when it is 1 to 128 characters of `[A-Za-z0-9._-]`.
pub fn valid_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Echoes a valid `X-Request-Id` (else generates one) on every response, serves the
/// request inside a `request` span holding the id (so every line logged meanwhile carries
/// it), and logs one line per request: id, method, route template, status, latency and
/// user id. Never tokens, cookies, bodies or message content.
pub async fn request_id_and_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    // Every line logged while the request is served (a 5xx's cause, say) carries its id.
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.call(req).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    let request = res.request();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
        metrics.observe(
            &route,
            request.method().as_str(),
            res.status().as_u16(),
            elapsed,
        );
    }
    let user = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.user_id.to_string());
    tracing::info!(
        request_id = %id,
        method = %request.method(),
        route = %route,
        status = res.status().as_u16(),
        latency_ms = elapsed * 1000.0,
        user_id = user.as_deref().unwrap_or("-"),
        "request"
    );
    Ok(res)
}

/// Bodies smaller than this are sent as they are: gzip's header and the CPU cost more than
/// the bytes saved.
pub const COMPRESS_MIN_BYTES: u64 = 1024;

/// Gzips a response when the client accepts gzip (`Accept-Encoding`, with its quality
/// values) and the body is at least [`COMPRESS_MIN_BYTES`] or streamed (an export), unless
/// it is already encoded or an event stream (`text/event-stream`, which must reach the
/// client as each event is written). Every response that could have been compressed says
/// `Vary: Accept-Encoding`.
pub async fn compress_large_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let gzip = AcceptEncoding::parse(req.request()).is_ok_and(|accept| {
        accept.negotiate([Encoding::gzip(), Encoding::identity()].iter()) == Some(Encoding::gzip())
    });
    let res = next.call(req).await?;
    Ok(res.map_body(move |head, body| {
        let event_stream = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let large = match body.size() {
            BodySize::Sized(n) => n >= COMPRESS_MIN_BYTES,
            BodySize::Stream => true,
            BodySize::None => false,
        };
        let encoding = if gzip && large && !event_stream {
            ContentEncoding::Gzip
        } else {
            ContentEncoding::Identity
        };
        if !event_stream && !matches!(body.size(), BodySize::None | BodySize::Sized(0)) {
            head.headers
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        Encoder::response(encoding, head, body)
    }))
}
