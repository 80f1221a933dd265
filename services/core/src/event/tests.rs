//! Envelope and id tests.

use super::*;

#[test]
fn minted_ids_are_prefixed_sortable_and_unique() {
    let a = EventId::new();
    let b = EventId::new();
    assert!(a.as_str().starts_with("evt_"));
    assert_eq!(a.as_str().len(), 30);
    assert_ne!(a, b);
    assert!(a <= b, "UUIDv7 ids sort by time");
}

#[test]
fn outside_ids_are_checked() {
    assert!(EventId::parse("msg_p5jXN8AQM9LWM0D4loKWxJek").is_ok());
    assert!(EventId::parse("").is_err());
    assert!(EventId::parse("has space").is_err());
    assert!(EventId::parse(&"x".repeat(129)).is_err());
}

#[test]
fn envelope_round_trips_with_type_and_data() {
    let ev = Event::new(EventData::PageView(PageView::new(
        ContentType::Event,
        "evt_123",
        "s",
        Some("cnt_001"),
    )));
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["type"], "page_view");
    assert_eq!(json["data"]["contact_id"], "cnt_001");
    assert!(json["occurred_at"].as_str().unwrap().ends_with('Z'));
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, ev);
}

#[test]
fn raw_event_keeps_visitor_beside_envelope() {
    let raw = RawEvent {
        event: Event::new(EventData::FormSubmission(FormSubmission {
            form_id: "frm_1".into(),
            content_type: None,
            content_id: None,
            slug: None,
            contact_id: None,
            email: Some("a@b.c".into()),
            fields: BTreeMap::new(),
            content_checksum: None,
            site_id: None,
        })),
        visitor: Visitor {
            fingerprint: Some("fp".into()),
            bot: false,
        },
    };
    let json = serde_json::to_string(&raw).unwrap();
    let back: RawEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back, raw);
}
