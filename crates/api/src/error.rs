//! The one error type of the HTTP layer and its problem+json rendering (RFC 9457).
//!
//! Every failure a client can see goes through [`ApiError`]: handler results, extractor
//! failures (JSON, query, path), authentication, unknown routes and methods. Each maps to
//! one status and one stable `code` (listed in docs/errors.md).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use auth::AuthError;
use domain::{DomainError, Resource};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Everything that can go wrong while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The credential was missing or not accepted.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is not JSON at all (syntax error, truncated, not UTF-8).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A path segment is not a valid id.
    #[error("invalid id in path: {0}")]
    InvalidPathId(&'static str),
    /// The query string cannot be parsed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The body is larger than the route accepts.
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// The body is not declared as JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A cookie-authenticated unsafe request from an origin that is not trusted.
    #[error("untrusted origin")]
    UntrustedOrigin,
    /// The route exists but not with this method; carries the `Allow` header value.
    #[error("method not allowed")]
    MethodNotAllowed(Option<String>),
    /// No such route.
    #[error("no such route")]
    RouteNotFound,
    /// The caller exceeded their request rate; retry after this many seconds.
    #[error("rate limited")]
    RateLimited(u64),
    /// The client took too long to send its body.
    #[error("request timeout")]
    RequestTimeout,
    /// The caller has this many event streams open on this process already.
    #[error("too many event streams")]
    TooManyStreams(usize),
}

/// An RFC 9457 problem document with our `code` (and `field` for validation errors).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says what kind of problem it is; `code` says which.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable, machine-readable (see docs/errors.md).
    pub code: ProblemCode,
    /// The offending field of a 422, as the client spelled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

/// Every problem `code` this service answers with (docs/errors.md): a closed list, an enum
/// in the OpenAPI document, so that clients can switch on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// 404: the thread does not exist, is another user's, or has expired.
    ThreadNotFound,
    /// 404: the message does not exist in that thread, or is another user's.
    MessageNotFound,
    /// 422: a value breaks a rule; `field` names it.
    ValidationFailed,
    /// 422: a body names a message that is not in this thread; `field` names it.
    UnknownMessage,
    /// 409: a client id reused with a different body.
    IdempotencyConflict,
    /// 409: a client id taken by another thread or user.
    IdConflict,
    /// 409: a `PUT` of an existing message with another role or parent.
    MessageConflict,
    /// 412: `If-Match` does not name the current `ETag`.
    PreconditionFailed,
    /// 400: a cursor that is not a `next_cursor` of this list.
    InvalidCursor,
    /// 503: the database (or the session store, or the JWKS) cannot be reached.
    ServiceUnavailable,
    /// 500: a bug.
    InternalError,
    /// 401: no credential, or one not accepted.
    Unauthenticated,
    /// 400: the body is not JSON (or not a whole import file).
    MalformedJson,
    /// 400: a path id that is not a UUID.
    InvalidId,
    /// 400: a query parameter that does not parse.
    InvalidQuery,
    /// 413: the body is larger than the route accepts.
    PayloadTooLarge,
    /// 415: a body not sent as JSON.
    UnsupportedMediaType,
    /// 403: a cookie-authenticated change from an untrusted origin.
    UntrustedOrigin,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 404: no such route.
    NotFound,
    /// 429: over the per-user rate (or the imports a replica runs at once).
    RateLimited,
    /// 408: the body did not arrive in time.
    RequestTimeout,
    /// 429: too many event streams open.
    TooManyStreams,
}

impl ProblemCode {
    /// Every code.
    pub const ALL: [Self; 23] = [
        Self::ThreadNotFound,
        Self::MessageNotFound,
        Self::ValidationFailed,
        Self::UnknownMessage,
        Self::IdempotencyConflict,
        Self::IdConflict,
        Self::MessageConflict,
        Self::PreconditionFailed,
        Self::InvalidCursor,
        Self::ServiceUnavailable,
        Self::InternalError,
        Self::Unauthenticated,
        Self::MalformedJson,
        Self::InvalidId,
        Self::InvalidQuery,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::UntrustedOrigin,
        Self::MethodNotAllowed,
        Self::NotFound,
        Self::RateLimited,
        Self::RequestTimeout,
        Self::TooManyStreams,
    ];

    /// The code as it is sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThreadNotFound => "thread_not_found",
            Self::MessageNotFound => "message_not_found",
            Self::ValidationFailed => "validation_failed",
            Self::UnknownMessage => "unknown_message",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::IdConflict => "id_conflict",
            Self::MessageConflict => "message_conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::InvalidCursor => "invalid_cursor",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalError => "internal_error",
            Self::Unauthenticated => "unauthenticated",
            Self::MalformedJson => "malformed_json",
            Self::InvalidId => "invalid_id",
            Self::InvalidQuery => "invalid_query",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UntrustedOrigin => "untrusted_origin",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyStreams => "too_many_streams",
        }
    }
}

