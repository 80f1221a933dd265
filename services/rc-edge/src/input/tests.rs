use super::*;
use hookline_core::event::ContentType;
use proptest::prelude::*;
use serde_json::json;

#[path = "../../tests/it/arb_json.rs"]
mod arb_json;
use arb_json::arb_json;

const BASE: &str = "https://rc.example";

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("test bodies are objects"),
    }
}

fn msg<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
    r.expect_err("should be refused").message
}

#[test]
fn page_view_happy_path_builds_url_and_reads_utm() {
    let pv = page_view(
        &obj(
            json!({"content_type": "event", "content_id": 42, "slug": "a b",
                    "title": "T", "contact_id": " cnt_1 ", "gdpr": "1"}),
        ),
        BASE,
    )
    .unwrap();
    assert!(pv.gdpr);
    assert_eq!(pv.view.content_type, ContentType::Event);
    assert_eq!(pv.view.content_id, "42");
    assert_eq!(pv.view.contact_id.as_deref(), Some("cnt_1"));
    assert_eq!(
        pv.view.url.as_deref(),
        Some("https://rc.example/event/a%20b")
    );

    let pv = page_view(
        &obj(
            json!({"content_type": "news", "content_id": "n1", "slug": "s",
                    "url": "/news/s?utm_campaign=spring&utm_source=mail",
                    "utm_source": "explicit"}),
        ),
        BASE,
    )
    .unwrap();
    assert_eq!(pv.view.utm_campaign.as_deref(), Some("spring"));
    assert_eq!(pv.view.utm_source.as_deref(), Some("explicit"));
    assert_eq!(pv.view.utm_medium, None);
    assert!(!pv.gdpr);
}

#[test]
fn page_view_refusals_name_the_problem() {
    let ok = json!({"content_type": "event", "content_id": "c", "slug": "s"});
    let with = |k: &str, v: Value| {
        let mut o = obj(ok.clone());
        o.insert(k.into(), v);
        page_view(&o, BASE)
    };
    let without = |k: &str| {
        let mut o = obj(ok.clone());
        o.remove(k);
        page_view(&o, BASE)
    };
    assert_eq!(msg(without("content_type")), "content_type required");
    assert_eq!(msg(without("content_id")), "content_id required");
    assert_eq!(msg(without("slug")), "slug required");
    assert_eq!(
        msg(with("content_type", json!("blog"))),
        "unknown content_type \"blog\": expected event, resource or news"
    );
    assert_eq!(msg(with("content_id", json!(""))), "content_id required");
    assert_eq!(
        msg(with("content_id", json!(1.5))),
        "content_id must be a string or a whole number"
    );
    assert_eq!(msg(with("title", json!(7))), "title must be a string");
    assert_eq!(
        msg(with("title", json!("x".repeat(MAX_TITLE + 1)))),
        "title is longer than 1024 characters"
    );
    assert_eq!(
        msg(with("gdpr", json!("maybe"))),
        "gdpr must be true or false"
    );
    assert_eq!(msg(with("gdpr", json!([]))), "gdpr must be true or false");
}

#[test]
fn pixel_fields_feed_the_same_validation() {
    let o = pixel_fields(
        "resource",
        "guide.gif",
        Some("content_id=r9&gdpr=1&title=A%20guide&content_id=ignored"),
    )
    .unwrap();
    let pv = page_view(&o, BASE).unwrap();
    assert_eq!(pv.view.slug, "guide");
    assert_eq!(pv.view.content_id, "r9");
    assert_eq!(pv.view.title.as_deref(), Some("A guide"));
    assert!(pv.gdpr);
    let e = pixel_fields("event", "guide.png", None).unwrap_err();
    assert_eq!(e.status, axum::http::StatusCode::NOT_FOUND);
}

