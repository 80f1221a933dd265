use super::*;
use hookline_core::event::EventData;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn now() -> DateTime<Utc> {
    "2026-10-13T07:58:00.123456Z".parse().unwrap()
}

fn seed_view() -> Value {
    json!({
        "api_key": "k",
        "event": "page_view",
        "data": {
            "content_type": "event", "content_id": "evt_123", "slug": "s",
            "title": "T", "community": "finance", "contact_id": "cnt_001",
            "url": "https://rc/event/s", "ts": "2025-10-13T07:58:00.000Z"
        }
    })
}

fn event(d: Delivery) -> Event {
    match d {
        Delivery::Event(e) => *e,
        other => panic!("event expected, got {other:?}"),
    }
}

#[test]
fn seed_body_gets_derived_id_and_ts() {
    let ev = event(legacy(obj(seed_view()), now()).unwrap());
    assert_eq!(
        ev.occurred_at,
        "2025-10-13T07:58:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let again = event(legacy(obj(seed_view()), now()).unwrap());
    assert_eq!(ev.id, again.id, "derived ids are stable");
    assert!(matches!(ev.data, EventData::PageView(_)));
}

#[test]
fn legacy_id_sources_in_order() {
    let mut body = seed_view();
    body["data"]["id"] = json!("evt_data");
    let ev = event(legacy(obj(body.clone()), now()).unwrap());
    assert_eq!(ev.id.as_str(), "evt_data");
    body["id"] = json!("evt_top");
    body["data"]["id"] = Value::Null;
    let ev = event(legacy(obj(body.clone()), now()).unwrap());
    assert_eq!(ev.id.as_str(), "evt_top");
    body["id"] = json!(7);
    assert_eq!(legacy(obj(body), now()), Err(EnvelopeError::BadId("id")));
}

#[test]
fn missing_event_or_data_is_the_seed_message() {
    for body in [
        json!({"data": {}}),
        json!({"event": "page_view"}),
        json!({"event": "", "data": {}}),
        json!({"event": "page_view", "data": null}),
        json!({"event": null, "data": {"x": 1}}),
    ] {
        let err = legacy(obj(body.clone()), now()).unwrap_err();
        assert_eq!(err, EnvelopeError::MissingEventData, "{body}");
        assert_eq!(err.to_string(), "Missing event/data");
    }
    assert_eq!(
        legacy(obj(json!({"event": "page_view", "data": [1]})), now()),
        Err(EnvelopeError::DataNotObject)
    );
    assert_eq!(
        legacy(obj(json!({"event": 5, "data": {}})), now()),
        Err(EnvelopeError::NotAString("event"))
    );
}

#[test]
fn unknown_types_are_kept_without_the_api_key() {
    let body = json!({"api_key": "k", "event": "order.created", "data": {"orderId": "o1"}});
    let Delivery::Other(other) = legacy(obj(body.clone()), now()).unwrap() else {
        panic!("an other-type event expected")
    };
    assert_eq!(other.kind, "order.created");
    assert_eq!(other.source, "resources-centre");
    assert_eq!(
        Value::Object(other.payload.clone()),
        json!({"event": "order.created", "data": {"orderId": "o1"}})
    );
    let Delivery::Other(again) = legacy(obj(body), now()).unwrap() else {
        panic!("an other-type event expected")
    };
    assert_eq!(other.id, again.id, "the id is derived from the signed body");
    let body = json!({"type": "booking.created", "data": {"bookingId": "b1"}});
    let Delivery::Other(other) = standard(obj(body), "msg_7", now()).unwrap() else {
        panic!("an other-type event expected")
    };
    assert_eq!(other.id.as_str(), "msg_7");
}

#[test]
fn malformed_type_and_bad_data_are_named() {
    let err = legacy(obj(json!({"event": "sign up", "data": {}})), now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Malformed event type \"sign up\" (expected 1 to 64 printable ASCII characters without spaces)"
    );
    let err = legacy(
        obj(json!({"event": "form_submission", "data": {"email": "a@b"}})),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid form_submission data: data.form_id is required"
    );
    let mut body = seed_view();
    body["data"]["ts"] = json!("yesterday");
    assert_eq!(
        legacy(obj(body), now()),
        Err(EnvelopeError::BadTimestamp("data.ts"))
    );
}

#[test]
fn ping_in_both_shapes() {
    assert_eq!(
        legacy(obj(json!({"event": "ping"})), now()),
        Ok(Delivery::Ping)
    );
    assert_eq!(
        standard(obj(json!({"type": "ping", "data": {}})), "msg_1", now()),
        Ok(Delivery::Ping)
    );
}

#[test]
fn standard_envelope_round_trips() {
    let original = Event {
        id: EventId::parse("evt_abc").unwrap(),
        occurred_at: "2026-10-13T07:58:00.120Z".parse().unwrap(),
        data: event(legacy(obj(seed_view()), now()).unwrap()).data,
    };
    let body = serde_json::to_value(&original).unwrap();
    let ev = event(standard(obj(body.clone()), "evt_abc", now()).unwrap());
    assert_eq!(ev, original);
    assert_eq!(
        standard(obj(json!({"type": "page_view"})), "evt_abc", now()),
        Err(EnvelopeError::MissingTypeData)
    );
    let mut bad = body;
    bad["occurred_at"] = json!("never");
    assert_eq!(
        standard(obj(bad), "evt_abc", now()),
        Err(EnvelopeError::BadTimestamp("occurred_at"))
    );
}

#[test]
fn occurred_at_defaults_to_now_in_milliseconds() {
    let mut body = seed_view();
    body["data"].as_object_mut().unwrap().remove("ts");
    let ev = event(legacy(obj(body), now()).unwrap());
    assert_eq!(ev.occurred_at, now().trunc_subsecs(3));
}

#[test]
fn non_objects_and_garbage_are_refused() {
    assert_eq!(parse_object(b"[1]"), Err(EnvelopeError::NotAnObject));
    assert!(matches!(
        parse_object(b"{nope"),
        Err(EnvelopeError::MalformedJson(_))
    ));
    assert!(parse_object(b"").is_err());
}

#[test]
fn page_view_urls_must_be_http_or_https() {
    let mut body = seed_view();
    body["data"]["url"] = json!("javascript:alert(1)");
    match legacy(obj(body.clone()), now()) {
        Err(EnvelopeError::BadData { source, .. }) => {
            assert_eq!(source.to_string(), "data.url must be an http or https URL")
        }
        other => panic!("{other:?}"),
    }
    body["data"]["url"] = json!("https://rc.example/resource/x");
    assert!(legacy(obj(body), now()).is_ok());
}

#[test]
fn the_senders_keyless_legacy_body_is_accepted() {
    use hookline_core::event::PageView;
    use hookline_core::wire::{LegacyBody, LegacyData};
    let page_view: PageView =
        serde_json::from_value(json!({"content_type": "news", "content_id": "n1", "slug": "s"}))
            .unwrap();
    // What webhook-out sends for a webhook without an API key.
    let sent = LegacyBody {
        api_key: None,
        event: "page_view".into(),
        data: LegacyData {
            payload: page_view,
            id: Some("evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E".into()),
            ts: "2026-10-13T07:58:00.000Z".into(),
        },
    };
    let body = parse_object(&serde_json::to_vec(&sent).unwrap()).unwrap();
    assert_eq!(body["api_key"], Value::Null);
    assert_eq!(api_key(&body), None, "null is no key");
    let ev = event(legacy(body, now()).unwrap());
    assert_eq!(ev.id.as_str(), "evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E");
    assert_eq!(ev.data, EventData::PageView(sent.data.payload));
}

#[test]
fn the_senders_pings_are_pings() {
    use hookline_core::wire::{LegacyBody, LegacyData, PING, PingData, PingEnvelope};
    let envelope = PingEnvelope {
        id: "evt_ping".into(),
        occurred_at: "2026-10-13T07:58:00.000Z".into(),
        kind: PING.into(),
        data: PingData::new("wh_1"),
    };
    let body = parse_object(&serde_json::to_vec(&envelope).unwrap()).unwrap();
    assert_eq!(standard(body, "evt_ping", now()), Ok(Delivery::Ping));
    let legacy_ping = LegacyBody {
        api_key: None,
        event: PING.into(),
        data: LegacyData {
            payload: PingData::new("wh_1"),
            id: Some("evt_ping".into()),
            ts: "2026-10-13T07:58:00.000Z".into(),
        },
    };
    let body = parse_object(&serde_json::to_vec(&legacy_ping).unwrap()).unwrap();
    assert_eq!(legacy(body, now()), Ok(Delivery::Ping));
}
