//! Deliveries that must be refused with an exact answer, publishing nothing.

use crate::support::*;
use serde_json::json;

const TTL: i64 = 300;

fn with_header(mut h: Vec<(String, String)>, name: &str, value: String) -> Vec<(String, String)> {
    for (k, v) in h.iter_mut() {
        if k.eq_ignore_ascii_case(name) {
            *v = value.clone();
        }
    }
    h
}

fn without(h: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    h.into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .collect()
}

#[tokio::test]
async fn legacy_refusals_are_exact_and_publish_nothing() {
    let stack = Stack::start(|_| {}).await;
    let body = legacy_page_view(API_KEY, "evt_refused_legacy");
    let b = body.as_bytes();
    let sig = |s: &str, ts: i64| legacy_headers(s, ts, b);

    // Forged: a well-formed signature of something else.
    let forged = with_header(
        sig(PLAIN, now()),
        "X-Signature",
        legacy_headers(PLAIN, now(), b"{}")[1].1.clone(),
    );
    stack
        .post(&forged, body.clone())
        .await
        .assert_error(401, "Invalid signature");
    // Stale and future, beyond the tolerance either way.
    for ts in [now() - TTL - 5, now() + TTL + 5] {
        stack
            .post(&sig(PLAIN, ts), body.clone())
            .await
            .assert_error(401, "Invalid signature");
    }
    // Replay: a valid old signature with a fresh timestamp.
    let replay = with_header(sig(PLAIN, now() - 60), "X-Timestamp", now().to_string());
    stack
        .post(&replay, body.clone())
        .await
        .assert_error(401, "Invalid signature");
    // Wrong secret.
    stack
        .post(&sig("not-the-secret", now()), body.clone())
        .await
        .assert_error(401, "Invalid signature");
    // Missing headers: each, and both.
    for missing in ["X-Signature", "X-Timestamp"] {
        stack
            .post(&without(sig(PLAIN, now()), missing), body.clone())
            .await
            .assert_error(401, "Invalid signature");
    }
    stack
        .post(&[], body.clone())
        .await
        .assert_error(401, "Invalid signature");
    // Garbage in the headers.
    let junk = vec![
        ("X-Timestamp".to_string(), "soon".to_string()),
        ("X-Signature".to_string(), "%%%".to_string()),
    ];
    stack
        .post(&junk, body.clone())
        .await
        .assert_error(401, "Invalid signature");

    // A wrong or missing API key reads exactly like a bad signature, with
    // or without a valid signature: a prober cannot tell which one failed.
    for bad_key in [
        legacy_page_view("wrong-key", "evt_k"),
        json!({"event": "page_view", "data": {}}).to_string(),
        json!({"api_key": 42, "event": "page_view", "data": {}}).to_string(),
    ] {
        stack
            .post(&sig(PLAIN, now()), bad_key.clone())
            .await
            .assert_error(401, "Invalid signature");
        stack
            .post(&legacy_headers(PLAIN, now(), bad_key.as_bytes()), bad_key)
            .await
            .assert_error(401, "Invalid signature");
    }
    // Unsigned, the body is not even parsed: malformed JSON is a 401 too.
    stack
        .post(&[], "{not json")
        .await
        .assert_error(401, "Invalid signature");
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn standard_refusals_are_exact_and_publish_nothing() {
    let stack = Stack::start(|_| {}).await;
    let id = "evt_refused_std";
    let body = standard_form(id);
    let b = body.as_bytes();
    let sig = |s: &str, ts: i64| standard_headers(s, id, ts, b);

    let cases: Vec<Vec<(String, String)>> = vec![
        // Forged: the signature of another body.
        with_header(
            sig(WHSEC, now()),
            "webhook-signature",
            standard_headers(WHSEC, id, now(), b"{}")[2].1.clone(),
        ),
        // Signed for another id (the id is part of what is signed).
        with_header(sig(WHSEC, now()), "webhook-id", "evt_other".into()),
        sig(WHSEC, now() - TTL - 5),
        sig(WHSEC, now() + TTL + 5),
        with_header(
            sig(WHSEC, now() - 60),
            "webhook-timestamp",
            now().to_string(),
        ),
        sig("whsec_bm90IHRoZSBzZWNyZXQgYXQgYWxs", now()),
        without(sig(WHSEC, now()), "webhook-id"),
        without(sig(WHSEC, now()), "webhook-timestamp"),
        with_header(sig(WHSEC, now()), "webhook-signature", "v2,abc".into()),
        with_header(sig(WHSEC, now()), "webhook-signature", "".into()),
    ];
    for headers in cases {
        stack
            .post(&headers, body.clone())
            .await
            .assert_error(401, "Invalid signature");
    }
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_problem() {
    let stack = Stack::start(|_| {}).await;
    let legacy = |body: &str| {
        (
            legacy_headers(PLAIN, now(), body.as_bytes()),
            body.to_string(),
        )
    };
    let cases = [
        (
            "{not json",
            "Malformed JSON: key must be a string at line 1 column 2",
        ),
        ("[1,2]", "Body must be a JSON object"),
        (
            r#"{"api_key":"super-long-random-api-key","data":{}}"#,
            "Missing event/data",
        ),
        (
            r#"{"api_key":"super-long-random-api-key","event":"page_view"}"#,
            "Missing event/data",
        ),
        (
            r#"{"api_key":"super-long-random-api-key","event":"sign up","data":{}}"#,
            "Malformed event type \"sign up\" (expected 1 to 64 printable ASCII characters without spaces)",
        ),
        (
            r#"{"api_key":"super-long-random-api-key","event":"page_view","data":{"content_type":"event","content_id":"c"}}"#,
            "Invalid page_view data: data.slug is required",
        ),
        (
            r#"{"api_key":"super-long-random-api-key","event":"form_submission","data":{"email":"a@b.c"}}"#,
            "Invalid form_submission data: data.form_id is required",
        ),
        (
            r#"{"api_key":"super-long-random-api-key","event":"page_view","data":"x"}"#,
            "data must be a JSON object",
        ),
    ];
    for (body, message) in cases {
        let (h, body) = legacy(body);
        stack.post(&h, body).await.assert_error(400, message);
    }
    // The standard profile: verified first, then parsed.
    let body = json!({"id": "evt_s", "type": "page_view"}).to_string();
    stack
        .post(
            &standard_headers(WHSEC, "evt_s", now(), body.as_bytes()),
            body,
        )
        .await
        .assert_error(400, "Missing type/data");
    let body = "{\"id\":";
    let answer = stack
        .post(
            &standard_headers(WHSEC, "evt_s", now(), body.as_bytes()),
            body,
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON"),
        "{:?}",
        answer.body
    );
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

/// The legacy signature covers the body, not the headers: a captured
/// delivery re-sent under new `webhook-id` headers is the same event.
#[tokio::test]
async fn legacy_ids_come_only_from_signed_bytes() {
    let stack = Stack::start(|_| {}).await;
    let body = legacy_page_view(API_KEY, "evt_signed");
    for relabel in ["evt_relabelled", "evt_again", "evt_signed"] {
        let mut h = legacy_headers(PLAIN, now(), body.as_bytes());
        h.push(("webhook-id".into(), relabel.into()));
        stack.post(&h, body.clone()).await.assert_ok();
    }
    assert_eq!(stack.only_event().await.id.as_str(), "evt_signed");

    // Without an id in the body, the id is derived from the body alone.
    let seed = json!({"api_key": API_KEY, "event": "page_view", "data": {
        "content_type": "news", "content_id": "n-1", "slug": "n", "contact_id": "cnt_9",
        "ts": "2026-10-13T07:58:00.000Z"}})
    .to_string();
    for relabel in ["evt_one", "evt_two"] {
        let mut h = legacy_headers(PLAIN, now(), seed.as_bytes());
        h.push(("webhook-id".into(), relabel.into()));
        stack.post(&h, seed.clone()).await.assert_ok();
    }
    let ids: Vec<String> = stack
        .messages()
        .await
        .iter()
        .filter_map(|m| m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string()))
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        !ids.iter().any(|id| id == "evt_one" || id == "evt_two"),
        "{ids:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let stack = Stack::start(|c| c.ingest.max_body_bytes = 2048).await;
    let mut body = legacy_page_view(API_KEY, "evt_big");
    body.insert_str(1, &format!("\"pad\":\"{}\",", "x".repeat(4096)));
    let h = legacy_headers(PLAIN, now(), body.as_bytes());
    stack
        .post(&h, body)
        .await
        .assert_error(413, "Body larger than 2048 bytes");
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn without_secrets_it_does_not_start() {
    // Fail closed: no secret (or only blank ones) is a config error naming
    // the key, not a running service that refuses everything.
    for secrets in [vec![], vec![String::new()], vec!["short".to_string()]] {
        let mut config = hookline_core::testing::isolated_config();
        config.ingest.secrets = secrets.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = crm_ingest::run_with_listener(config, listener, hookline_core::Shutdown::new())
            .await
            .expect_err("started without a usable secret");
        assert!(
            matches!(&err, crm_ingest::Error::Secret(hookline_core::config::ConfigError::Invalid { key, .. })
                if *key == "ingest.secrets"),
            "{secrets:?}: {err}"
        );
    }
}

/// `ingest.rate_limit_*`: a client over its budget is refused before any
/// signature is checked.
#[tokio::test]
async fn a_client_over_its_rate_limit_is_429() {
    let stack = Stack::start(|c| {
        c.ingest.rate_limit_per_second = 1;
        c.ingest.rate_limit_burst = 2;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let body = legacy_page_view(API_KEY, &format!("evt_rl{i}"));
        let answer = stack
            .post(&legacy_headers(PLAIN, now(), body.as_bytes()), body)
            .await;
        if answer.status == 429 {
            assert_eq!(answer.body["status"], "error", "{:?}", answer.body);
        }
        statuses.push(answer.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    stack.stop().await;
}
