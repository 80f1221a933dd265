use super::*;
use hookline_core::EventData;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn now() -> DateTime<Utc> {
    "2026-05-26T14:05:00Z".parse().unwrap()
}

fn guide_form() -> Value {
    json!({
        "id": "evt_optimo_1",
        "type": "form.submitted",
        "created_at": "2026-05-26T14:00:00.000Z",
        "data": {
            "formId": "frm_contact",
            "siteId": "site_abc123",
            "fields": {"email": "jo@acme.com", "firstName": "Jo", "lastName": "Lee", "company": "Acme", "optIn": true},
            "submittedAt": "2026-05-26T13:59:59.000Z"
        }
    })
}

#[test]
fn form_submitted_becomes_a_form_submission() {
    let Delivery::Event(event) = delivery(obj(guide_form()), now()).unwrap() else {
        panic!("an event expected")
    };
    assert_eq!(event.id.as_str(), "evt_optimo_1");
    assert_eq!(
        event.occurred_at,
        "2026-05-26T14:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let EventData::FormSubmission(f) = event.data else {
        panic!("a form expected")
    };
    assert_eq!(f.form_id, "frm_contact");
    assert_eq!(f.site_id.as_deref(), Some("site_abc123"));
    assert_eq!(f.email.as_deref(), Some("jo@acme.com"));
    assert!(!f.fields.contains_key("email"));
    assert_eq!(f.fields["firstName"], "Jo");
    assert_eq!(f.fields["lastName"], "Lee");
    assert_eq!(f.fields["optIn"], "true");
}

#[test]
fn without_an_id_the_signed_body_names_the_event() {
    let mut body = guide_form();
    body.as_object_mut().unwrap().remove("id");
    let id = |b: &Value| match delivery(obj(b.clone()), now()).unwrap() {
        Delivery::Event(e) => e.id,
        other => panic!("{other:?}"),
    };
    let first = id(&body);
    assert_eq!(
        first,
        id(&body),
        "a retry of the same body is the same event"
    );
    body["data"]["fields"]["company"] = json!("Other");
    assert_ne!(first, id(&body));
}

#[test]
fn unknown_types_are_kept_as_received() {
    let body = json!({"id": "ord_1", "type": "order.created", "created_at": "2026-05-26T14:00:00Z",
        "data": {"orderId": "o1", "totalCents": 1299}});
    let Delivery::Other(other) = delivery(obj(body.clone()), now()).unwrap() else {
        panic!("an other-type event expected")
    };
    assert_eq!(other.id.as_str(), "ord_1");
    assert_eq!(other.kind, "order.created");
    assert_eq!(other.source, "optimocms");
    assert_eq!(Value::Object(other.payload), body);
}

#[test]
fn hookline_type_names_round_trip() {
    let body = json!({"id": "evt_pv", "type": "page_view", "created_at": "2026-05-26T14:00:00.000Z",
        "data": {"content_type": "news", "content_id": "n1", "slug": "s"}});
    let Delivery::Event(event) = delivery(obj(body), now()).unwrap() else {
        panic!("an event expected")
    };
    assert!(matches!(event.data, EventData::PageView(_)));
}

#[test]
fn bad_bodies_are_named() {
    let cases = [
        (json!({"data": {}}), "Missing type/data"),
        (json!({"type": "form.submitted"}), "Missing type/data"),
        (
            json!({"type": "form.submitted", "data": {"fields": {}}}),
            "Invalid form_submission data: data.formId is required",
        ),
        (
            json!({"type": "form.submitted", "data": {"formId": "f", "fields": []}}),
            "Invalid form_submission data: data.fields must be an object",
        ),
        (
            json!({"type": "order created", "data": {}}),
            "Malformed event type \"order created\" (expected 1 to 64 printable ASCII characters without spaces)",
        ),
        (
            json!({"type": "order.created", "created_at": "soon", "data": {}}),
            "created_at is not an RFC 3339 timestamp",
        ),
    ];
    for (body, message) in cases {
        let err = delivery(obj(body), now()).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}