impl ApiError {
    /// The stable `code` of this error.
    pub fn code(&self) -> ProblemCode {
        match self {
            Self::Domain(e) => match e {
                DomainError::NotFound(Resource::Thread) => ProblemCode::ThreadNotFound,
                DomainError::NotFound(Resource::Message) => ProblemCode::MessageNotFound,
                DomainError::Invalid { .. } => ProblemCode::ValidationFailed,
                DomainError::UnknownMessage { .. } => ProblemCode::UnknownMessage,
                DomainError::IdempotencyConflict => ProblemCode::IdempotencyConflict,
                DomainError::IdConflict => ProblemCode::IdConflict,
                DomainError::MessageConflict => ProblemCode::MessageConflict,
                DomainError::PreconditionFailed => ProblemCode::PreconditionFailed,
                DomainError::InvalidCursor => ProblemCode::InvalidCursor,
                DomainError::Unavailable(_) => ProblemCode::ServiceUnavailable,
                DomainError::Unexpected(_) => ProblemCode::InternalError,
            },
            Self::Auth(AuthError::Unavailable(_)) => ProblemCode::ServiceUnavailable,
            Self::Auth(_) => ProblemCode::Unauthenticated,
            Self::MalformedJson(_) => ProblemCode::MalformedJson,
            Self::InvalidPathId(_) => ProblemCode::InvalidId,
            Self::InvalidQuery(_) => ProblemCode::InvalidQuery,
            Self::PayloadTooLarge(_) => ProblemCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ProblemCode::UnsupportedMediaType,
            Self::UntrustedOrigin => ProblemCode::UntrustedOrigin,
            Self::MethodNotAllowed(_) => ProblemCode::MethodNotAllowed,
            Self::RouteNotFound => ProblemCode::NotFound,
            Self::RateLimited(_) => ProblemCode::RateLimited,
            Self::RequestTimeout => ProblemCode::RequestTimeout,
            Self::TooManyStreams(_) => ProblemCode::TooManyStreams,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Domain(e) => match e {
                DomainError::NotFound(Resource::Thread) => "No such thread.".into(),
                DomainError::NotFound(Resource::Message) => "No such message.".into(),
                DomainError::Invalid { field, reason } => format!("`{field}` {reason}."),
                DomainError::UnknownMessage { field } => {
                    format!("`{field}` names no message of this thread.")
                }
                DomainError::IdempotencyConflict => {
                    "This id was already used for a resource with a different body; a retry must repeat the same body.".into()
                }
                DomainError::IdConflict => "This id is already taken; choose another id.".into(),
                DomainError::MessageConflict => {
                    "This message exists with another role or parent; those never change.".into()
                }
                DomainError::PreconditionFailed => {
                    "The resource has changed since the ETag given in If-Match.".into()
                }
                DomainError::InvalidCursor => {
                    "The cursor is not a next_cursor of this same list.".into()
                }
                DomainError::Unavailable(_) => {
                    "The database is unavailable; retry after the Retry-After delay.".into()
                }
                DomainError::Unexpected(_) => {
                    "An unexpected error occurred; quote the X-Request-Id header when reporting it.".into()
                }
            },
            Self::Auth(AuthError::Unavailable(_)) => {
                "Credentials cannot be verified right now; retry after the Retry-After delay."
                    .into()
            }
            Self::Auth(AuthError::Missing) => "Authentication is required.".into(),
            Self::Auth(AuthError::Expired) => "The credentials have expired.".into(),
            Self::Auth(AuthError::Invalid(_)) => "The credentials are not valid.".into(),
            Self::MalformedJson(why) => format!("The body is not valid JSON: {why}."),
            Self::InvalidPathId(name) => format!("`{name}` in the path must be a UUID."),
            Self::InvalidQuery(why) => format!("The query string is invalid: {why}."),
            Self::PayloadTooLarge(limit) => {
                format!("The body is larger than the {limit} bytes this route accepts.")
            }
            Self::UnsupportedMediaType => {
                "The body must be JSON, sent with Content-Type: application/json.".into()
            }
            Self::UntrustedOrigin => {
                "Cookie-authenticated changes are only accepted from trusted origins.".into()
            }
            Self::MethodNotAllowed(_) => "This route does not support this method.".into(),
            Self::RouteNotFound => "No such route.".into(),
            Self::RateLimited(secs) => {
                format!("Too many requests; retry in {secs} s (see Retry-After).")
            }
            Self::RequestTimeout => "The request body did not arrive in time.".into(),
            Self::TooManyStreams(limit) => format!(
                "You have {limit} event streams open already; close one (one stream per tab is enough)."
            ),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Domain(
                DomainError::Invalid { field, .. } | DomainError::UnknownMessage { field },
            ) => Some(field.clone()),
            _ => None,
        }
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            field: self.field(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Domain(e) => match e {
                DomainError::NotFound(_) => StatusCode::NOT_FOUND,
                DomainError::Invalid { .. } | DomainError::UnknownMessage { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                DomainError::IdempotencyConflict
                | DomainError::IdConflict
                | DomainError::MessageConflict => StatusCode::CONFLICT,
                DomainError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                DomainError::InvalidCursor => StatusCode::BAD_REQUEST,
                DomainError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                DomainError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Auth(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::MalformedJson(_) | Self::InvalidPathId(_) | Self::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UntrustedOrigin => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::RateLimited(_) | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // Logged once, here at the boundary, with the whole cause chain.
            tracing::error!(
                error = %ErrorChain(self),
                code = self.code().as_str(),
                "request failed"
            );
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            Self::Auth(AuthError::Unavailable(_)) | Self::Domain(DomainError::Unavailable(_)) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            Self::Auth(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::RateLimited(secs) => {
                response.insert_header((header::RETRY_AFTER, *secs));
            }
            Self::MethodNotAllowed(Some(allow)) => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        // Serializing a struct of strings and integers cannot fail.
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        response.body(body)
    }
}

/// Displays an error followed by each of its sources: `a: b: c`.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_sent_as_its_name_and_documented_in_errors_md() {
        let errors_md = include_str!("../../../docs/errors.md");
        for code in ProblemCode::ALL {
            let sent = serde_json::to_value(code).expect("serializes");
            assert_eq!(sent, code.as_str(), "{code:?}");
            assert!(
                errors_md.contains(&format!("`{}`", code.as_str())),
                "docs/errors.md lists {}",
                code.as_str()
            );
        }
    }
}
