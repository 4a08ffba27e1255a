//! `/api/v1/search`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use domain::{DomainError, PageLimit, SearchQuery};

use crate::dto::{PageResponse, SearchHitResponse};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::routes::json;
use crate::routes::threads::page_limit;
use crate::state::AppState;

/// Query of `GET /api/v1/search`.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/search`: full-text search over the caller's messages, best match first.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(
        ("q" = String, Query, min_length = 1, max_length = 512, description = "What to look for, in web-search syntax: \
words are ANDed; `\"quoted phrases\"` match adjacent words in order; `or` between two items makes them \
alternatives (`tea or coffee time` is `(tea OR coffee) AND time`); `-word` and `-\"a phrase\"` exclude. \
Case and diacritics are ignored; words match whole, without stemming (`run` does not find `running`); \
punctuation only separates words. Empty, blank, over 512 characters, or with no word to look for \
(only punctuation, only exclusions) is 422 with `field: q`."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size, default 20."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`next_cursor` of the previous page of this same search (same `q`, same user)."),
    ),
    responses((status = 200, description = "One page of the caller's matching messages, best match first, then newest first. \
Each item carries the message, its thread's id and title, and a `snippet`: a short plain-text excerpt of the content \
in which every match is wrapped in `⟦` (U+27E6) and `⟧` (U+27E7), e.g. `we met at the ⟦station⟧ at noon`. Those two \
characters never occur otherwise in a snippet (in the content they are shown as `[` and `]`), so a client can split on \
them to highlight the matches.", body = PageResponse<SearchHitResponse>)))]
pub async fn search_messages(
    AuthUser(user): AuthUser,
    params: web::Query<SearchParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = params
        .q
        .as_deref()
        .ok_or_else(|| DomainError::invalid("q", "is required"))?;
    let query = SearchQuery::parse(q)?;
    let limit = page_limit(params.limit.as_deref(), PageLimit::DEFAULT_THREADS)?;
    let page = state
        .search
        .search(&user.user_id, query, limit, params.cursor.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &PageResponse {
            has_more: page.has_more(),
            data: page
                .items
                .into_iter()
                .map(SearchHitResponse::from)
                .collect(),
            next_cursor: page.next_cursor,
        },
    ))
}
