//! A fault-injecting HTTP proxy run inside the test process: it sits
//! between webhook-out and crm-ingest and, while its flag is set, answers
//! 500 without forwarding; otherwise it forwards the exact body bytes and
//! headers and relays the answer.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The proxy's shared state.
pub struct Proxy {
    target: String,
    http: reqwest::Client,
    /// While true, every request is answered 500.
    pub fail: AtomicBool,
    /// Requests answered 500 by the proxy itself.
    pub injected: AtomicUsize,
    /// 2xx answers relayed from the target, per `webhook-id`.
    pub delivered: Mutex<BTreeMap<String, usize>>,
    addr: std::net::SocketAddr,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 forwarding to `target` (scheme, host
    /// and port; the request's path is kept).
    pub async fn start(target: String) -> Arc<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listener");
        let proxy = Arc::new(Proxy {
            target,
            http: reqwest::Client::new(),
            fail: AtomicBool::new(false),
            injected: AtomicUsize::new(0),
            delivered: Mutex::new(BTreeMap::new()),
            addr: listener.local_addr().expect("proxy address"),
        });
        let app = Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Turns the injected 500s on or off.
    pub fn set_failing(&self, on: bool) {
        self.fail.store(on, Ordering::SeqCst);
    }
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if proxy.fail.load(Ordering::SeqCst) {
        proxy.injected.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = HeaderMap::new();
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH && name != header::CONNECTION {
            out.append(name.clone(), value.clone());
        }
    }
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let sent = proxy
        .http
        .post(format!("{}{path}", proxy.target))
        .headers(out)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                *proxy
                    .delivered
                    .lock()
                    .expect("not poisoned")
                    .entry(webhook_id)
                    .or_default() += 1;
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    }
}