#[test]
fn form_happy_path_and_refusals() {
    let (f, gdpr) = form_submission(&obj(json!({
        "form_id": "frm_1", "email": "A@B.c", "content_type": "event",
        "fields": {"first_name": "Ada", "optin": true, "n": 3, "skip": null}
    })))
    .unwrap();
    assert!(!gdpr);
    assert_eq!(f.form_id, "frm_1");
    assert_eq!(f.fields.get("optin").map(String::as_str), Some("true"));
    assert_eq!(f.fields.get("n").map(String::as_str), Some("3"));
    assert!(!f.fields.contains_key("skip"));

    assert_eq!(msg(form_submission(&obj(json!({})))), "form_id required");
    assert_eq!(
        msg(form_submission(&obj(json!({"form_id": null})))),
        "form_id required"
    );
    assert_eq!(
        msg(form_submission(&obj(json!({"form_id": "f", "fields": []})))),
        "fields must be an object"
    );
    assert_eq!(
        msg(form_submission(&obj(
            json!({"form_id": "f", "fields": {"a": {"b": 1}}})
        ))),
        "fields.a must be a string, number or boolean"
    );
    let many: Map<String, Value> = (0..=MAX_FIELDS)
        .map(|i| (format!("f{i}"), json!("v")))
        .collect();
    assert_eq!(
        msg(form_submission(&obj(
            json!({"form_id": "f", "fields": many})
        ))),
        "too many fields: 101 (at most 100)"
    );
    assert_eq!(
        msg(form_submission(&obj(
            json!({"form_id": "f", "email": "x".repeat(MAX_EMAIL + 1)})
        ))),
        "email is longer than 320 characters"
    );
    assert_eq!(
        msg(form_submission(&obj(
            json!({"form_id": "f", "content_type": "blog"})
        ))),
        "unknown content_type \"blog\": expected event, resource or news"
    );
}

#[test]
fn bodies_that_are_not_objects() {
    assert!(msg(json_object(b"{")).starts_with("malformed JSON: "));
    assert_eq!(
        msg(json_object(b"[1]")),
        "request body must be a JSON object"
    );
}

proptest! {
    /// Whatever JSON arrives, validation answers Ok or a 4xx — never a 5xx,
    /// never a panic.
    #[test]
    fn any_json_is_accepted_or_refused_with_4xx(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        match json_object(&bytes) {
            Ok(o) => {
                for r in [page_view(&o, BASE).map(|_| ()), form_submission(&o).map(|_| ())] {
                    if let Err(e) = r {
                        prop_assert!(e.status.is_client_error(), "{e:?}");
                    }
                }
            }
            Err(e) => prop_assert!(e.status.is_client_error()),
        }
    }

    /// Arbitrary bytes and query strings never panic either.
    #[test]
    fn any_bytes_and_queries_are_handled(b in prop::collection::vec(any::<u8>(), 0..64), q in "\\PC{0,64}", s in "\\PC{0,20}") {
        if let Err(e) = json_object(&b) { prop_assert!(e.status.is_client_error()); }
        match pixel_fields("event", &s, Some(&q)) {
            Ok(o) => if let Err(e) = page_view(&o, BASE) { prop_assert!(e.status.is_client_error()); },
            Err(e) => prop_assert!(e.status.is_client_error()),
        }
    }
}

#[test]
fn page_view_urls_must_be_http_or_https() {
    for bad in [
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
    ] {
        let err = page_view(
            &obj(json!({"content_type": "news", "content_id": "n1", "slug": "s", "url": bad})),
            BASE,
        )
        .unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(err.message, "url must be an http or https URL", "{bad}");
    }
    // The pixel takes the same fields from its query string.
    let fields = pixel_fields(
        "news",
        "s.gif",
        Some("content_id=n1&url=javascript%3Aalert(1)"),
    )
    .unwrap();
    assert!(page_view(&fields, BASE).is_err());
    for ok in ["https://rc.example/news/s", "/news/s"] {
        let pv = page_view(
            &obj(json!({"content_type": "news", "content_id": "n1", "slug": "s", "url": ok})),
            BASE,
        )
        .unwrap();
        assert_eq!(pv.view.url.as_deref(), Some(ok));
    }
}
