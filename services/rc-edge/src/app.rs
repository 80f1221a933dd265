//! The router: routes, body limit, rate limit, CORS, request metrics.
//! `/metrics` is not here: it is served on `ops.listen`.

use crate::Error;
use crate::client_ip::TrustedProxies;
use crate::error::ApiError;
use crate::fingerprint::Fingerprinter;
use crate::routes::{self, AppState, Inner};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use hookline_core::config::EdgeConfig;
use hookline_core::http::rate_limit::{self, RateLimit};
use hookline_core::nats::Nats;
use hookline_core::ops::{self, Readiness};
use hookline_core::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Builds the edge's router (API and ops routes) on a connected NATS.
///
/// Spawns the rate limiter's housekeeping, which ends with `shutdown`.
pub fn router(
    edge: &EdgeConfig,
    nats: Nats,
    readiness: Readiness,
    shutdown: &Shutdown,
) -> Result<Router, Error> {
    let proxies = TrustedProxies::parse("edge.trusted_proxies", &edge.trusted_proxies)?;
    let cors = cors(&edge.cors_origins)?;
    let state = AppState(Arc::new(Inner {
        nats: nats.clone(),
        fingerprints: Fingerprinter::from_config(edge.fingerprint_secret.as_deref())?,
        identities: crate::identity::Identities::from_config(edge.identity_secret.as_deref()),
        bots: isbot::Bots::default(),
        proxies: proxies.clone(),
        base_url: edge.public_base_url.clone(),
        max_body: edge.max_body_bytes,
    }));

    let mut api = Router::new()
        .route("/api/page-view", post(routes::page_view))
        .route("/t/{content_type}/{slug_gif}", get(routes::pixel))
        .route("/api/form-submission", post(routes::form_submission))
        .with_state(state)
        .layer(DefaultBodyLimit::max(edge.max_body_bytes));
    let limit = RateLimit {
        per_second: edge.rate_limit_per_second,
        burst: edge.rate_limit_burst,
    };
    api = rate_limit::apply(api, limit, proxies, shutdown).map_err(Error::RateLimit)?;
    // Outermost of the route layers, so 429s are counted too.
    let api = api.route_layer(middleware::from_fn(|req: Request, next: Next| {
        ops::track_requests("edge", req, next)
    }));

    let health_sync = crate::health_sync::router(nats, edge.health_sync_api_key.as_deref());
    let app = api
        .merge(health_sync)
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(ops::health_router(readiness))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                message: "method not allowed on this endpoint".into(),
            }
        });
    // Outermost, so preflights and refusals (429, 413) carry CORS headers
    // and the browser can read them.
    Ok(match cors {
        Some(cors) => app.layer(cors),
        None => app,
    })
}

/// CORS for `edge.cors_origins` (`*` allows any origin); none configured, no
/// CORS headers at all.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>, Error> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                let o = o.trim().trim_end_matches('/');
                HeaderValue::from_str(o).map_err(|_| Error::CorsOrigin(o.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    ))
}
