//! Extractors: the authenticated caller, JSON bodies, ids in the path, preconditions.
//!
//! They turn every malformed input into an [`ApiError`] so that the answer is always a
//! problem document with the right status, never actix's plain-text default.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use futures::StreamExt as _;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use auth::{AuthError, Authenticator, Credential};
use domain::{IfMatch, MessageId, Principal, ThreadId, Version};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::rate_limit::UserRateLimiter;

/// Origins whose cookie-authenticated unsafe requests are accepted (and CORS allows).
#[derive(Debug, Clone, Default)]
pub struct TrustedOrigins(Arc<Vec<String>>);

impl TrustedOrigins {
    /// From the configured list; entries are normalised without a trailing slash.
    pub fn new(origins: &[String]) -> Self {
        Self(Arc::new(
            origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        ))
    }

    /// Whether `origin` (scheme://host[:port]) is trusted.
    pub fn contains(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    /// The list.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The authenticated caller of a `/api/v1` route.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

fn bearer_token(req: &HttpRequest) -> Option<Result<String, AuthError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(AuthError::Invalid("authorization header is not text")));
    };
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Some(Err(AuthError::Invalid(
            "authorization is not a bearer token",
        )));
    }
    Some(Ok(token.to_owned()))
}

/// The Better Auth session cookie, under any of the configured names (still URL-encoded;
/// the authenticator decodes and verifies it).
fn session_cookie(req: &HttpRequest, authenticator: Option<&Authenticator>) -> Option<String> {
    let header = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    if header.is_empty() {
        return None;
    }
    match authenticator {
        Some(a) => auth::session_cookie_from_header(&header, a.session_cookie_names()),
        None => auth::session_cookie_from_header(&header, &auth::DEFAULT_SESSION_COOKIE_NAMES),
    }
}

/// The origin of an unsafe request: `Origin`, else the origin part of `Referer`.
fn request_origin(req: &HttpRequest) -> Option<String> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        return origin.to_str().ok().map(str::to_owned);
    }
    let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    Some(url.origin().ascii_serialization())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticator = req.app_data::<web::Data<Authenticator>>().cloned();
        let metrics = req.app_data::<web::Data<Metrics>>().cloned();
        let (kind, credential) = match bearer_token(req) {
            Some(Ok(token)) => ("bearer", Ok(Credential::Bearer(token))),
            Some(Err(e)) => ("bearer", Err(ApiError::Auth(e))),
            None => match session_cookie(req, authenticator.as_ref().map(|a| a.get_ref())) {
                Some(cookie) => {
                    // Cookies ride along with cross-site requests; unsafe ones must come
                    // from a trusted origin (CSRF).
                    let trusted = req
                        .app_data::<TrustedOrigins>()
                        .cloned()
                        .unwrap_or_default();
                    if is_safe(req.method())
                        || request_origin(req).is_some_and(|o| trusted.contains(&o))
                    {
                        ("cookie", Ok(Credential::SessionCookie(cookie)))
                    } else {
                        ("cookie", Err(ApiError::UntrustedOrigin))
                    }
                }
                None => ("none", Err(ApiError::Auth(AuthError::Missing))),
            },
        };
        let req = req.clone();
        Box::pin(async move {
            let outcome = authenticate(authenticator, credential).await;
            if let Some(metrics) = &metrics {
                metrics.observe_auth(kind, auth_result(&outcome));
            }
            let principal = outcome?;
            // For the request log line.
            req.extensions_mut().insert(principal.clone());
            if let Some(limiter) = req.app_data::<web::Data<UserRateLimiter>>() {
                limiter.check(&principal.user_id).map_err(|wait| {
                    ApiError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
                })?;
            }
            Ok(AuthUser(principal))
        })
    }
}

/// Verifies a credential found in the request.
async fn authenticate(
    authenticator: Option<web::Data<Authenticator>>,
    credential: Result<Credential, ApiError>,
) -> Result<Principal, ApiError> {
    let credential = credential?;
    let authenticator = authenticator
        .ok_or_else(|| ApiError::Auth(AuthError::Invalid("no authenticator is configured")))?;
    Ok(authenticator.authenticate(&credential).await?)
}

/// The `result` label of an authentication outcome.
fn auth_result(outcome: &Result<Principal, ApiError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(ApiError::Auth(AuthError::Missing)) => "missing",
        Err(ApiError::Auth(AuthError::Expired)) => "expired",
        Err(ApiError::Auth(AuthError::Unavailable(_))) => "unavailable",
        Err(ApiError::UntrustedOrigin) => "untrusted_origin",
        Err(_) => "invalid",
    }
}

/// Largest body a route accepts; a resource may override the app-wide default.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The default: 2 MiB.
    pub const DEFAULT: Self = Self(2 * 1024 * 1024);
    /// Batch appends: 16 MiB.
    pub const BATCH: Self = Self(16 * 1024 * 1024);
}

/// How long a client may take to send its body.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// A JSON body parsed into `T`.
///
/// 415 unless declared as JSON; 413 beyond the route's [`BodyLimit`]; 400 when not JSON
/// at all; 422 (naming the field by its path) when JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        }
        _ => false,
    }
}

