//! `/healthz`, `/readyz` and `/metrics`, for every service.
//!
//! Every service serves [`router`] on `ops.listen` (with [`serve`]); `hookline
//! all` serves one for the whole process. `/metrics` stays there, off the
//! public ports: its counters describe traffic and internals nobody outside
//! needs. The public edge and ingest also answer [`health_router`]'s
//! `/healthz` and `/readyz`, for load balancers that probe the port they
//! send traffic to; the webhook-out admin API serves all three.

use crate::http::ServeOptions;
use crate::nats::Nats;
use crate::shutdown::Shutdown;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What `/readyz` checks: every NATS connection and pool registered, that
/// no part is still setting up, and that the process is not draining. Until
/// a service has registered at least one dependency it is still starting,
/// and not ready: services without an HTTP API serve `/readyz` before they
/// connect, and a 200 then would tell an orchestrator (or the next service
/// in a start-up order) that a process with no NATS connection yet is ready.
/// A part that declares streams and consumers marks itself
/// [`setting_up`](Readiness::setting_up) until they all exist, so a
/// process that is connected but still waiting for JetStream is not ready
/// either.
#[derive(Clone, Default)]
pub struct Readiness(Arc<ReadinessInner>);

#[derive(Default)]
struct ReadinessInner {
    nats: std::sync::Mutex<Vec<Nats>>,
    pools: std::sync::Mutex<Vec<(String, PgPool)>>,
    setting_up: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
    draining: AtomicBool,
}

impl Readiness {
    /// A readiness with nothing to check yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks this NATS connection too.
    pub fn add_nats(&self, nats: &Nats) {
        self.0.nats.lock().expect("not poisoned").push(nats.clone());
    }

    /// Checks this pool too (`name` appears in the answer).
    pub fn add_pool(&self, name: &str, pool: &PgPool) {
        self.0
            .pools
            .lock()
            .expect("not poisoned")
            .push((name.to_string(), pool.clone()));
    }

    /// Marks `part` (e.g. `dedupe`) as setting up: not ready until
    /// [`set_up`](Readiness::set_up) is called with it. Marking twice is
    /// harmless, so a caller that runs several parts on one readiness (as
    /// `hookline all` does) marks them all before starting any.
    pub fn setting_up(&self, part: &'static str) {
        self.0.setting_up.lock().expect("not poisoned").insert(part);
    }

    /// `part` has finished setting up.
    pub fn set_up(&self, part: &'static str) {
        self.0.setting_up.lock().expect("not poisoned").remove(part);
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// Runs the checks: `(ready, details)`.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let mut ok = true;
        let mut details = serde_json::Map::new();
        let draining = self.0.draining.load(Ordering::SeqCst);
        if draining {
            ok = false;
        }
        details.insert("draining".into(), json!(draining));
        let nats = self.0.nats.lock().expect("not poisoned").clone();
        let starting = nats.is_empty() && self.0.pools.lock().expect("not poisoned").is_empty();
        if starting {
            ok = false;
            details.insert("starting".into(), json!(true));
        }
        let setting_up: Vec<&str> = (self.0.setting_up.lock().expect("not poisoned").iter())
            .copied()
            .collect();
        if !setting_up.is_empty() {
            ok = false;
            details.insert("setting_up".into(), json!(setting_up));
        }
        let nats_ok = nats.iter().all(Nats::is_connected);
        if !nats.is_empty() {
            ok &= nats_ok;
            details.insert("nats".into(), json!(if nats_ok { "ok" } else { "down" }));
        }
        let pools = self.0.pools.lock().expect("not poisoned").clone();
        for (name, pool) in pools {
            let up = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                sqlx::query("SELECT 1").execute(&pool),
            )
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
            ok &= up;
            details.insert(name, json!(if up { "ok" } else { "down" }));
        }
        (ok, serde_json::Value::Object(details))
    }
}

/// The three ops routes.
pub fn router(readiness: Readiness) -> Router {
    health_router(readiness).route("/metrics", get(metrics))
}

/// `/healthz` and `/readyz` only, for public ports.
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn readyz(State(readiness): State<Readiness>) -> Response {
    let (ok, details) = readiness.check().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ok { "ok" } else { "unavailable" }, "checks": details});
    (status, Json(body)).into_response()
}

