//! The HTTP surface: the webhook route, `/openapi.json`, the ops routes, and
//! the request metrics around all of them.

use crate::handler::{self, Ingest, ROUTE};
use crate::openapi::ApiDoc;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use hookline_core::ops::{self, Readiness};
use utoipa::OpenApi;

/// The `service` label of this crate's metrics.
const SERVICE: &str = "crm-ingest";

/// The whole router: webhook route, `/openapi.json`, `/healthz`, `/readyz`
/// (`/metrics` is on `ops.listen`); unknown paths and methods answer JSON
/// too.
pub fn router(ingest: Ingest, readiness: Readiness) -> Router {
    let limit = ingest.max_body_bytes();
    let webhook = post(handler::receive)
        .fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit));
    let optimocms = post(crate::optimocms::receive)
        .fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .route(ROUTE, webhook)
        .route(crate::optimocms::ROUTE, optimocms)
        .route("/openapi.json", get(openapi_json))
        .with_state(ingest)
        .merge(ops::health_router(readiness))
        .route_layer(middleware::from_fn(|req: Request, next: Next| {
            ops::track_requests(SERVICE, req, next)
        }))
        .fallback(not_found)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn method_not_allowed() -> Response {
    handler::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method not allowed; deliveries are POSTed to {ROUTE} or {}",
            crate::optimocms::ROUTE
        ),
    )
}

async fn not_found() -> Response {
    ops::record_request(SERVICE, "unmatched", StatusCode::NOT_FOUND, None);
    handler::error_response(StatusCode::NOT_FOUND, "Not found".into())
}
