//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/openapi.json` and rendered at `/docs`.
//!
//! Handlers declare their success answers; [`ErrorResponses`] adds the error answers every
//! operation can give, from what the operation is (authenticated, unsafe, with ids in the
//! path, a list, with a body, a create, a patch), so the document cannot forget one.

use std::sync::OnceLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, Response, ResponseBuilder, ResponsesBuilder, Schema,
};

use actix_web::HttpResponse;
use actix_web::http::header;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::dto;
use crate::error::Problem;
use crate::routes::{events, export, health, import, me, messages, search, threads};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "chat-history",
        description = "Durable chat history: threads of messages per user, authenticated by Better Auth \
sessions or JWTs. Errors are RFC 9457 problem documents whose `code` is stable (see docs/errors.md). \
Every response carries `X-Request-Id`.",
    ),
    paths(
        threads::list_threads,
        threads::create_thread,
        threads::get_thread,
        threads::update_thread,
        threads::delete_thread,
        threads::fork_thread,
        export::export_thread,
        messages::list_messages,
        messages::append_message,
        messages::append_batch,
        messages::get_message,
        messages::put_message,
        messages::update_message,
        messages::delete_message,
        messages::put_feedback,
        messages::delete_feedback,
        search::search_messages,
        events::events,
        me::me,
        me::delete_history,
        export::export_history,
        import::import_history,
        health::healthz,
        health::readyz,
        crate::metrics::metrics,
        openapi_json,
        docs,
    ),
    components(schemas(
        Problem,
        dto::RoleSchema,
        dto::StatusSchema,
        dto::RatingSchema,
        dto::ArchivedSchema,
        dto::OrderSchema,
        dto::BranchSchema,
        dto::ExportFormatSchema,
        dto::ImportFormatSchema,
    )),
    modifiers(&ErrorResponses),
    security(("bearer" = []), ("session_cookie" = [])),
    tags(
        (name = "threads", description = "A user's conversations."),
        (name = "messages", description = "The messages of a thread."),
        (name = "search", description = "Full-text search over the caller's messages."),
        (name = "events", description = "The caller's changes as they happen (server-sent events)."),
        (name = "account", description = "The caller and their whole history."),
        (name = "operations", description = "Probes; no authentication."),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document pretty-printed, as `chat-history openapi` prints it and the repository's
/// `openapi.json` holds it (without the final line break).
pub fn pretty_json() -> String {
    document().to_pretty_json().unwrap_or_default()
}

fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_json().unwrap_or_default())
}

/// The methods the document lists for a path template, as an `Allow` header value
/// (`GET, POST`); `None` for a path it does not describe.
pub fn allowed_methods(path: &str) -> Option<String> {
    static ALLOW: OnceLock<std::collections::HashMap<String, String>> = OnceLock::new();
    ALLOW
        .get_or_init(|| {
            document()
                .paths
                .paths
                .iter()
                .map(|(path, item)| {
                    let methods: Vec<&str> = [
                        ("GET", item.get.is_some()),
                        ("POST", item.post.is_some()),
                        ("PUT", item.put.is_some()),
                        ("PATCH", item.patch.is_some()),
                        ("DELETE", item.delete.is_some()),
                    ]
                    .into_iter()
                    .filter_map(|(name, present)| present.then_some(name))
                    .collect();
                    (path.clone(), methods.join(", "))
                })
                .collect()
        })
        .get(path)
        .cloned()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// `GET /docs`: the interactive reference (Swagger UI, served by this binary, no CDN). It
/// lives at `/docs/`; `/docs` redirects there.
#[utoipa::path(get, path = "/docs", tag = "operations", security(),
    responses((status = 308, description = "Redirect to `/docs/`, the interactive API reference (HTML).", headers(("Location" = String)))))]
