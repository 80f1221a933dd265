//! The two reference servers: a bare axum endpoint (the ceiling the edge is
//! compared with) and a webhook receiver that answers 200 at once.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `POST /api/page-view` answered `202 {"status":"ok","id":…}` after
/// reading the body, and nothing else: the same HTTP work as the edge minus
/// validation, fingerprinting and the JetStream publish.
pub async fn bare(listen: SocketAddr) -> anyhow::Result<()> {
    let app = Router::new()
        .route(
            "/api/page-view",
            post(|_body: Bytes| async {
                let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
                (
                    StatusCode::ACCEPTED,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    format!(r#"{{"status":"ok","id":"{id}"}}"#),
                )
            }),
        )
        .route("/readyz", get(|| async { StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("bare axum 202 listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// What the receiver counted.
#[derive(Default)]
pub struct Received {
    /// Requests answered.
    pub count: AtomicU64,
    /// First and latest request.
    pub span: Mutex<Option<(Instant, Instant)>>,
}

impl Received {
    /// Seconds from the first request to the latest.
    pub fn span_seconds(&self) -> f64 {
        self.span
            .lock()
            .ok()
            .and_then(|s| *s)
            .map_or(0.0, |(first, last)| (last - first).as_secs_f64())
    }

    /// Forgets every request so far.
    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        if let Ok(mut span) = self.span.lock() {
            *span = None;
        }
    }
}

/// The receiver's routes: `POST /hook/{n}` answered `200` at once and
/// counted; `GET /stats` → `{"count":…,"span_s":…}`; `POST /reset`.
fn receiver_app(received: Arc<Received>) -> Router {
    Router::new()
        .route("/hook/{n}", post(receive))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .route("/readyz", get(|| async { StatusCode::OK }))
        .with_state(received)
}

/// Starts a receiver in this process on `listen` (port 0: any). Returns its
/// address and its counters.
pub async fn receiver(listen: SocketAddr) -> anyhow::Result<(SocketAddr, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = receiver_app(received.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("receiver failed: {e}");
        }
    });
    Ok((addr, received))
}

/// Serves the receiver as its own process until Ctrl-C or SIGTERM, so its
/// CPU is not the measured process's: webhook-out and the raw HTTP loop it
/// is compared with post to the same receiver.
pub async fn serve_receiver(listen: SocketAddr) -> anyhow::Result<()> {
    let app = receiver_app(Arc::new(Received::default()));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("counting receiver listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn receive(
    State(r): State<Arc<Received>>,
    Path(_n): Path<String>,
    _body: Bytes,
) -> impl IntoResponse {
    let now = Instant::now();
    r.count.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut span) = r.span.lock() {
        *span = Some(match *span {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }
    StatusCode::OK
}

async fn stats(State(r): State<Arc<Received>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "count": r.count.load(Ordering::Relaxed),
        "span_s": r.span_seconds(),
    }))
}

async fn reset(State(r): State<Arc<Received>>) -> impl IntoResponse {
    r.reset();
    StatusCode::OK
}
