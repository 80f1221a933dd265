//! sdr_task against a real HTTP receiver and a real `hookline actions`
//! process: a Standard Webhooks signed POST, verified with the
//! `standardwebhooks` crate, carrying the contact, score and last touches.

mod support;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookline_core::signing::Secret;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Env, wait_for};

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver that answers `503` to the first `fail_first` requests, then `200`.
async fn receiver(fail_first: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = Router::new().route(
        "/sdr",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let mut all = log.lock().expect("not poisoned");
                all.push((headers, body));
                if all.len() <= fail_first {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sdr", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// A fresh environment with Ada (`c-42`) as a scored contact and one
/// `sdr_task` for her carrying `payload`; returns it and the task id.
async fn hot_lead(payload: Value) -> (Env, i64) {
    let env = Env::new().await;
    seed_contact(&env).await;
    let id = env.task("sdr_task", "sdr-hot-lead", "c-42", payload).await;
    (env, id)
}

/// Waits until task `id` is sent; returns every request the receiver got.
async fn sent(env: &Env, id: i64, received: &Received) -> Vec<(HeaderMap, Bytes)> {
    wait_for("the task sent", Duration::from_secs(120), || async {
        (env.state(id).await.0 == "sent").then_some(())
    })
    .await;
    received.lock().expect("not poisoned").clone()
}

async fn seed_contact(env: &Env) {
    sqlx::query(
        "INSERT INTO contacts (contact_key, contact_id, email, first_name, last_name, company) \
         VALUES ('c-42', 'c-42', 'ada@example.org', 'Ada', 'Lovelace', 'ACME')",
    )
    .execute(&env.pool)
    .await
    .expect("contact");
    sqlx::query(
        "INSERT INTO engagement_scores (contact_key, contact_id, email, score, last_event_at) \
         VALUES ('c-42', 'c-42', 'ada@example.org', 61, now())",
    )
    .execute(&env.pool)
    .await
    .expect("score");
    for (n, title) in ["Pricing", "Case study", "Webinar"].iter().enumerate() {
        sqlx::query(
            "INSERT INTO content_events (event_id, event_name, content_type, content_id, slug, \
               title, contact_id, payload, ts) \
             VALUES ($1, 'page_view', 'resource', $1, $1, $2, 'c-42', '{}', \
               now() - make_interval(mins => $3))",
        )
        .bind(format!("evt_{n}"))
        .bind(title)
        .bind(10 - n as i32)
        .execute(&env.pool)
        .await
        .expect("event");
    }
}

fn sdr_env(url: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HOOKLINE__ACTIONS__SDR_WEBHOOK_URL", url.to_string()),
        ("HOOKLINE__ACTIONS__SDR_WEBHOOK_SECRET", secret.to_string()),
        ("HOOKLINE__ACTIONS__POLL_INTERVAL", "200ms".into()),
        ("HOOKLINE__ACTIONS__BACKOFF", "200ms".into()),
    ]
}

fn verified(secret: &str, (headers, body): &(HeaderMap, Bytes)) -> Value {
    standardwebhooks::Webhook::new(secret)
        .expect("secret")
        .verify(body, headers)
        .expect("signature verifies");
    serde_json::from_slice(body).expect("JSON body")
}

/// Checks `body` against the committed `proto-schemas/sdr_task.v1.json`.
fn assert_matches_schema(body: &Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto-schemas/sdr_task.v1.json"
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdr_hand_off_is_a_verified_webhook_with_contact_score_and_touches() {
    let (mut env, id) = hot_lead(json!({"contact_id": "c-42", "score": 52, "threshold": 50})).await;
    let (url, received) = receiver(0).await;
    let secret = Secret::generate();
    env.start(&sdr_env(&url, &secret));
    let all = sent(&env, id, &received).await;
    assert_eq!(all.len(), 1, "{}", env.logs());
    assert_eq!(all[0].0["webhook-id"], format!("task_{id}").as_str());
    let body = verified(&secret, &all[0]);
    assert_matches_schema(&body);
    assert_eq!(body["type"], "sdr_task");
    assert_eq!(body["task_id"], id);
    assert_eq!(body["contact"]["email"], "ada@example.org");
    assert_eq!(body["contact"]["company"], "ACME");
    assert_eq!(
        body["score"], 61,
        "the current score, not the one at firing time"
    );
    assert_eq!(body["threshold"], 50);
    let titles: Vec<&str> = body["last_touches"]
        .as_array()
        .expect("touches")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(titles, ["Webinar", "Case study", "Pricing"], "newest first");

    let key = secret.trim_start_matches("whsec_");
    assert!(!env.logs().contains(key), "the secret must never be logged");

    // A wrong secret does not verify the same delivery.
    let other = Secret::generate();
    let (headers, bytes) = &all[0];
    assert!(
        standardwebhooks::Webhook::new(&other)
            .unwrap()
            .verify(bytes, headers)
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_same_webhook_id_again_and_slack_bodies_name_the_lead() {
    let (mut env, id) = hot_lead(json!({"contact_id": "c-42"})).await;
    let (url, received) = receiver(1).await;
    let secret = Secret::generate();
    let mut vars = sdr_env(&url, &secret);
    vars.push(("HOOKLINE__ACTIONS__SDR_SLACK", "true".into()));
    env.start(&vars);
    let all = sent(&env, id, &received).await;
    assert_eq!(all.len(), 2, "one 503, one 200\n{}", env.logs());
    assert_eq!(all[0].0["webhook-id"], all[1].0["webhook-id"]);
    let body = verified(&secret, &all[1]);
    let text = body["text"].as_str().expect("Slack text");
    assert!(
        text.contains("Ada Lovelace <ada@example.org>") && text.contains("61"),
        "{text}"
    );
    assert!(
        body["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Webinar")
    );
    let (_, attempts, error, _) = env.state(id).await;
    assert_eq!(attempts, 2);
    assert_eq!(error, None, "a success clears the last error");
}
