//! The committed schemas match the Rust types, and real payloads validate.
//!
//! `UPDATE_SCHEMAS=1 cargo test -p hookline-core --test schemas` rewrites
//! `proto-schemas/` (that is what `scripts/gen-schemas` runs).

use hookline_core::event::{ContentType, Event, EventData, PageView, RawEvent, Visitor};
use hookline_core::schemas;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-schemas")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn assert_valid(schema_file: &str, instance: &Value) {
    let schema = load(schema_file);
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}\n{instance}");
}

#[test]
fn committed_schemas_match_the_types() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, schema) in schemas::all() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = dir().join(name);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "proto-schemas out of date: {drifted:?}; run scripts/gen-schemas"
    );
}

#[test]
fn seed_payloads_validate() {
    for (example, schema) in [
        ("seed_page_view.json", "legacy_page_view.v1.json"),
        (
            "seed_form_submission.json",
            "legacy_form_submission.v1.json",
        ),
    ] {
        let instance = load(&format!("examples/{example}"));
        assert_valid(schema, &instance);
    }
}

#[test]
fn schemas_reject_what_the_types_reject() {
    let mut bad = load("examples/seed_page_view.json");
    bad["data"]["content_type"] = Value::String("podcast".into());
    let schema = load("legacy_page_view.v1.json");
    assert!(!jsonschema::is_valid(&schema, &bad));
    let mut bad = load("examples/seed_form_submission.json");
    bad["data"].as_object_mut().unwrap().remove("form_id");
    let schema = load("legacy_form_submission.v1.json");
    assert!(!jsonschema::is_valid(&schema, &bad));
}

#[test]
fn messages_we_publish_validate() {
    let event = Event::new(EventData::PageView(PageView {
        content_type: ContentType::Resource,
        content_id: "res_1".into(),
        slug: "s".into(),
        title: Some("T".into()),
        community: None,
        contact_id: None,
        url: None,
        content_checksum: Some("abc".into()),
        utm_campaign: Some("Q4".into()),
        utm_source: None,
        utm_medium: None,
    }));
    let json = serde_json::to_value(&event).unwrap();
    assert_valid("event.v1.json", &json);
    assert_valid("page_view.v1.json", &json);
    let raw = RawEvent {
        event,
        visitor: Visitor {
            fingerprint: Some("fp".into()),
            bot: true,
        },
    };
    assert_valid("raw_event.v1.json", &serde_json::to_value(&raw).unwrap());
}

#[test]
fn optimocms_bodies_and_other_events_validate() {
    use hookline_core::event::FormSubmission;
    use hookline_core::optimocms::{self, Body};
    use hookline_core::other_event::OtherEvent;
    use serde_json::json;

    let form = FormSubmission {
        form_id: "frm_1".into(),
        content_type: None,
        content_id: None,
        slug: None,
        contact_id: None,
        email: Some("jo@acme.com".into()),
        fields: [("first_name".to_string(), "Jo".to_string())].into(),
        content_checksum: None,
        site_id: None,
    };
    let now = chrono::Utc::now();
    let out = Body {
        id: "evt_1".into(),
        kind: optimocms::FORM_SUBMITTED.into(),
        created_at: "2026-05-26T14:00:00.000Z".into(),
        data: optimocms::form_data(&form, "site_abc123", &now),
    };
    let out = serde_json::to_value(&out).unwrap();
    assert_valid("optimocms_form_submitted.v1.json", &out);
    assert_valid("optimocms_delivery.v1.json", &out);
    assert_valid("optimocms_delivery_form_submitted.v1.json", &out);

    // The vendor guide's shapes, as an OptimoCMS sender posts them.
    let order = json!({"id": "evt_o", "type": "order.created", "created_at": "2026-05-26T14:00:00Z",
        "data": {"orderId": "o1", "customer": {"email": "a@b.c", "name": "A B"}, "totalCents": 1299}});
    assert_valid("optimocms_delivery.v1.json", &order);
    assert_valid("optimocms_event.v1.json", &order);
    let mut no_form_id = out.clone();
    no_form_id["data"].as_object_mut().unwrap().remove("formId");
    let schema = load("optimocms_delivery_form_submitted.v1.json");
    assert!(!jsonschema::is_valid(&schema, &no_form_id));

    let other = OtherEvent {
        id: hookline_core::EventId::parse("evt_o").unwrap(),
        kind: "order.created".into(),
        source: "optimocms".into(),
        received_at: now,
        payload: order.as_object().unwrap().clone(),
    };
    assert_valid(
        "other_event.v1.json",
        &serde_json::to_value(&other).unwrap(),
    );
}
