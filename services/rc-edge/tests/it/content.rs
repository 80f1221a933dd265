//! `POST /api/content-published`: off without a key, 401 without the right
//! bearer token, 4xx naming the field, and the announcement on RC_RAW.

use crate::support::{Edge, accepted_id, config};
use hookline_core::event::EventData;
use serde_json::{Value, json};

const KEY: &str = "content-key-for-tests-NEVER-LOGGED";
const PATH: &str = "/api/content-published";

fn body() -> Value {
    json!({"content_type": "news", "content_id": "n1", "slug": "hello",
           "title": "Hello", "checksum": "AB".repeat(32)})
}

async fn post(edge: &Edge, auth: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = edge.http.post(edge.url(PATH)).json(body);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_route_is_off_without_a_key() {
    let mut c = config();
    c.edge.content_api_key = Some("   ".into());
    let edge = Edge::start(c).await;
    let (status, _) = post(&edge, Some(&format!("Bearer {KEY}")), &body()).await;
    assert_eq!(status, 404);
    assert!(edge.raw_events().await.is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_before_the_body_is_read() {
    let mut c = config();
    c.edge.content_api_key = Some(KEY.into());
    let edge = Edge::start(c).await;
    let wrong = format!("Bearer {KEY}x");
    let cases: [(Option<&str>, &str); 4] = [
        (None, "missing Authorization"),
        (Some("Bearer "), "missing Authorization"),
        (Some(KEY), "missing Authorization"),
        (
            Some(&wrong),
            "invalid bearer token for edge.content_api_key",
        ),
    ];
    for (auth, message) in cases {
        // A bad body too: authentication is answered first.
        let (status, answer) = post(&edge, auth, &json!({"title": 1})).await;
        assert_eq!(status, 401, "{auth:?}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{auth:?}: {answer}"
        );
        assert!(!answer.to_string().contains(KEY));
    }
    assert!(edge.raw_events().await.is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let mut c = config();
    c.edge.content_api_key = Some(KEY.into());
    let edge = Edge::start(c).await;
    let auth = format!("Bearer {KEY}");
    let with = |key: &str, value: Value| {
        let mut b = body();
        b[key] = value;
        b
    };
    let cases = [
        (with("content_type", json!("blog")), "unknown content_type"),
        (with("content_id", Value::Null), "content_id required"),
        (with("slug", json!("")), "slug required"),
        (with("title", json!(7)), "title must be a string"),
        (with("checksum", Value::Null), "checksum required"),
        (
            with("checksum", json!("abc123")),
            "checksum must be the SHA-256 as 64 hex digits",
        ),
        (with("checksum", json!("g".repeat(64))), "checksum must be"),
        (with("checksum", json!("a".repeat(65))), "checksum must be"),
    ];
    for (b, message) in cases {
        let (status, answer) = post(&edge, Some(&auth), &b).await;
        assert_eq!(status, 400, "{b}: {answer}");
        let got = answer["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{b}: {got}");
    }
    assert!(edge.raw_events().await.is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn an_announcement_is_published_with_its_checksum_lowercased_and_never_as_a_bot() {
    let mut c = config();
    c.edge.content_api_key = Some(KEY.into());
    let edge = Edge::start(c).await;
    // The site's backend: an HTTP library's user agent, which isbot flags.
    let r = edge
        .http
        .post(edge.url(PATH))
        .header("authorization", format!("Bearer {KEY}"))
        .header("user-agent", "node-fetch/1.0")
        .json(&body())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    let id = accepted_id(status, &answer);
    assert!(answer.get("bot").is_none(), "{answer}");
    let (raw, _) = edge.raw_event(&id).await;
    let EventData::ContentPublished(c) = &raw.event.data else {
        panic!("not content_published")
    };
    assert_eq!(c.checksum.as_str(), "ab".repeat(32));
    assert_eq!((c.content_id.as_str(), c.title.as_str()), ("n1", "Hello"));
    assert!(!raw.visitor.bot);
    assert!(raw.visitor.fingerprint.is_none());
    edge.stop().await;
}
