//! The webhook bodies webhook-out sends and crm-ingest receives, defined
//! once so sender, receiver and the committed JSON Schemas
//! ([`crate::schemas`]) cannot drift apart.
//!
//! - The `rc-legacy` body, [`LegacyBody`]: `{"api_key","event","data"}`
//!   with `data` = the event's fields, then `id` and `ts`. The legacy Node
//!   app sends the same shape without `data.id`; a webhook without an API
//!   key sends `"api_key": null`.
//! - The test ping (`POST /v1/webhooks/{id}/test`): type [`PING`] with
//!   [`PingData`], in an envelope-shaped [`PingEnvelope`] for the
//!   `standard` profile and in a [`LegacyBody`] for `rc-legacy` (the
//!   `optimocms` profile's is [`crate::optimocms::Body`]). A receiver
//!   answers a ping and publishes nothing.
//!
//! The structs serialise their fields in declaration order, which is the
//! order on the wire; the legacy body is compact, so a receiver that parses
//! and re-serialises it (the legacy Node app's `JSON.stringify(req.body)`)
//! gets the very bytes that were signed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `type` / `event` of a test delivery.
pub const PING: &str = "ping";

/// The `message` of every test delivery.
pub const PING_MESSAGE: &str = "hookline test delivery";

/// The legacy Node app's webhook body (`rc-legacy` profile):
/// `{"api_key", "event", "data"}`, where `data` is the event's payload plus
/// its `id` and `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LegacyBody<D> {
    /// The shared API key (`CRM_WEBHOOK_KEY`); `null` from a webhook that
    /// has none, which only a receiver without `ingest.api_key` accepts.
    pub api_key: Option<String>,
    /// `page_view`, `form_submission`, `content_published` or `ping`.
    pub event: String,
    /// The payload with `id` and `ts`.
    pub data: LegacyData<D>,
}

/// A legacy body's `data`: the typed payload, then `id` and `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LegacyData<D> {
    /// The payload fields.
    #[serde(flatten)]
    pub payload: D,
    /// The event id (absent from the legacy Node app's own sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the event occurred (RFC 3339).
    pub ts: String,
}

/// What a test delivery carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PingData {
    /// The webhook being tested.
    pub webhook_id: String,
    /// Always `hookline test delivery` ([`PING_MESSAGE`]).
    pub message: String,
}

impl PingData {
    /// The ping of webhook `webhook_id`.
    pub fn new(webhook_id: &str) -> Self {
        Self {
            webhook_id: webhook_id.to_string(),
            message: PING_MESSAGE.to_string(),
        }
    }
}

/// A test delivery in the `standard` profile, shaped like an event's
/// envelope: `{"id","occurred_at","type","data"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PingEnvelope {
    /// The ping's own id (never an event's).
    pub id: String,
    /// When it was sent (RFC 3339, milliseconds, UTC).
    pub occurred_at: String,
    /// Always `ping` ([`PING`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The webhook and the message.
    pub data: PingData,
}

#[cfg(test)]
mod tests;
