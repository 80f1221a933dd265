//! JSON Schema of every message on every subject and of every webhook body,
//! generated from the Rust types.
//!
//! `proto-schemas/*.json` are the committed copies; a test fails when they
//! drift from the types. Regenerate with `scripts/gen-schemas`.

use crate::event::{ContentPublished, Event, FormSubmission, PageView, RawEvent};
use crate::handoff::SdrHandoff;
use crate::optimocms::{self, FormData, FormDelivery};
use crate::other_event::OtherEvent;
use schemars::{JsonSchema, schema_for};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::Value;

/// The legacy Node app's legacy webhook body (`rc-legacy` profile):
/// `{"api_key", "event", "data"}`, where `data` is the event's payload plus
/// its `id` and `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LegacyBody<D> {
    /// The shared API key (`CRM_WEBHOOK_KEY`).
    pub api_key: String,
    /// `page_view`, `form_submission` or `content_published`.
    pub event: String,
    /// The payload with `id` and `ts`.
    pub data: LegacyData<D>,
}

/// A legacy body's `data`: the typed payload plus `id` and `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LegacyData<D> {
    /// The event id (absent from the legacy Node app's own sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the event occurred (RFC 3339).
    pub ts: String,
    /// The payload fields.
    #[serde(flatten)]
    pub payload: D,
}

/// Schema of an envelope whose `type` is fixed and `data` is `D`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct TypedEnvelope<D> {
    /// Assigned once at the edge; never changes.
    id: String,
    /// The event type.
    #[serde(rename = "type")]
    kind: String,
    /// When the edge accepted the event (RFC 3339, milliseconds, UTC).
    occurred_at: chrono::DateTime<chrono::Utc>,
    /// The payload.
    data: D,
}

fn with_const_type(mut schema: Value, field_path: &[&str], value: &str) -> Value {
    let mut node = &mut schema;
    for key in field_path {
        node = &mut node[*key];
    }
    *node = serde_json::json!({ "const": value, "type": "string" });
    schema
}

fn titled(mut schema: Value, id: &str, title: &str) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$id".into(),
            Value::String(format!("https://hookline.dev/schemas/{id}")),
        );
        map.insert("title".into(), Value::String(title.into()));
    }
    schema
}

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(schema_for!(T)).expect("schemas serialise")
}

/// Every schema, as `(file name, schema)`.
pub fn all() -> Vec<(&'static str, Value)> {
    let typed = |file: &'static str, title: &str, s: Value, kind: &str| {
        (
            file,
            titled(
                with_const_type(s, &["properties", "type"], kind),
                file,
                title,
            ),
        )
    };
    let legacy = |file: &'static str, title: &str, s: Value, kind: &str| {
        (
            file,
            titled(
                with_const_type(s, &["properties", "event"], kind),
                file,
                title,
            ),
        )
    };
    vec![
        (
            "event.v1.json",
            titled(
                schema::<Event>(),
                "event.v1.json",
                "Event envelope (RC_EVENTS, CRM_EVENTS, standard webhook body)",
            ),
        ),
        typed(
            "page_view.v1.json",
            "page_view event",
            schema::<TypedEnvelope<PageView>>(),
            "page_view",
        ),
        typed(
            "form_submission.v1.json",
            "form_submission event",
            schema::<TypedEnvelope<FormSubmission>>(),
            "form_submission",
        ),
        typed(
            "content_published.v1.json",
            "content_published event",
            schema::<TypedEnvelope<ContentPublished>>(),
            "content_published",
        ),
        (
            "raw_event.v1.json",
            titled(
                schema::<RawEvent>(),
                "raw_event.v1.json",
                "Raw event on RC_RAW (envelope + visitor)",
            ),
        ),
        legacy(
            "legacy_page_view.v1.json",
            "rc-legacy webhook body: page_view",
            schema::<LegacyBody<PageView>>(),
            "page_view",
        ),
        legacy(
            "legacy_form_submission.v1.json",
            "rc-legacy webhook body: form_submission",
            schema::<LegacyBody<FormSubmission>>(),
            "form_submission",
        ),
        legacy(
            "legacy_content_published.v1.json",
            "rc-legacy webhook body: content_published",
            schema::<LegacyBody<ContentPublished>>(),
            "content_published",
        ),
        typed(
            "sdr_task.v1.json",
            "SDR hand-off webhook body (hookline actions, sdr_task)",
            schema::<SdrHandoff>(),
            "sdr_task",
        ),
        typed(
            "optimocms_form_submitted.v1.json",
            "optimocms webhook body: form.submitted (webhook-out)",
            schema::<optimocms::Body<FormData>>(),
            optimocms::FORM_SUBMITTED,
        ),
        (
            "optimocms_event.v1.json",
            titled(
                schema::<optimocms::Body<Map<String, Value>>>(),
                "optimocms_event.v1.json",
                "optimocms webhook body: other events, under hookline's type name with hookline's data (webhook-out)",
            ),
        ),
        (
            "optimocms_delivery.v1.json",
            titled(
                schema::<optimocms::Delivery>(),
                "optimocms_delivery.v1.json",
                "OptimoCMS delivery to POST /api/webhooks/optimocms (crm-ingest)",
            ),
        ),
        typed(
            "optimocms_delivery_form_submitted.v1.json",
            "OptimoCMS form.submitted delivery to POST /api/webhooks/optimocms (crm-ingest)",
            schema::<optimocms::Delivery<FormDelivery>>(),
            optimocms::FORM_SUBMITTED,
        ),
        (
            "other_event.v1.json",
            titled(
                schema::<OtherEvent>(),
                "other_event.v1.json",
                "Event of a type hookline does not model (CRM_EVENTS crm.events.other.<type>, table other_events)",
            ),
        ),
    ]
}