pub async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The Swagger UI service for `/docs/...`, reading `/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").config(Config::from("/openapi.json"))
}

struct ErrorResponses;

fn problem_response(description: &str, header: Option<(&str, &str)>) -> Response {
    let mut builder = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("Problem"))))
            .build(),
    );
    if let Some((name, what)) = header {
        builder = builder.header(name, HeaderBuilder::new().description(Some(what)).build());
    }
    builder.build()
}

/// A reusable error response: name, description, and an optional documented header.
type ErrorResponse = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const RESPONSES: [ErrorResponse; 13] = [
    (
        "BadRequest",
        "Unparseable input: malformed JSON, an id that is not a UUID, a garbage or foreign cursor, an unparseable query value.",
        None,
    ),
    (
        "Unauthorized",
        "Missing, invalid, expired or revoked credentials.",
        Some(("WWW-Authenticate", "`Bearer`.")),
    ),
    (
        "Forbidden",
        "A cookie-authenticated change from an origin that is not trusted.",
        None,
    ),
    (
        "NotFound",
        "No such resource, or one of another user (the answers are identical).",
        None,
    ),
    (
        "Conflict",
        "`idempotency_conflict`: the id was used with another body; `id_conflict`: the id is taken elsewhere; `message_conflict`: a message PUT asks for another role or parent.",
        None,
    ),
    (
        "PreconditionFailed",
        "`If-Match` does not name the current ETag.",
        None,
    ),
    (
        "PayloadTooLarge",
        "The body exceeds 2 MiB (16 MiB for batches).",
        None,
    ),
    (
        "UnsupportedMediaType",
        "The body is not sent as application/json.",
        None,
    ),
    (
        "UnprocessableEntity",
        "Well-formed but invalid: a missing field, a wrong type, null, a value out of bounds (`validation_failed`), or a body naming a message that is not in this thread (`unknown_message`). `field` names it.",
        None,
    ),
    (
        "ServiceUnavailable",
        "The database or the credential store cannot be reached; retry later.",
        Some(("Retry-After", "Seconds to wait before retrying.")),
    ),
    (
        "TooManyRequests",
        "The caller's request rate is over the limit.",
        Some(("Retry-After", "Seconds to wait before retrying.")),
    ),
    (
        "RequestTimeout",
        "The request body did not arrive within the client timeout.",
        None,
    ),
    (
        "MethodNotAllowed",
        "The path exists but not with this method.",
        None,
    ),
];

fn add(op: &mut Operation, status: &str, name: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description, header) in RESPONSES {
            components.responses.insert(
                name.to_owned(),
                RefOr::T(problem_response(description, header)),
            );
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or Better Auth session token")
                    .description(Some(
                        "A JWT from Better Auth's jwt plugin (or signed with a configured key), or a \
                         Better Auth session token as its bearer plugin hands it out.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "better-auth.session_token",
                "Better Auth's signed session cookie (also `__Secure-better-auth.session_token`). \
                 POST/PATCH/DELETE must come from a trusted Origin.",
            ))),
        );

        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            let has_ids = path.contains('{');
            let ops = [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if !api {
                    if path == "/readyz" {
                        add(op, "503", "ServiceUnavailable");
                    }
                    continue;
                }
                let unsafe_method = method != HttpMethod::Get;
                let is_list = op
                    .parameters
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| p.name == "cursor"));
                let has_body = op.request_body.is_some();
                add(op, "401", "Unauthorized");
                add(op, "429", "TooManyRequests");
                if unsafe_method {
                    add(op, "403", "Forbidden");
                }
                if has_ids || is_list || has_body {
                    add(op, "400", "BadRequest");
                }
                if has_ids {
                    add(op, "404", "NotFound");
                }
                if has_body {
                    add(op, "408", "RequestTimeout");
                    add(op, "413", "PayloadTooLarge");
                    add(op, "415", "UnsupportedMediaType");
                }
                if has_body || is_list {
                    add(op, "422", "UnprocessableEntity");
                }
                if method == HttpMethod::Post && has_body {
                    add(op, "409", "Conflict");
                }
                if method == HttpMethod::Patch {
                    add(op, "412", "PreconditionFailed");
                }
                add(op, "503", "ServiceUnavailable");
                // Keep responses in status order for readers.
                let mut sorted: Vec<(String, RefOr<Response>)> =
                    std::mem::take(&mut op.responses.responses)
                        .into_iter()
                        .collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                op.responses = sorted
                    .into_iter()
                    .fold(ResponsesBuilder::new(), |b, (status, r)| {
                        b.response(status, r)
                    })
                    .build();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_operation_documents_authentication_failures_and_outages() {
        let doc = document();
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let statuses: Vec<&String> = op.responses.responses.keys().collect();
                if path.starts_with("/api/v1/") {
                    for needed in ["401", "503"] {
                        assert!(
                            op.responses.responses.contains_key(needed),
                            "{path}: {statuses:?}"
                        );
                    }
                }
            }
        }
    }
}
