//! The HTTP server every hookline listener runs on (edge, ingest, the
//! webhook-out admin API and the ops listener).
//!
//! It replaces `axum::serve` for three reasons that matter to clients
//! outside the test suite's careful set-up:
//!
//! - **Read time-outs.** A client gets `read_timeout` to send its request
//!   headers (and, on a kept-alive connection, to start the next request),
//!   and the same again for its body. A client that sends half a request is
//!   cut off instead of holding a connection and a task forever.
//! - **Connection hygiene.** When a handler answers without reading the
//!   whole body (a 404, 405, 413, 415 or 429 to a request that carried one),
//!   hyper would otherwise close the kept-alive connection silently and the
//!   client's next request on it would fail. See [`body`]; and when the
//!   connection does close under a client still sending, the answer must
//!   not be lost to a reset. See [`linger`].
//! - **HTTP/2 only when asked.** Cleartext HTTP/2 (prior knowledge) is
//!   served only when [`ServeOptions::http2`] says so.
//!
//! Lifecycle: [`serve`] accepts until `shutdown` fires, then stops accepting
//! and tells every open connection to finish its request in flight and
//! close; it returns once they all have. Callers bound that wait with their
//! own grace period.

pub mod body;
pub mod client_ip;
pub mod linger;
pub mod rate_limit;

use crate::shutdown::Shutdown;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How a listener treats its clients.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Also serve cleartext HTTP/2 (prior knowledge) beside HTTP/1.1.
    pub http2: bool,
    /// Longest a client may take to send a request's headers, and again its
    /// body, before the connection is cut off.
    pub read_timeout: Duration,
}

impl ServeOptions {
    /// The default read time-out of every listener.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(15);

    /// Listeners reached only by operators and hookline itself (admin API,
    /// ops): HTTP/1.1 and HTTP/2, the default time-out.
    pub fn internal() -> Self {
        Self {
            http2: true,
            read_timeout: Self::READ_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` fires. Handlers see the
/// peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let builder = Arc::new(builder(options));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let unread = linger::Unread::default();
        let service = hyper::service::service_fn({
            let router = router.clone();
            let unread = unread.clone();
            move |req| {
                handle(
                    router.clone(),
                    req,
                    peer,
                    options.read_timeout,
                    unread.clone(),
                )
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // With HTTP/2 on, hyper first waits for bytes to tell the two
            // protocols apart, before any HTTP time-out runs: bound that too.
            if options.http2
                && tokio::time::timeout(options.read_timeout, stream.peek(&mut [0u8; 1]))
                    .await
                    .is_err()
            {
                return;
            }
            let io = linger::Lingering::new(stream, unread, options.read_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn builder(options: ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.read_timeout);
    if options.http2 {
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(options.read_timeout));
        builder
    } else {
        builder.http1_only()
    }
}

/// One request: the body watched (time-out, drained or `Connection: close`
/// with a lingering close), the peer recorded, the router called.
async fn handle(
    router: Router,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    read_timeout: Duration,
    unread: linger::Unread,
) -> Result<axum::response::Response, Infallible> {
    let (parts, incoming) = req.into_parts();
    let (watched, watch) = body::Watched::new(incoming, read_timeout);
    let mut req = hyper::Request::from_parts(parts, axum::body::Body::new(watched));
    req.extensions_mut().insert(ConnectInfo(peer));
    let keep_alive = body::KeepAlive::of(&req);
    let response = router.oneshot(req).await?;
    let response = keep_alive.settle(&watch, response).await;
    if keep_alive.leaves_unread(&watch) {
        unread.arm();
    }
    Ok(response)
}

/// Accept errors are mostly per-connection (reset before accept) and can be
/// ignored; the others (out of file descriptors) clear up with time, so
/// wait a moment instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
