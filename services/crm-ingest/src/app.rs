//! The HTTP surface: the webhook route, `/openapi.json`, the ops routes, and
//! the request metrics around all of them.

use crate::handler::{self, Ingest, ROUTE};
use crate::openapi::ApiDoc;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use hookline_core::ops::{self, Readiness};
use std::time::Instant;
use utoipa::OpenApi;

/// The `service` label of this crate's metrics.
const SERVICE: &str = "crm-ingest";

/// The whole router: webhook route, `/openapi.json`, `/healthz`, `/readyz`,
/// `/metrics`; unknown paths and methods answer JSON too.
pub fn router(ingest: Ingest, readiness: Readiness) -> Router {
    let limit = ingest.max_body_bytes();
    let webhook = post(handler::receive)
        .fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .route(ROUTE, webhook)
        .route("/openapi.json", get(openapi_json))
        .with_state(ingest)
        .merge(ops::router(readiness))
        .route_layer(middleware::from_fn(track))
        .fallback(not_found)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn method_not_allowed() -> Response {
    handler::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method not allowed; deliveries are POSTed to {ROUTE}"),
    )
}

async fn not_found() -> Response {
    count("unmatched", StatusCode::NOT_FOUND, None);
    handler::error_response(StatusCode::NOT_FOUND, "Not found".into())
}

/// Counts every matched request by route template (never the raw path, so
/// the label set stays bounded).
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(req).await;
    count(&route, response.status(), Some(started));
    response
}

fn count(route: &str, status: StatusCode, started: Option<Instant>) {
    metrics::counter!(
        "hookline_http_requests_total",
        "service" => SERVICE,
        "route" => route.to_owned(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    if let Some(started) = started {
        metrics::histogram!(
            "hookline_http_request_duration_seconds",
            "service" => SERVICE,
            "route" => route.to_owned()
        )
        .record(started.elapsed().as_secs_f64());
    }
}
