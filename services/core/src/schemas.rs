//! JSON Schema of every message on every subject and of every webhook body,
//! generated from the Rust types.
//!
//! `proto-schemas/*.json` are the committed copies; a test fails when they
//! drift from the types. Regenerate with `scripts/gen-schemas`.

use crate::event::{ContentPublished, Event, FormSubmission, PageView, RawEvent};
use crate::handoff::SdrHandoff;
use crate::optimocms::{self, FormData, FormDelivery};
use crate::other_event::OtherEvent;
use crate::wire::{LegacyBody, PING, PingEnvelope};
use schemars::{JsonSchema, schema_for};
use serde_json::Map;
use serde_json::Value;

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
    let mut all = envelopes();
    all.extend(legacy_bodies());
    all.extend(optimocms_bodies());
    all.extend(others());
    all
}

/// One schema, as `(file name, schema)` with its `$id` and title.
fn entry(file: &'static str, title: &str, schema: Value) -> (&'static str, Value) {
    (file, titled(schema, file, title))
}

/// A schema whose `type` is fixed to `kind`.
fn typed(file: &'static str, title: &str, schema: Value, kind: &str) -> (&'static str, Value) {
    entry(
        file,
        title,
        with_const_type(schema, &["properties", "type"], kind),
    )
}

/// A legacy body's schema whose `event` is fixed to `kind`.
fn legacy(file: &'static str, title: &str, schema: Value, kind: &str) -> (&'static str, Value) {
    entry(
        file,
        title,
        with_const_type(schema, &["properties", "event"], kind),
    )
}

/// The envelope on RC_EVENTS and CRM_EVENTS (one per type) and on RC_RAW.
fn envelopes() -> Vec<(&'static str, Value)> {
    vec![
        entry(
            "event.v1.json",
            "Event envelope (RC_EVENTS, CRM_EVENTS, standard webhook body)",
            schema::<Event>(),
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
        entry(
            "raw_event.v1.json",
            "Raw event on RC_RAW (envelope + visitor)",
            schema::<RawEvent>(),
        ),
    ]
}

/// The `rc-legacy` webhook bodies, one per type, and the test ping.
fn legacy_bodies() -> Vec<(&'static str, Value)> {
    vec![
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
            "ping.v1.json",
            "Test delivery, standard webhook body (POST /v1/webhooks/{id}/test)",
            schema::<PingEnvelope>(),
            PING,
        ),
    ]
}

/// The OptimoCMS bodies: what webhook-out sends, what crm-ingest accepts.
fn optimocms_bodies() -> Vec<(&'static str, Value)> {
    vec![
        typed(
            "optimocms_form_submitted.v1.json",
            "optimocms webhook body: form.submitted (webhook-out)",
            schema::<optimocms::Body<FormData>>(),
            optimocms::FORM_SUBMITTED,
        ),
        entry(
            "optimocms_event.v1.json",
            "optimocms webhook body: other events, under hookline's type name with hookline's data (webhook-out)",
            schema::<optimocms::Body<Map<String, Value>>>(),
        ),
        entry(
            "optimocms_delivery.v1.json",
            "OptimoCMS delivery to POST /api/webhooks/optimocms (crm-ingest)",
            schema::<optimocms::Delivery>(),
        ),
        typed(
            "optimocms_delivery_form_submitted.v1.json",
            "OptimoCMS form.submitted delivery to POST /api/webhooks/optimocms (crm-ingest)",
            schema::<optimocms::Delivery<FormDelivery>>(),
            optimocms::FORM_SUBMITTED,
        ),
    ]
}

/// The SDR hand-off and events of types hookline does not model.
fn others() -> Vec<(&'static str, Value)> {
    vec![
        typed(
            "sdr_task.v1.json",
            "SDR hand-off webhook body (hookline actions, sdr_task)",
            schema::<SdrHandoff>(),
            "sdr_task",
        ),
        entry(
            "other_event.v1.json",
            "Event of a type hookline does not model (CRM_EVENTS crm.events.other.<type>, table other_events)",
            schema::<OtherEvent>(),
        ),
    ]
}
