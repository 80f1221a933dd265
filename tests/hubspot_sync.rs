//! `hookline consume hubspot-sync` against a fake HubSpot that follows the
//! documented batch upsert: every form's contact is upserted exactly once,
//! even when the process is killed with `kill -9` in the middle of a batch;
//! `Retry-After` is honoured; a 401 is logged once and pauses the consumer
//! until the token works; a contact HubSpot refuses goes to `CRM_DLQ` alone.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test hubspot_sync`.

use bytes::Bytes;
use hookline_core::event::{Event, EventData, FormSubmission};
use hookline_core::nats::Nats;
use hookline_core::publish::{self, Outgoing};
use hookline_e2e::hubspot::FakeHubspot;
use hookline_e2e::{Service, Stack, free_port, wait_for};
use std::collections::BTreeMap;
use std::time::Duration;

const SYNC: Service = Service::Consumer("hubspot-sync");
const TOKEN: &str = "pat-na1-e2e-token-NEVER-LOGGED";
const LIMIT: Duration = Duration::from_secs(120);

fn form(form_id: &str, email: Option<&str>) -> Event {
    let fields: BTreeMap<String, String> = [("name", "Ann Lee"), ("company", "Acme")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Event::new(EventData::FormSubmission(FormSubmission {
        form_id: form_id.into(),
        content_type: None,
        content_id: None,
        slug: None,
        contact_id: None,
        email: email.map(str::to_string),
        fields,
        content_checksum: None,
        site_id: None,
    }))
}

/// Publishes as crm-ingest does; `msg_id` other than the event id makes a
/// second copy on the stream.
async fn publish(nats: &Nats, event: &Event, msg_id: &str) {
    let subject = nats.names.crm_event_subject(event.event_type());
    let payload = Bytes::from(serde_json::to_vec(event).expect("json"));
    publish::publish(&nats.js, &Outgoing::new(subject, msg_id, payload))
        .await
        .expect("published");
}

fn stack_for(fake: &FakeHubspot) -> Stack {
    let mut stack = Stack::new();
    stack.ports.insert(SYNC, free_port());
    for (k, v) in [
        ("HOOKLINE__HUBSPOT__ACCESS_TOKEN", TOKEN.to_string()),
        ("HOOKLINE__HUBSPOT__BASE_URL", fake.url()),
        ("HOOKLINE__CONSUMERS__ACK_WAIT", "8s".to_string()),
    ] {
        stack.extra_env.push((k.to_string(), v));
    }
    stack
}

async fn processed(stack: &Stack, pool: &sqlx::PgPool, n: i64) {
    let sql = "SELECT count(*) FROM processed_events WHERE consumer = 'hubspot-sync'";
    stack.wait_count(pool, sql, n, LIMIT).await;
}

/// Every `(email, source)` appears exactly once among the written inputs.
fn assert_each_once(fake: &FakeHubspot, expected: &[(String, String)]) {
    let mut got = fake.upserted();
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want, "upserts differ from one per form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_every_form_is_upserted_exactly_once() {
    // The second call is rate limited: the process is killed while it
    // waits out Retry-After, after the first call of the batch succeeded.
    let fake = FakeHubspot::start(TOKEN, &[2], 3).await;
    let mut stack = stack_for(&fake);
    let nats = Nats::connect_and_declare(&stack.config)
        .await
        .expect("NATS");

    // 240 people; the first ten also sent a second form, in the same batch.
    let mut events: Vec<Event> = Vec::new();
    let mut expected = Vec::new();
    for i in 0..240 {
        let email = format!("p{i}@example.com");
        events.push(form("frm_1", Some(&email)));
        expected.push((email.clone(), "Resources Centre form: frm_1".to_string()));
        if i < 10 {
            events.push(form("frm_2", Some(&email)));
            expected.push((email, "Resources Centre form: frm_2".to_string()));
        }
    }
    events.push(form("frm_1", None)); // no email: nothing to upsert
    for e in &events {
        publish(&nats, e, e.id.as_str()).await;
    }
    publish(&nats, &events[3], "a-later-copy").await;

    stack.start(SYNC).await;
    wait_for("a 429 answered", LIMIT, || async {
        fake.calls().iter().any(|c| c.status == 429).then_some(())
    })
    .await;
    stack.kill9(SYNC);
    let before = fake.calls();
    assert!(
        before.iter().any(|c| c.status == 200),
        "the first call should have succeeded before the kill: {before:?}"
    );

    // Mid-batch indeed: contacts HubSpot wrote whose events were never
    // committed as processed, so they will be delivered again.
    let pool = stack.crm_pool().await;
    let upserted_not_committed = "SELECT count(*) FROM hubspot_upserts u WHERE NOT EXISTS \
        (SELECT 1 FROM processed_events p WHERE p.consumer = 'hubspot-sync' AND p.event_id = u.event_id)";
    let pending = stack.count(&pool, upserted_not_committed).await;
    assert!(
        pending.unwrap_or(0) > 0,
        "killed between batches: {pending:?}"
    );

    stack.start(SYNC).await;
    processed(&stack, &pool, events.len() as i64).await;
    assert_each_once(&fake, &expected);
    assert!(fake.calls().iter().all(|c| c.inputs.len() <= 100));
    let ledger = "SELECT count(*) FROM hubspot_upserts";
    assert_eq!(
        stack.count(&pool, ledger).await,
        Some(expected.len() as i64)
    );
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_pauses_once_and_a_refused_contact_is_dead_lettered_alone() {
    let fake = FakeHubspot::start("not-the-configured-token", &[], 2).await;
    fake.reject("refused@example.com");
    let mut stack = stack_for(&fake);
    let nats = Nats::connect_and_declare(&stack.config)
        .await
        .expect("NATS");
    let emails = [
        "a@example.com",
        "refused@example.com",
        "b@example.com",
        "c@example.com",
    ];
    for email in emails {
        let e = form("frm_9", Some(email));
        publish(&nats, &e, e.id.as_str()).await;
    }
    stack.start(SYNC).await;
    wait_for("three 401s", LIMIT, || async {
        (fake.calls().iter().filter(|c| c.status == 401).count() >= 3).then_some(())
    })
    .await;
    let log = stack.log(SYNC);
    assert_eq!(log.matches("hubspot-sync paused").count(), 1, "{log}");
    assert!(log.contains("hubspot.access_token"), "{log}");

    // The token is fixed: the consumer resumes by itself.
    fake.set_token(TOKEN);
    let pool = stack.crm_pool().await;
    processed(&stack, &pool, 3).await;
    wait_for("the refused contact dead-lettered", LIMIT, || async {
        (stack.dead_letters().await.1 == 1).then_some(())
    })
    .await;
    let good: Vec<(String, String)> = ["a@example.com", "b@example.com", "c@example.com"]
        .iter()
        .map(|e| (e.to_string(), "Resources Centre form: frm_9".to_string()))
        .collect();
    assert_each_once(&fake, &good);
    let log = stack.log(SYNC);
    assert_eq!(log.matches("hubspot-sync paused").count(), 1, "{log}");
    assert!(log.contains("resuming"), "{log}");
    assert!(!log.contains(TOKEN), "the token was logged");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_waited_out_before_calling_again() {
    let fake = FakeHubspot::start(TOKEN, &[1], 2).await;
    let mut stack = stack_for(&fake);
    let nats = Nats::connect_and_declare(&stack.config)
        .await
        .expect("NATS");
    let e = form("frm_7", Some("wait@example.com"));
    publish(&nats, &e, e.id.as_str()).await;
    stack.start(SYNC).await;
    let pool = stack.crm_pool().await;
    processed(&stack, &pool, 1).await;
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    // A lower bound, not a speed: the second call came no sooner than told.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(2));
    assert_each_once(
        &fake,
        &[(
            "wait@example.com".into(),
            "Resources Centre form: frm_7".into(),
        )],
    );
    stack.cleanup().await;
}
