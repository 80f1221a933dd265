use super::*;
use crate::event::PageView;
use serde_json::{Value, json};

fn page_view() -> PageView {
    serde_json::from_value(json!({
        "content_type": "event", "content_id": "evt_123", "slug": "s", "contact_id": "cnt_001"
    }))
    .expect("a page view")
}

/// What a webhook without an API key sends.
fn keyless_body() -> LegacyBody<PageView> {
    LegacyBody {
        api_key: None,
        event: "page_view".into(),
        data: LegacyData {
            payload: page_view(),
            id: Some("evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E".into()),
            ts: "2026-10-13T07:58:00.000Z".into(),
        },
    }
}

fn generated(file: &str) -> Value {
    crate::schemas::all()
        .into_iter()
        .find(|(name, _)| *name == file)
        .map(|(_, schema)| schema)
        .unwrap_or_else(|| panic!("no schema {file}"))
}

fn errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_legacy_body_without_a_key_sends_null_and_fits_the_schema() {
    let bytes = serde_json::to_vec(&keyless_body()).unwrap();
    let instance: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(instance["api_key"], Value::Null, "the key is sent as null");
    let schema = generated("legacy_page_view.v1.json");
    assert_eq!(errors(&schema, &instance), Vec::<String>::new());
    // The schema still holds the key to a string when there is one.
    let mut wrong = instance.clone();
    wrong["api_key"] = json!(42);
    assert!(!errors(&schema, &wrong).is_empty());
}

#[test]
fn the_legacy_body_is_compact_in_wire_order() {
    let mut body = keyless_body();
    body.api_key = Some("key".into());
    let text = serde_json::to_string(&body).unwrap();
    assert_eq!(
        text,
        r#"{"api_key":"key","event":"page_view","data":{"content_type":"event","content_id":"evt_123","slug":"s","title":null,"community":null,"contact_id":"cnt_001","url":null,"id":"evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E","ts":"2026-10-13T07:58:00.000Z"}}"#
    );
    let back: LegacyBody<PageView> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, body);
}

#[test]
fn a_ping_fits_its_schema() {
    let ping = PingEnvelope {
        id: "evt_ping".into(),
        occurred_at: "2026-10-13T07:58:00.000Z".into(),
        kind: PING.into(),
        data: PingData::new("wh_1"),
    };
    let instance = serde_json::to_value(&ping).unwrap();
    assert_eq!(instance["data"]["message"], PING_MESSAGE);
    assert_eq!(
        errors(&generated("ping.v1.json"), &instance),
        Vec::<String>::new()
    );
}
