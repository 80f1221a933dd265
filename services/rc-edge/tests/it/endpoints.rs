//! Happy paths and every refusal, with exact status and message.

use crate::support::{Edge, accepted_id, config};
use hookline_core::event::{ContentType, EventData};
use hookline_core::names::RC_RAW;
use serde_json::{Value, json};

#[tokio::test]
async fn page_view_is_published_with_its_id_before_the_202() {
    let edge = Edge::start(config()).await;
    let (status, body) = edge
        .post(
            "/api/page-view",
            json!({"content_type": "resource", "content_id": "r1", "slug": "guide",
                   "title": "Guide", "community": "ops",
                   "url": "https://rc.example/resource/guide?utm_campaign=spring",
                   "content_checksum": "abc123", "ts": "ignored"}),
        )
        .await;
    let id = accepted_id(status, &body);
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    // The 202 came after the PubAck, so the event is already on RC_RAW.
    let (raw, _) = edge.raw_event(&id).await;
    let EventData::PageView(view) = &raw.event.data else {
        panic!("not a page view")
    };
    assert_eq!(view.content_type, ContentType::Resource);
    assert_eq!(view.content_id, "r1");
    assert_eq!(view.title.as_deref(), Some("Guide"));
    assert_eq!(view.content_checksum.as_deref(), Some("abc123"));
    assert_eq!(view.utm_campaign.as_deref(), Some("spring"));
    assert!(!raw.visitor.bot);
    assert!(raw.visitor.fingerprint.is_some());
    edge.stop().await;
}

