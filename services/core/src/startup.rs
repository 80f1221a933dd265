//! Answering on a service's own listener while it sets up.
//!
//! A service with an HTTP API binds its port first, then connects to NATS
//! and declares its streams (which may wait for JetStream for up to
//! `nats.connect_timeout`), and only then serves its API. Without this, a
//! probe sent meanwhile is accepted by the kernel and then hangs unanswered;
//! with it, `/healthz` says the process is alive, `/readyz` answers 503
//! (`"starting": true`), `/metrics` works, and any other path gets a 503
//! naming the reason, until the set-up is done and the real router takes
//! over the same socket.

use crate::http::ServeOptions;
use crate::ops::{self, Readiness};
use crate::shutdown::Shutdown;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::net::TcpListener;

/// A listen address that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The configured address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

/// Binds `addr`, naming it when that fails.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Serves a public listener once set up, until `shutdown` fires. Draining
/// turns `/readyz` 503 first so load balancers stop sending; the server then
/// stops accepting and lets the requests in flight finish (each ends at its
/// PubAck or its 503) within `grace`. Past it they are abandoned: their
/// senders saw no answer and retry, and the event id makes that harmless.
pub async fn serve_public(
    service: &'static str,
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    readiness: &Readiness,
    shutdown: &Shutdown,
    grace: Duration,
) -> std::io::Result<()> {
    let draining = {
        let (readiness, shutdown) = (readiness.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.wait().await;
            readiness.set_draining();
        })
    };
    let serve = crate::http::serve(listener, router, options, shutdown.clone());
    let served = shutdown.with_grace(grace, serve).await;
    // Not ready from here on, whichever finished first.
    readiness.set_draining();
    draining.abort();
    served.unwrap_or_else(|| {
        tracing::warn!(
            service,
            "shutdown grace period over; abandoning requests in flight"
        );
        Ok(())
    })
}

/// Runs `setup` while answering on `listener` as described in the module
/// docs, and returns its output. The interim server stops accepting as soon
/// as `setup` finishes; requests it already took finish on their own.
pub async fn answer_while<T>(
    listener: &TcpListener,
    readiness: &Readiness,
    setup: impl Future<Output = T>,
) -> T {
    let interim = match share(listener) {
        Ok(shared) => shared,
        Err(e) => {
            tracing::warn!(error = %e, "cannot answer probes while setting up");
            return setup.await;
        }
    };
    let stop = Shutdown::new();
    let router = ops::router(readiness.clone())
        .fallback(|| async {
            let body = json!({"status": "error", "message": "starting: NATS set-up not finished"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        })
        // No keep-alive: the interim server goes away when set-up is done,
        // and a pooled connection to it would then be closed under a client.
        .layer(axum::middleware::map_response(close_connection));
    tokio::spawn(ops::serve_on(interim, router, stop.clone()));
    let out = setup.await;
    stop.trigger();
    out
}

async fn close_connection(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A second handle on the same listening socket (both accept from one queue).
fn share(listener: &TcpListener) -> std::io::Result<TcpListener> {
    let fd = listener.as_fd().try_clone_to_owned()?;
    let std_listener = std::net::TcpListener::from(fd);
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_get_503_until_set_up_then_the_real_router() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let readiness = Readiness::new();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let probe = {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
                let alive = http.get(format!("{url}/healthz")).send().await.unwrap();
                let api = http.get(format!("{url}/api/x")).send().await.unwrap();
                let connection = ready
                    .headers()
                    .get("connection")
                    .map(|v| v.to_str().unwrap().to_string());
                let _ = release.send(());
                (ready.status(), alive.status(), api.status(), connection)
            })
        };
        answer_while(&listener, &readiness, async {
            released.await.unwrap();
        })
        .await;
        let (ready, alive, api, connection) = probe.await.unwrap();
        assert_eq!(connection.as_deref(), Some("close"));
        assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(alive, StatusCode::OK);
        assert_eq!(api, StatusCode::SERVICE_UNAVAILABLE);

        // The real router now serves the same socket.
        let app = axum::Router::new().route("/api/x", axum::routing::get(|| async { "real" }));
        let shutdown = Shutdown::new();
        tokio::spawn(ops::serve_on(listener, app, shutdown.clone()));
        let body = reqwest::get(format!("{url}/api/x")).await.unwrap();
        assert_eq!(body.text().await.unwrap(), "real");
        shutdown.trigger();
    }
}
