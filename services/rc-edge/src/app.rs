//! The router: routes, body limit, rate limit, CORS, request metrics.

use crate::Error;
use crate::client_ip::{ClientIpKey, TrustedProxies};
use crate::error::ApiError;
use crate::fingerprint::Fingerprinter;
use crate::routes::{self, AppState, Inner};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hookline_core::config::EdgeConfig;
use hookline_core::nats::Nats;
use hookline_core::ops::{self, Readiness};
use hookline_core::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
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
    let proxies = TrustedProxies::parse(&edge.trusted_proxies)?;
    let cors = cors(&edge.cors_origins)?;
    let state = AppState(Arc::new(Inner {
        nats,
        fingerprints: Fingerprinter::from_config(edge.fingerprint_secret.as_deref())?,
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
    if edge.rate_limit_per_second > 0 {
        api = rate_limited(api, edge, proxies, shutdown)?;
    }
    // Outermost of the route layers, so 429s are counted too.
    let api = api.route_layer(middleware::from_fn(|req: Request, next: Next| {
        ops::track_requests("edge", req, next)
    }));

    let app = api
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(ops::router(readiness))
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

/// Per-client-IP token bucket (`edge.rate_limit_per_second`, burst
/// `edge.rate_limit_burst`) keyed by the same client IP as the fingerprint.
fn rate_limited(
    api: Router,
    edge: &EdgeConfig,
    proxies: TrustedProxies,
    shutdown: &Shutdown,
) -> Result<Router, Error> {
    let period =
        Duration::from_nanos((1_000_000_000 / u64::from(edge.rate_limit_per_second)).max(1));
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientIpKey(proxies))
        .period(period)
        .burst_size(edge.rate_limit_burst.max(1))
        .error_handler(|err| match err {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                let mut r = ApiError::rate_limited(wait_time.max(1)).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait_time.max(1)));
                r
            }
            _ => ApiError::rate_limited(1).into_response(),
        })
        .finish()
        .ok_or(Error::RateLimit)?;
    // The limiter keeps one entry per client IP; forget idle ones.
    let limiter = config.limiter().clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
                _ = shutdown.wait() => break,
            }
        }
    });
    Ok(api.route_layer(GovernorLayer {
        config: Arc::new(config),
    }))
}