#[tokio::test]
async fn pixel_answers_a_gif_and_publishes_a_view() {
    let edge = Edge::start(config()).await;
    let r = edge
        .http
        .get(edge.url("/t/event/my-slug.gif?content_id=42&title=Launch&contact_id=cnt_9"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/gif");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let id = r.headers()["x-event-id"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap().as_ref(), rc_edge::PIXEL_GIF);
    let (raw, _) = edge.raw_event(&id).await;
    let EventData::PageView(view) = &raw.event.data else {
        panic!("not a page view")
    };
    assert_eq!(view.content_type, ContentType::Event);
    assert_eq!(view.slug, "my-slug");
    assert_eq!(view.content_id, "42");
    assert_eq!(view.contact_id.as_deref(), Some("cnt_9"));
    assert_eq!(
        view.url.as_deref(),
        Some("https://rc.example/event/my-slug")
    );
    // Known contact: no fingerprint needed.
    assert_eq!(raw.visitor.fingerprint, None);
    edge.stop().await;
}

#[tokio::test]
async fn form_submission_takes_the_seed_body() {
    let edge = Edge::start(config()).await;
    let (status, body) = edge
        .post(
            "/api/form-submission",
            json!({"form_id": "frm_contact", "content_type": "event", "slug": "launch",
                   "content_id": "e1", "contact_id": null, "email": "ada@example.com",
                   "fields": {"first_name": "Ada", "company": "Analytical", "utm_campaign": "spring"},
                   "content_checksum": "sum1"}),
        )
        .await;
    let id = accepted_id(status, &body);
    let (raw, _) = edge.raw_event(&id).await;
    let EventData::FormSubmission(form) = &raw.event.data else {
        panic!("not a form")
    };
    assert_eq!(form.form_id, "frm_contact");
    assert_eq!(form.email.as_deref(), Some("ada@example.com"));
    assert_eq!(form.fields["company"], "Analytical");
    assert_eq!(form.content_checksum.as_deref(), Some("sum1"));
    edge.stop().await;
}

async fn expect(got: (u16, Value), status: u16, message: &str) {
    assert_eq!(
        got,
        (status, json!({"status": "error", "message": message})),
        "expected {status} {message:?}"
    );
}

#[tokio::test]
async fn every_bad_input_is_a_4xx_naming_the_problem_and_stores_nothing() {
    let mut cfg = config();
    cfg.edge.max_body_bytes = 64 * 1024;
    let edge = Edge::start(cfg).await;
    let pv = "/api/page-view";
    let form = "/api/form-submission";
    let ok_view = json!({"content_type": "event", "content_id": "c", "slug": "s"});
    let with = |k: &str, v: Value| {
        let mut o = ok_view.clone();
        o[k] = v;
        o
    };

    expect(
        edge.post_raw(pv, Some("application/json"), b"{\"content_type\":".to_vec())
            .await,
        400,
        "malformed JSON: EOF while parsing a value at line 1 column 16",
    )
    .await;
    expect(
        edge.post_raw(pv, Some("application/json"), b"[1,2]".to_vec())
            .await,
        400,
        "request body must be a JSON object",
    )
    .await;
    expect(
        edge.post_raw(
            pv,
            Some("text/plain"),
            serde_json::to_vec(&ok_view).unwrap(),
        )
        .await,
        415,
        "Content-Type must be application/json",
    )
    .await;
    expect(
        edge.post_raw(form, None, b"{\"form_id\":\"f\"}".to_vec())
            .await,
        415,
        "Content-Type must be application/json",
    )
    .await;
    expect(
        edge.post(pv, json!({"content_id": "c", "slug": "s"})).await,
        400,
        "content_type required",
    )
    .await;
    expect(
        edge.post(pv, with("content_type", json!("blog"))).await,
        400,
        "unknown content_type \"blog\": expected event, resource or news",
    )
    .await;
    expect(
        edge.post(pv, json!({"content_type": "news", "slug": "s"}))
            .await,
        400,
        "content_id required",
    )
    .await;
    expect(
        edge.post(pv, json!({"content_type": "news", "content_id": "c"}))
            .await,
        400,
        "slug required",
    )
    .await;
    expect(
        edge.post(pv, with("title", json!("t".repeat(1025)))).await,
        400,
        "title is longer than 1024 characters",
    )
    .await;
    expect(
        edge.post(pv, with("url", json!("u".repeat(2049)))).await,
        400,
        "url is longer than 2048 characters",
    )
    .await;
    expect(
        edge.post(pv, with("contact_id", json!({"a": 1}))).await,
        400,
        "contact_id must be a string or a whole number",
    )
    .await;
    expect(
        edge.post(pv, with("gdpr", json!("perhaps"))).await,
        400,
        "gdpr must be true or false",
    )
    .await;

    // The legacy Node app's exact answer.
    let (status, body) = edge
        .post(form, json!({"email": "a@b.c", "fields": {"x": "y"}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"message":"form_id required","status":"error"}"#
    );
    expect(
        edge.post(form, json!({"form_id": ""})).await,
        400,
        "form_id required",
    )
    .await;
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("f{i}"), json!("v"))).collect();
    expect(
        edge.post(form, json!({"form_id": "f", "fields": many}))
            .await,
        400,
        "too many fields: 101 (at most 100)",
    )
    .await;
    expect(
        edge.post(
            form,
            json!({"form_id": "f", "fields": {"bio": "b".repeat(10_001)}}),
        )
        .await,
        400,
        "fields.bio is longer than 10000 characters",
    )
    .await;
    expect(
        edge.post(form, json!({"form_id": "f", "fields": "x"}))
            .await,
        400,
        "fields must be an object",
    )
    .await;
    expect(
        edge.post(form, json!({"form_id": "f", "content_type": "page"}))
            .await,
        400,
        "unknown content_type \"page\": expected event, resource or news",
    )
    .await;
    expect(
        edge.post(form, json!({"form_id": "f", "email": "e".repeat(321)}))
            .await,
        400,
        "email is longer than 320 characters",
    )
    .await;

    // Body over the limit: 413, whether or not it is valid JSON.
    let big = format!(
        "{{\"form_id\":\"f\",\"pad\":\"{}\"}}",
        "x".repeat(64 * 1024)
    );
    expect(
        edge.post_raw(form, Some("application/json"), big.into_bytes())
            .await,
        413,
        "request body is larger than 65536 bytes",
    )
    .await;

    // The pixel.
    let get = |path: &str| {
        let url = edge.url(path);
        let http = edge.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    expect(
        get("/t/blog/s.gif?content_id=1").await,
        400,
        "unknown content_type \"blog\": expected event, resource or news",
    )
    .await;
    expect(get("/t/event/s.gif").await, 400, "content_id required").await;
    expect(
        get("/t/event/s.gif?content_id=1&gdpr=maybe").await,
        400,
        "gdpr must be true or false",
    )
    .await;
    expect(
        get("/t/event/s.png?content_id=1").await,
        404,
        "pixel paths end in .gif: /t/{content_type}/{slug}.gif",
    )
    .await;
    expect(get("/nowhere").await, 404, "no such endpoint").await;
    expect(
        get("/api/page-view").await,
        405,
        "method not allowed on this endpoint",
    )
    .await;

    // Nothing refused was stored.
    let mut raw = edge
        .nats
        .js
        .get_stream(edge.config.names().stream(RC_RAW))
        .await
        .unwrap();
    assert_eq!(raw.info().await.unwrap().state.messages, 0);
    edge.stop().await;
}

#[tokio::test]
async fn numeric_ids_and_charset_parameters_are_accepted() {
    let edge = Edge::start(config()).await;
    let (status, body) = edge
        .post_raw(
            "/api/form-submission",
            Some("application/json; charset=utf-8"),
            br#"{"form_id": 7, "contact_id": 12, "fields": {"optin": true}}"#.to_vec(),
        )
        .await;
    let id = accepted_id(status, &body);
    let (raw, _) = edge.raw_event(&id).await;
    let EventData::FormSubmission(form) = &raw.event.data else {
        panic!("not a form")
    };
    assert_eq!(form.form_id, "7");
    assert_eq!(form.contact_id.as_deref(), Some("12"));
    assert_eq!(form.fields["optin"], "true");
    edge.stop().await;
}
