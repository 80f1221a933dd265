//! A running webhook-out against the real NATS and Postgres, plus small
//! HTTP receivers on 127.0.0.1 to deliver to.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hookline_core::event::{ContentType, FormSubmission, PageView};
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish};
use hookline_core::{Config, Event, EventData, Shutdown};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-admin-token";

/// A config for one test: isolated names, short retries, a token.
pub fn config() -> Config {
    let mut c = hookline_core::testing::isolated_config();
    c.webhook_out.admin_token = Some(TOKEN.into());
    c.webhook_out.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200)];
    c.webhook_out.request_timeout = Duration::from_secs(10);
    c.webhook_out.connect_timeout = Duration::from_secs(2);
    c.ops.shutdown_grace = Duration::from_secs(2);
    c
}

/// Polls `f` until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One webhook-out instance.
pub struct Stack {
    pub base: String,
    pub http: reqwest::Client,
    pub nats: Nats,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), webhook_out::Error>>,
    config: Config,
}

impl Stack {
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(webhook_out::run_with_listener(
            config.clone(),
            listener,
            shutdown.clone(),
        ));
        let http = reqwest::Client::new();
        // Ready, not just alive: the API is served once NATS and Postgres are set up.
        let url = format!("{base}/readyz");
        eventually("webhook-out to start", 30, || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        let nats = Nats::connect(&config.nats).await.unwrap();
        Self {
            base,
            http,
            nats,
            shutdown,
            task,
            config,
        }
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }

    /// Creates a webhook; returns its id.
    pub async fn create_id(&self, body: Value) -> String {
        let w = self.create(body).await;
        w["id"].as_str().expect("webhook id").to_string()
    }

    /// Rotates a webhook's secret; asserts the 200 and returns the answer.
    pub async fn rotate(&self, id: &str) -> Value {
        let path = format!("/v1/webhooks/{id}/rotate-secret");
        let (s, rotated) = self.call(reqwest::Method::POST, &path, None).await;
        assert_eq!(s, 200, "{rotated}");
        rotated
    }

    /// Tries to create a page-view webhook for `url`; asserts the 422 that
    /// refuses the target and returns the answer.
    pub async fn refused_target(&self, url: &str) -> Value {
        let body = standard(url, &["page_view"]);
        let (s, v) = self
            .call(reqwest::Method::POST, "/v1/webhooks", Some(body))
            .await;
        assert_eq!(s, 422, "{url}: {v}");
        v
    }

    /// Stops the service, then drops the test's databases and streams.
    pub async fn finish(self) {
        let config = self.config.clone();
        self.stop().await;
        hookline_core::testing::cleanup(&config).await;
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create(&self, body: Value) -> Value {
        let (status, v) = self
            .call(reqwest::Method::POST, "/v1/webhooks", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v
    }

    pub async fn webhook(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/webhooks/{id}"), None)
            .await
            .1
    }

    /// `GET /v1/webhooks/{id}/secret`.
    pub async fn secret(&self, id: &str) -> Value {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/webhooks/{id}/secret"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub async fn deliveries(&self, id: &str, query: &str) -> Value {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/webhooks/{id}/deliveries?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub async fn publish(&self, event: &Event) {
        let out = Outgoing::new(
            self.nats.names.rc_event_subject(event.event_type()),
            event.id.as_str(),
            serde_json::to_vec(event).unwrap().into(),
        );
        publish(&self.nats.js, &out).await.unwrap();
    }
}

pub fn page_view(content_id: &str) -> Event {
    Event::new(EventData::PageView(PageView {
        content_type: ContentType::Resource,
        content_id: content_id.into(),
        slug: "a-slug".into(),
        title: Some("Title with \"quotes\" and é".into()),
        community: Some("finance".into()),
        contact_id: Some("cnt_001".into()),
        url: Some("https://rc.example/resource/a-slug".into()),
        content_checksum: None,
        utm_campaign: None,
        utm_source: None,
        utm_medium: None,
    }))
}

pub fn form(form_id: &str) -> Event {
    Event::new(EventData::FormSubmission(FormSubmission {
        form_id: form_id.into(),
        content_type: None,
        content_id: None,
        slug: None,
        contact_id: None,
        email: Some("john@acme.example".into()),
        fields: [("first_name".to_string(), "John".to_string())].into(),
        content_checksum: None,
        site_id: None,
    }))
}

/// What a receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How a receiver answers its n-th request (1-based): status, headers, and
/// whether to hang until released.
pub type Behaviour = dyn Fn(usize) -> (u16, Vec<(&'static str, String)>) + Send + Sync;

#[derive(Clone)]
struct RxState {
    hits: Arc<Mutex<Vec<Hit>>>,
    behaviour: Arc<Behaviour>,
    hang: Arc<tokio::sync::Notify>,
    hangs: bool,
}

/// A local HTTP endpoint recording every request.
pub struct Receiver {
    pub url: String,
    pub port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    release: Arc<tokio::sync::Notify>,
    stop: Shutdown,
}

impl Receiver {
    pub async fn ok() -> Self {
        Self::with(|_| (200, vec![]), false).await
    }

    pub async fn with(
        behaviour: impl Fn(usize) -> (u16, Vec<(&'static str, String)>) + Send + Sync + 'static,
        hangs: bool,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(tokio::sync::Notify::new());
        let state = RxState {
            hits: hits.clone(),
            behaviour: Arc::new(behaviour),
            hang: release.clone(),
            hangs,
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let stop = Shutdown::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.wait().await })
                .await
                .unwrap();
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            hits,
            release,
            stop,
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Hit> {
        eventually(&format!("{n} requests at the receiver"), secs, || async {
            let h = self.hits();
            (h.len() >= n).then_some(h)
        })
        .await
    }

    /// Lets hanging requests answer.
    pub fn release(&self) {
        self.release.notify_waiters();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release.notify_waiters();
        self.stop.trigger();
    }
}

async fn handle(State(s): State<RxState>, headers: HeaderMap, body: Bytes) -> Response {
    let n = {
        let mut hits = s.hits.lock().unwrap();
        hits.push(Hit {
            headers,
            body,
            at: Instant::now(),
        });
        hits.len()
    };
    if s.hangs {
        s.hang.notified().await;
    }
    let (status, headers) = (s.behaviour)(n);
    let mut resp = (StatusCode::from_u16(status).unwrap(), "{}").into_response();
    for (k, v) in headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// A standard-profile webhook body for `url`.
pub fn standard(url: &str, events: &[&str]) -> Value {
    json!({"url": url, "events": events})
}