/// Parses bytes as a JSON object into `T`, classifying errors as 400 (not JSON at all) or
/// 422 (JSON of the wrong shape, naming the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object; serde would otherwise accept a struct written
    // as an array.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // Parsed fully (not skipped) so that invalid UTF-8 inside strings is caught too.
        return match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => Err(ApiError::Domain(domain::DomainError::invalid(
                "body",
                "must be a JSON object",
            ))),
            Err(e) => Err(ApiError::MalformedJson(e.to_string())),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // A shape error is found before the end of the body is read: a body that is not
        // JSON at all (`{"a":1}}`) must still be 400, whatever its shape.
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(syntax) => ApiError::MalformedJson(syntax.to_string()),
            Ok(_) => classify(e),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// Deserializes an already parsed JSON value into `T`, naming the offending field of a
/// shape error (422).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(classify)
}

fn classify(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !inner.is_data() {
        return ApiError::MalformedJson(inner.to_string());
    }
    let reason = data_reason(&inner);
    // A missing field is reported at its parent; name the field itself.
    let missing = reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => name.to_owned(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (_, None) => path,
    };
    ApiError::Domain(domain::DomainError::invalid(field, reason))
}

/// serde_json's message without its "at line 1 column 7" suffix.
fn data_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit::DEFAULT)
            .0;
        let json = is_json(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let timeout = req
            .app_data::<BodyTimeout>()
            .map_or(std::time::Duration::from_secs(15), |t| t.0);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let read = async {
                let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| match e {
                        actix_web::error::PayloadError::Overflow => {
                            ApiError::PayloadTooLarge(limit)
                        }
                        other => ApiError::MalformedJson(other.to_string()),
                    })?;
                    if body.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge(limit));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            // A client trickling its body cannot hold a worker forever.
            let body = tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| ApiError::RequestTimeout)??;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// Parses a thread id from the path (400 `invalid_id` otherwise).
pub fn thread_id(raw: &str) -> Result<ThreadId, ApiError> {
    ThreadId::parse(raw).map_err(|_| ApiError::InvalidPathId("thread_id"))
}

/// Parses a message id from the path (400 `invalid_id` otherwise).
pub fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(raw).map_err(|_| ApiError::InvalidPathId("message_id"))
}

/// The `If-Match` precondition of a request: absent or `*` is [`IfMatch::Any`]; otherwise
/// the versions of the listed strong ETags (weak or foreign tags match nothing).
pub fn if_match(req: &HttpRequest) -> IfMatch {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::IF_MATCH)
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return IfMatch::Any;
    }
    let tags: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if tags.contains(&"*") {
        return IfMatch::Exists;
    }
    IfMatch::OneOf(tags.into_iter().filter_map(Version::from_etag).collect())
}

/// Whether `If-None-Match` lists the given version (or `*`), for a 304 on GET.
pub fn if_none_match(req: &HttpRequest, version: Version) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || Version::from_etag(tag.trim_start_matches("W/")) == Some(version))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    use super::*;

    fn request_with(name: header::HeaderName, value: &[u8]) -> Option<HttpRequest> {
        let value = HeaderValue::from_bytes(value).ok()?;
        Some(
            TestRequest::default()
                .insert_header((name, value))
                .to_http_request(),
        )
    }

    proptest! {
        #[test]
        fn any_authorization_header_parses_without_panicking(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            let token = request_with(header::AUTHORIZATION, &value)
                .and_then(|req| bearer_token(&req))
                .and_then(Result::ok);
            if let Some(token) = token {
                prop_assert!(!token.is_empty());
                prop_assert_eq!(token.trim(), token.as_str());
            }
        }

        #[test]
        fn a_bearer_token_is_read_whatever_the_scheme_case_and_spacing(
            scheme in "[bB][eE][aA][rR][eE][rR]",
            token in "[!-~]{1,100}",
            around in (" {0,3}", " {1,3}", " {0,3}"),
        ) {
            let (lead, middle, trail) = around;
            let value = format!("{lead}{scheme}{middle}{token}{trail}");
            let req = request_with(header::AUTHORIZATION, value.as_bytes()).expect("a valid header");
            prop_assert_eq!(bearer_token(&req).and_then(Result::ok), Some(token));
        }

        #[test]
        fn other_schemes_are_refused(scheme in "[A-Za-z]{1,10}", token in "[!-~]{1,50}") {
            prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
            let req = request_with(header::AUTHORIZATION, format!("{scheme} {token}").as_bytes())
                .expect("a valid header");
            prop_assert!(matches!(bearer_token(&req), Some(Err(_))));
        }

        #[test]
        fn any_if_match_and_origin_parse_without_panicking(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(req) = request_with(header::IF_MATCH, &value) {
                let _ = if_match(&req);
                let _ = if_none_match(&req, Version::new(1));
            }
            if let Some(req) = request_with(header::REFERER, &value) {
                let _ = request_origin(&req);
            }
        }
    }
}
