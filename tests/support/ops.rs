//! What the operating tests need beside a stack: a webhook receiver that
//! fails until fixed, the admin API, and the `hookline` command run with
//! the stack's configuration.

use crate::hookline_bin;
use crate::stack::{ADMIN_TOKEN, Service, Stack};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An endpoint that answers 500 while broken and 200 otherwise, and counts
/// the deliveries it accepted per `webhook-id` (the event id).
pub struct Receiver {
    broken: AtomicBool,
    accepted: Mutex<BTreeMap<String, usize>>,
    addr: std::net::SocketAddr,
}

impl Receiver {
    /// Starts one on a free port.
    pub async fn start(broken: bool) -> Arc<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver listener");
        let rx = Arc::new(Receiver {
            broken: AtomicBool::new(broken),
            accepted: Mutex::new(BTreeMap::new()),
            addr: listener.local_addr().expect("receiver address"),
        });
        let app = Router::new().fallback(receive).with_state(rx.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        rx
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Makes it answer 200 from now on.
    pub fn fix(&self) {
        self.broken.store(false, Ordering::SeqCst);
    }

    /// How many deliveries of `event_id` it accepted.
    pub fn accepted(&self, event_id: &str) -> usize {
        let map = self.accepted.lock().expect("not poisoned");
        map.get(event_id).copied().unwrap_or(0)
    }

    /// How many deliveries it accepted in all.
    pub fn total(&self) -> usize {
        self.accepted.lock().expect("not poisoned").values().sum()
    }
}

async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap) -> StatusCode {
    if rx.broken.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    *rx.accepted
        .lock()
        .expect("not poisoned")
        .entry(id)
        .or_default() += 1;
    StatusCode::OK
}

/// What a `hookline` command printed.
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output as JSON (panics with both streams when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

impl Stack {
    /// Runs `hookline <args>` with the stack's environment.
    pub async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[]).await
    }

    /// Runs `hookline <args>` with the stack's environment plus `extra`.
    pub async fn cli_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut env = self.env(Service::WebhookOut);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(hookline_bin())
                .args(&args)
                .env_clear()
                .envs(env)
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .output()
                .expect("hookline runs")
        })
        .await
        .expect("joined");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Calls the admin API; returns the status and the JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http()
            .request(method, format!("{}{path}", self.url(Service::WebhookOut)))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Creates a webhook for page views to `url`; returns its id.
    pub async fn create_webhook(&self, url: &str) -> String {
        let body = serde_json::json!({"url": url, "events": ["page_view"]});
        let (status, v) = self
            .admin(reqwest::Method::POST, "/v1/webhooks", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("webhook id").to_string()
    }

    /// Sends one page view by a known contact; returns its event id.
    pub async fn page_view(&self, content_id: &str, contact: &str) -> String {
        self.page_view_as(content_id, contact, "Mozilla/5.0 (X11; Linux x86_64)")
            .await
    }

    /// Sends one page view with a user agent; returns its event id.
    pub async fn page_view_as(&self, content_id: &str, contact: &str, ua: &str) -> String {
        let body = serde_json::json!({
            "content_type": "resource",
            "content_id": content_id,
            "slug": format!("resource-{content_id}"),
            "contact_id": contact,
        });
        self.accepted("/api/page-view", ua, body).await["id"]
            .as_str()
            .expect("event id")
            .to_string()
    }

    /// POSTs `body` to the edge's `path` with user agent `ua`, checks the
    /// `202`, and returns the answer (`{"status":"ok","id":…}`).
    pub async fn accepted(
        &self,
        path: &str,
        ua: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let resp = self
            .http()
            .post(format!("{}{path}", self.url(Service::Edge)))
            .header("user-agent", ua)
            .json(&body)
            .send()
            .await
            .expect("edge answers");
        assert_eq!(resp.status().as_u16(), 202);
        resp.json().await.expect("JSON")
    }

    /// One counter or gauge of a process's `/metrics`, summed over the
    /// series whose labels contain `label` (0 when absent).
    pub async fn metric(&self, service: Service, name: &str, label: &str) -> f64 {
        let text = self
            .http()
            .get(format!("{}/metrics", self.url(service)))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
