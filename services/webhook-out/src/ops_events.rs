//! Operational events: webhook-out tells the operator, by webhook, when it
//! disables an endpoint (`endpoint.disabled`: a 410 Gone, or failing without
//! a success for `webhook_out.disable_after`) and when an event is
//! dead-lettered (`message.attempt.exhausted`). Svix calls these
//! "operational webhooks".
//!
//! Each is a JSON body `{id, type, created_at, data}` POSTed to
//! `webhook_out.ops_webhook_url`, signed with Standard Webhooks headers
//! (`webhook-id` = the operational event's id, `webhook-timestamp`,
//! `webhook-signature`) under `webhook_out.ops_webhook_secret`. Sending never
//! holds up a delivery: each event goes out on its own task and is retried a
//! few times with back-off; one still failing after that is logged and
//! dropped (the facts stay in the webhook's state, the attempt log and the
//! DLQ).

use chrono::Utc;
use hookline_core::EventId;
use hookline_core::config::{ConfigError, WebhookOutConfig};
use hookline_core::signing::{Secret, standard};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// An endpoint was disabled.
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";
/// An event's retries ran out and it went to `RC_DLQ`.
pub const ATTEMPT_EXHAUSTED: &str = "message.attempt.exhausted";

/// Tries per operational event.
const TRIES: u32 = 5;

/// The configured sender of operational events.
pub struct OpsEvents {
    url: String,
    secret: Secret,
    http: reqwest::Client,
}

impl OpsEvents {
    /// The sender `webhook_out.ops_webhook_*` configure, if any. A URL
    /// without a usable secret is a configuration error naming the key.
    pub fn from_config(wo: &WebhookOutConfig) -> Result<Option<Arc<Self>>, ConfigError> {
        let Some(url) = wo.ops_webhook_url.clone().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if url::Url::parse(&url).is_err() {
            return Err(ConfigError::Invalid {
                key: "webhook_out.ops_webhook_url",
                message: "is not a URL".into(),
            });
        }
        let invalid = |message: &str| ConfigError::Invalid {
            key: "webhook_out.ops_webhook_secret",
            message: message.to_string(),
        };
        let raw = wo
            .ops_webhook_secret
            .as_deref()
            .ok_or_else(|| invalid("is required when webhook_out.ops_webhook_url is set"))?;
        if raw.len() < 16 {
            return Err(invalid("must be at least 16 bytes (a whsec_ secret)"));
        }
        let secret = Secret::standard(raw).map_err(|_| invalid("is not a valid whsec_ secret"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ConfigError::Invalid {
                key: "webhook_out.ops_webhook_url",
                message: format!("no HTTP client for it: {e}"),
            })?;
        Ok(Some(Arc::new(Self { url, secret, http })))
    }

    /// Sends one operational event in the background.
    pub fn emit(self: &Arc<Self>, kind: &'static str, data: Value) {
        let id = format!("ops_{}", EventId::new().as_str().trim_start_matches("evt_"));
        let body = json!({
            "id": id,
            "type": kind,
            "created_at": Utc::now(),
            "data": data,
        });
        let this = self.clone();
        tokio::spawn(async move { this.send(&id, kind, body.to_string()).await });
    }

    async fn send(&self, id: &str, kind: &str, body: String) {
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=TRIES {
            let ts = Utc::now().timestamp();
            let signature = standard::sign(&self.secret, id, ts, body.as_bytes());
            let sent = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(kind, attempt, status = %r.status(), "operational event refused")
                }
                Err(e) => {
                    tracing::warn!(kind, attempt, error = %e, "operational event not delivered")
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        tracing::error!(kind, id, "operational event dropped after {TRIES} tries");
    }
}
