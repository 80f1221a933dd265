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

/// Starts a receiver on `listen` (port 0: any) answering `200` to
/// `POST /hook/{n}` at once. Returns its address and its counters.
pub async fn receiver(listen: SocketAddr) -> anyhow::Result<(SocketAddr, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook/{n}", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("receiver failed: {e}");
        }
    });
    Ok((addr, received))
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
