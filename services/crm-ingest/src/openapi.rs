//! `/openapi.json`, generated from the handler's annotations.
//!
//! The body types here exist only to describe the two delivery shapes to
//! integrators; the handler parses bodies itself (it must verify the raw
//! bytes before trusting any JSON). The exact payload schemas of each event
//! type are the JSON Schemas in `proto-schemas/`.

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The OpenAPI document of crm-ingest.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookline crm-ingest",
        description = "Receives signed event deliveries from the Resources Centre (webhook-out, or the legacy Node app's Node sender), verifies them over the raw body and publishes them to CRM_EVENTS. Two signature profiles: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and rc-legacy (`X-Timestamp`, `X-Signature`, `api_key` in the body). The signature is verified before the body is parsed; every authentication failure is the same 401. A legacy event id comes only from the signed body (`id` / `data.id`), never from a header. A well-formed event type hookline does not model (`order.created`, `booking.created`, …) is accepted and kept as received (`crm.events.other.<type>`, table `other_events`). `POST /api/webhooks/optimocms` takes OptimoCMS deliveries (`x-optimocms-timestamp` in ms, `x-optimocms-signature` hex, `ingest.optimocms_secrets`). Also serves /healthz and /readyz (metrics are on the ops listener).",
    ),
    paths(crate::handler::receive, crate::optimocms::receive),
    components(schemas(
        StatusBody,
        DeliveryBody,
        StandardDelivery,
        LegacyDelivery,
        OptimoCmsBody,
        ReceivedBody,
        ErrorBody
    )),
    tags((name = "webhooks", description = "Inbound event deliveries"))
)]
pub struct ApiDoc;

/// Every answer: `{"status":"ok"}` or `{"status":"error","message":…}`.
#[derive(Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok` or `error`.
    #[schema(example = "error")]
    pub status: String,
    /// What was wrong (errors only).
    #[schema(example = "Invalid signature")]
    pub message: Option<String>,
}

/// Either delivery shape.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum DeliveryBody {
    /// Standard Webhooks profile.
    Standard(StandardDelivery),
    /// rc-legacy profile (and the legacy Node app's sender).
    Legacy(LegacyDelivery),
}

/// The event envelope, as sent with the Standard Webhooks profile.
#[derive(Serialize, ToSchema)]
pub struct StandardDelivery {
    /// Event id (`evt_…`); the `webhook-id` header wins if they differ.
    #[schema(example = "evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E")]
    pub id: String,
    /// When the event happened (RFC 3339).
    #[schema(example = "2026-10-13T07:58:00.000Z")]
    pub occurred_at: String,
    /// `page_view`, `form_submission`, or `ping` (a test delivery).
    #[serde(rename = "type")]
    #[schema(example = "page_view")]
    pub kind: String,
    /// The payload of that event type.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The legacy Node app's body, as sent with the rc-legacy profile.
#[derive(Serialize, ToSchema)]
pub struct LegacyDelivery {
    /// Must equal `ingest.api_key` when that is set.
    pub api_key: Option<String>,
    /// `page_view`, `form_submission`, or `ping`.
    #[schema(example = "form_submission")]
    pub event: String,
    /// The payload; may carry `id` (the event id) and `ts` (when it happened).
    /// Without an id, one is derived from the legacy Node receiver's `uniq_key`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An OptimoCMS delivery: `{"id","type","created_at","data"}`.
#[derive(Serialize, ToSchema)]
pub struct OptimoCmsBody {
    /// The sender's event id, kept; without it one is derived from the
    /// signed body.
    #[schema(example = "evt_abc123")]
    pub id: Option<String>,
    /// `form.submitted` (→ `form_submission`), a hookline type name, or any
    /// other type (kept in `other_events`).
    #[serde(rename = "type")]
    #[schema(example = "form.submitted")]
    pub kind: String,
    /// When it happened (RFC 3339).
    #[schema(example = "2026-05-26T14:00:00.000Z")]
    pub created_at: Option<String>,
    /// For `form.submitted`: `{formId, siteId, fields, submittedAt}`;
    /// `fields.email` becomes the submission's email.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The OptimoCMS route's success: `{"received": true}`.
#[derive(Serialize, ToSchema)]
pub struct ReceivedBody {
    /// Always true.
    pub received: bool,
}

/// The OptimoCMS route's refusals: `{"error": …}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong; `Invalid signature` for every authentication failure.
    #[schema(example = "Invalid signature")]
    pub error: String,
}