async fn metrics() -> Response {
    let body = crate::telemetry::prometheus().render();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Serves `router` on `addr` until `shutdown` fires.
pub async fn serve(addr: SocketAddr, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, router, shutdown).await
}

/// Serves `router` on an already-bound listener until `shutdown` fires (tests
/// bind port 0 and read the address first), with the options of an
/// internal listener ([`ServeOptions::internal`]).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    crate::http::serve(listener, router, ServeOptions::internal(), shutdown).await
}

/// Serves the ops routes of `readiness` on `listener` in the background until
/// `shutdown` fires; a failure is logged under `service` (the process goes
/// on: the ops listener reports on it, it is not the work).
pub fn spawn(
    service: &'static str,
    listener: tokio::net::TcpListener,
    readiness: Readiness,
    shutdown: Shutdown,
) {
    tokio::spawn(async move {
        if let Err(e) = serve_on(listener, router(readiness), shutdown).await {
            tracing::error!(error = %e, service, "ops listener failed");
        }
    });
}

/// Middleware counting every request as
/// `hookline_http_requests_total{service,route,status}` and timing it as
/// `hookline_http_request_seconds{service,route}`. The route label
/// is the matched template, never the raw path, so the label set stays
/// bounded. Use as
/// `route_layer(from_fn(|req: Request, next: Next| ops::track_requests("edge", req, next)))`.
pub async fn track_requests(service: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(req).await;
    record_request(service, &route, response.status(), Some(started));
    response
}

/// Registers the `# HELP` text of the HTTP metrics (the recorder does it
/// once, when installed).
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        "hookline_http_requests_total",
        "HTTP requests answered, by service, route template and status"
    );
    metrics::describe_histogram!(
        "hookline_http_request_seconds",
        metrics::Unit::Seconds,
        "Time to answer one HTTP request, by service and route template"
    );
}

/// Records one request (also for answers produced outside the router's
/// matched routes, such as fallbacks).
pub fn record_request(
    service: &'static str,
    route: &str,
    status: StatusCode,
    started: Option<Instant>,
) {
    metrics::counter!(
        "hookline_http_requests_total",
        "service" => service,
        "route" => route.to_owned(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    if let Some(started) = started {
        metrics::histogram!(
            "hookline_http_request_seconds",
            "service" => service,
            "route" => route.to_owned()
        )
        .record(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres() -> PgPool {
        let url = std::env::var("HOOKLINE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy(&format!("{url}/postgres"))
            .expect("valid URL")
    }

    async fn status(readiness: &Readiness) -> StatusCode {
        readyz(State(readiness.clone())).await.status()
    }

    #[tokio::test]
    #[cfg_attr(
        not(feature = "service-tests"),
        ignore = "needs Postgres (scripts/test)"
    )]
    async fn not_ready_until_something_is_registered() {
        let r = Readiness::new();
        let (ok, details) = r.check().await;
        assert!(!ok);
        assert_eq!(details["starting"], true);
        assert_eq!(status(&r).await, StatusCode::SERVICE_UNAVAILABLE);
        r.add_pool("postgres", &postgres());
        assert_eq!(status(&r).await, StatusCode::OK);
    }

    #[tokio::test]
    #[cfg_attr(
        not(feature = "service-tests"),
        ignore = "needs Postgres (scripts/test)"
    )]
    async fn draining_turns_readyz_503_for_good() {
        let r = Readiness::new();
        r.add_pool("postgres", &postgres());
        assert_eq!(status(&r).await, StatusCode::OK);
        r.set_draining();
        let (ok, details) = r.check().await;
        assert!(!ok);
        assert_eq!(details["draining"], true);
        assert_eq!(details["postgres"], "ok", "dependencies are still fine");
        assert_eq!(status(&r).await, StatusCode::SERVICE_UNAVAILABLE);
        r.set_draining();
        assert_eq!(status(&r).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn an_unreachable_dependency_is_not_ready() {
        let r = Readiness::new();
        let down = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(500))
            .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
            .expect("valid URL");
        r.add_pool("postgres", &down);
        let (ok, details) = r.check().await;
        assert!(!ok);
        assert_eq!(details["postgres"], "down");
    }
}
