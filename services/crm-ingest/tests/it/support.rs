//! A crm-ingest on port 0 against the real NATS, with an isolated prefix, and
//! helpers to sign deliveries and read back what reached CRM_EVENTS.

use async_nats::jetstream::message::StreamMessage;
use chrono::Utc;
use hookline_core::event::Event;
use hookline_core::names::CRM_EVENTS;
use hookline_core::nats::Nats;
use hookline_core::signing::{Secret, legacy, optimocms, standard};
use hookline_core::{Config, Shutdown, testing};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A `whsec_` secret (24 bytes, like the spec's examples).
pub const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A seed user's plain shared secret.
pub const PLAIN: &str = "super-long-random-shared-secret";
/// The API key legacy bodies carry.
pub const API_KEY: &str = "super-long-random-api-key";

/// One running crm-ingest.
pub struct Stack {
    pub config: Config,
    pub base: String,
    /// The ops listener (`/metrics`).
    pub ops_base: String,
    pub http: reqwest::Client,
    pub nats: Nats,
    shutdown: Shutdown,
    task: JoinHandle<Result<(), crm_ingest::Error>>,
}

/// An answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// Asserts `{"status":"error","message":message}` with `status`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.body["status"], "error", "{:?}", self.body);
        assert_eq!(self.body["message"], message, "{:?}", self.body);
    }

    /// Asserts `200 {"status":"ok"}`.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "{:?}", self.body);
        assert_eq!(self.body, serde_json::json!({"status": "ok"}));
    }
}

impl Stack {
    /// Secrets `[WHSEC, PLAIN]`, API key set, then `edit`.
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Self {
        let mut config = testing::isolated_config();
        config.ingest.secrets = vec![WHSEC.into(), PLAIN.into()];
        config.ingest.api_key = Some(API_KEY.into());
        // The tests send fast from one address; the limit has its own test.
        config.ingest.rate_limit_per_second = 0;
        edit(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ops_base = format!("http://{}", ops.local_addr().unwrap());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(crm_ingest::run_with_listeners(
            config.clone(),
            listener,
            ops,
            shutdown.clone(),
        ));
        let nats = Nats::connect(&config.nats).await.expect("NATS up");
        let http = reqwest::Client::new();
        let stack = Self {
            config,
            base,
            ops_base,
            http,
            nats,
            shutdown,
            task,
        };
        stack.wait_ready().await;
        stack
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                !self.task.is_finished(),
                "crm-ingest stopped during start-up"
            );
            assert!(Instant::now() < deadline, "crm-ingest not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs `body` with `headers` to the webhook route.
    pub async fn post(&self, headers: &[(String, String)], body: impl Into<Vec<u8>>) -> Answer {
        self.post_to(crm_ingest::ROUTE, headers, body).await
    }

    /// POSTs `body` as a Standard Webhooks delivery of event `id`, signed
    /// now with [`WHSEC`].
    pub async fn post_standard(&self, id: &str, body: &str) -> Answer {
        let headers = standard_headers(WHSEC, id, now(), body.as_bytes());
        self.post(&headers, body.to_string()).await
    }

    /// POSTs `body` with `headers` to `route`.
    pub async fn post_to(
        &self,
        route: &str,
        headers: &[(String, String)],
        body: impl Into<Vec<u8>>,
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}{route}", self.base))
            .header("content-type", "application/json")
            .body(body.into());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.expect("crm-ingest answers every request");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// GETs a path, returning status and text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Messages now in CRM_EVENTS.
    pub async fn count(&self) -> u64 {
        let stream = self
            .nats
            .js
            .get_stream(self.config.names().stream(CRM_EVENTS))
            .await
            .expect("CRM_EVENTS exists");
        stream.get_info().await.unwrap().state.messages
    }

    /// Every message in CRM_EVENTS, in order.
    pub async fn messages(&self) -> Vec<StreamMessage> {
        hookline_core::testing::stored(&self.nats, CRM_EVENTS).await
    }

    /// The one message in CRM_EVENTS, decoded, checking subject and msg id.
    pub async fn only_event(&self) -> Event {
        let msgs = self.messages().await;
        assert_eq!(msgs.len(), 1, "exactly one message on CRM_EVENTS");
        let ev: Event = serde_json::from_slice(&msgs[0].payload).expect("an envelope");
        assert_eq!(
            msgs[0].subject.as_str(),
            self.config.names().crm_event_subject(ev.event_type())
        );
        let msg_id = msgs[0]
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string());
        assert_eq!(msg_id.as_deref(), Some(ev.id.as_str()));
        ev
    }

    /// Stops the service (it must return cleanly) and removes its streams.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let result = tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("stops within the grace period")
            .expect("did not panic");
        assert!(result.is_ok(), "{result:?}");
        testing::cleanup(&self.config).await;
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// Standard Webhooks headers signed with `secret`.
pub fn standard_headers(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let sig = standard::sign(&Secret::standard(secret).unwrap(), id, ts, body);
    vec![
        h("webhook-id", id),
        h("webhook-timestamp", ts.to_string()),
        h("webhook-signature", sig),
    ]
}

/// The legacy Node app's headers signed with `secret` (the string as-is).
pub fn legacy_headers(secret: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    vec![
        h("X-Timestamp", ts.to_string()),
        h(
            "X-Signature",
            legacy::sign(&Secret::legacy(secret).unwrap(), ts, body),
        ),
    ]
}

/// OptimoCMS headers signed with `secret` (the string as shown) at
/// `ts_ms` (Unix milliseconds).
pub fn optimocms_headers(secret: &str, ts_ms: i64, body: &[u8]) -> Vec<(String, String)> {
    let sig = optimocms::sign(&optimocms::key(secret).unwrap(), ts_ms, body);
    vec![
        h("x-optimocms-timestamp", ts_ms.to_string()),
        h("x-optimocms-signature", sig),
    ]
}

/// webhook-out's rc-legacy body for a page view with `id`.
pub fn legacy_page_view(api_key: &str, id: &str) -> String {
    serde_json::json!({
        "api_key": api_key,
        "event": "page_view",
        "data": {
            "content_type": "resource", "content_id": "res_9", "slug": "ai-guide",
            "title": "AI guide", "community": "finance", "contact_id": "cnt_001",
            "url": "https://rc.example/resource/ai-guide",
            "id": id, "ts": "2026-10-13T07:58:00.000Z"
        }
    })
    .to_string()
}

/// A standard-profile envelope for a form submission with `id`.
pub fn standard_form(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "occurred_at": "2026-10-13T08:02:11.000Z",
        "type": "form_submission",
        "data": {
            "form_id": "frm_109", "content_type": "event", "content_id": "evt_123",
            "slug": "gen-ai", "contact_id": "cnt_001", "email": "john@acme.com",
            // One submission per id: the same fields twice within
            // `crm.form_dedupe_window` would be one form from two senders.
            "fields": {"first_name": "John", "utm_campaign": "AI_FIN_2025_Q4", "submission": id}
        }
    })
    .to_string()
}
