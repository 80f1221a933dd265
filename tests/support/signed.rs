//! Deliveries to crm-ingest signed by the test itself, in both profiles,
//! so a test can sign them right, wrong, early or late.

use crate::stack::{Service, Stack};
use hookline_core::event::EventId;
use hookline_core::signing::{self, Secret};
use serde_json::{Value, json};

/// A delivery to crm-ingest: body and headers.
pub struct Delivery {
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// Signature and id headers.
    pub headers: Vec<(&'static str, String)>,
}

pub fn page_view_data() -> Value {
    json!({"content_type": "resource", "content_id": "sec-1", "slug": "sec", "title": "signed-delivery"})
}

/// The legacy Node app's profile: `{"api_key","event","data"}`, `X-Timestamp`,
/// `X-Signature` over `{ts}.{body}` with the secret string.
pub fn legacy(secret: &str, api_key: &str, signed_at: i64, sent_at: i64) -> Delivery {
    let id = EventId::new();
    let mut data = page_view_data();
    data["id"] = json!(id.as_str());
    data["ts"] = json!(chrono::Utc::now().to_rfc3339());
    let body = serde_json::to_vec(&json!({"api_key": api_key, "event": "page_view", "data": data}))
        .expect("json");
    let sig = signing::legacy::sign(&Secret::legacy(secret).expect("secret"), signed_at, &body);
    Delivery {
        headers: vec![
            ("webhook-id", id.as_str().to_string()),
            ("x-timestamp", sent_at.to_string()),
            ("x-signature", sig),
        ],
        body,
    }
}

/// What a legacy Node sender posts, signed now: no id anywhere (the
/// CRM derives one), `data.ts` set, `X-Timestamp`/`X-Signature` only.
pub fn legacy_sender(secret: &str, api_key: &str, event: &str, mut data: Value) -> Delivery {
    let now = chrono::Utc::now();
    data["ts"] = json!(now.to_rfc3339());
    let body = serde_json::to_vec(&json!({"api_key": api_key, "event": event, "data": data}))
        .expect("json");
    let ts = now.timestamp();
    let sig = signing::legacy::sign(&Secret::legacy(secret).expect("secret"), ts, &body);
    Delivery {
        headers: vec![("x-timestamp", ts.to_string()), ("x-signature", sig)],
        body,
    }
}

/// Standard Webhooks: the envelope, `webhook-signature` over
/// `{id}.{ts}.{body}`.
pub fn standard(secret: &str, signed_at: i64, sent_at: i64) -> Delivery {
    let id = EventId::new();
    let body = serde_json::to_vec(&json!({"id": id.as_str(), "type": "page_view",
        "occurred_at": chrono::Utc::now().to_rfc3339(), "data": page_view_data()}))
    .expect("json");
    let sig = signing::standard::sign(
        &Secret::standard(secret).expect("secret"),
        id.as_str(),
        signed_at,
        &body,
    );
    Delivery {
        headers: vec![
            ("webhook-id", id.as_str().to_string()),
            ("webhook-timestamp", sent_at.to_string()),
            ("webhook-signature", sig),
        ],
        body,
    }
}

pub async fn deliver(stack: &Stack, d: &Delivery) -> (u16, Value) {
    let mut req = stack
        .http()
        .post(format!(
            "{}/api/webhooks/resources-centre",
            stack.url(Service::Ingest)
        ))
        .header("content-type", "application/json")
        .body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(*k, v.as_str());
    }
    let resp = req.send().await.expect("ingest answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
