//! The per-client-IP token bucket of the public listeners (edge, ingest).
//!
//! Keyed by [`ClientIpKey`] (the client IP by the trusted-proxy rules, IPv6
//! by its /64). Refusals are `429 {"status":"error","message":…}` with
//! `Retry-After`. The limiter keeps one entry per key; a housekeeping task,
//! which ends with the service's shutdown, forgets idle ones every minute.

use super::client_ip::{ClientIpKey, TrustedProxies};
use crate::shutdown::Shutdown;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;

/// A rate limit read from config.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    /// Sustained requests per second per key; 0 turns the limit off.
    pub per_second: u32,
    /// Requests a key may make at once.
    pub burst: u32,
}

/// `per_second` and `burst` that make no limiter (named by the caller).
#[derive(Debug, thiserror::Error)]
#[error("rate limit of {per_second}/s with burst {burst} cannot be built")]
pub struct InvalidRateLimit {
    /// Requests per second.
    pub per_second: u32,
    /// Burst.
    pub burst: u32,
}

/// Adds the limit to every route of `router` (its fallbacks stay free, so
/// a 404 costs nothing). Off (`per_second == 0`): `router` unchanged.
pub fn apply(
    router: Router,
    limit: RateLimit,
    proxies: TrustedProxies,
    shutdown: &Shutdown,
) -> Result<Router, InvalidRateLimit> {
    if limit.per_second == 0 {
        return Ok(router);
    }
    let period = Duration::from_nanos((1_000_000_000 / u64::from(limit.per_second)).max(1));
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientIpKey(proxies))
        .period(period)
        .burst_size(limit.burst.max(1))
        .error_handler(|err| match err {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                refused(wait_time.max(1))
            }
            _ => refused(1),
        })
        .finish()
        .ok_or(InvalidRateLimit {
            per_second: limit.per_second,
            burst: limit.burst,
        })?;
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
    Ok(router.route_layer(GovernorLayer {
        config: Arc::new(config),
    }))
}

fn refused(wait_seconds: u64) -> Response {
    let message = format!("rate limit exceeded; retry in {wait_seconds}s");
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({"status": "error", "message": message})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait_seconds));
    r
}
