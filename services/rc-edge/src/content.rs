//! `POST /api/content-published`: the site's backend announcing a content
//! item's current version.
//!
//! Only the Resources Centre's backend may call it, with
//! `Authorization: Bearer <edge.content_api_key>`. The route exists only when
//! that key is set (otherwise the edge answers 404, as for any unknown path):
//! it is never open without a key. The key is compared in constant time as a
//! SHA-256 digest (so not even its length leaks) and never logged; the token
//! is checked before the body is read. The event then travels like any
//! other: `rc.raw.content_published`, dedupe (a repeated checksum is dropped,
//! a changed one passes), RC_EVENTS, webhooks, the CRM.

use crate::error::ApiError;
use crate::input;
use crate::routes::{AppState, accepted, client_trace, json_body};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hookline_core::event::{Event, EventData, Visitor};

/// `POST /api/content-published`.
#[utoipa::path(post, path = "/api/content-published", tag = "content",
    request_body = crate::openapi::ContentPublishedRequest,
    security(("content_api_key" = [])),
    responses(
        crate::openapi::Stored,
        (status = 400, description = "Bad input, named (e.g. `checksum must be the SHA-256 as 64 hex digits`)", body = crate::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = crate::openapi::ErrorBody),
        (status = 404, description = "edge.content_api_key is not set: the route is off", body = crate::openapi::ErrorBody),
        crate::openapi::JsonRefusals,
    ))]
pub async fn content_published(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let Some(key) = &state.0.content_key else {
        return Err(ApiError::not_found("no such endpoint").into_response());
    };
    key.check(&headers).map_err(IntoResponse::into_response)?;
    let obj = json_body(&headers, body, state.0.max_body).map_err(IntoResponse::into_response)?;
    let content = input::content_published(&obj).map_err(IntoResponse::into_response)?;
    // The site's server, not a visitor: no fingerprint, never a bot (its
    // HTTP library's user agent would look like one).
    let visitor = Visitor::default();
    let stored = state
        .accept(
            Event::new(EventData::ContentPublished(content)),
            visitor,
            client_trace(&headers),
        )
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(accepted(&stored))
}
