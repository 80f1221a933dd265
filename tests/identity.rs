//! Verified visitor identities across the whole pipeline: with
//! `edge.identity_secret` set, a pixel, page view or form that claims a
//! contact or email without a valid `identity_sig` is still counted, but
//! changes no contact, no score and no task; a signed one does.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test identity`.

use hookline_e2e::{Service, Stack};
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "e2e-identity-secret-NEVER-LOGGED";
const VICTIM: &str = "cnt_victim";
const VICTIM_EMAIL: &str = "victim@example.com";
const REAL: &str = "cnt_real";

/// What a site's server computes (docs/identity.md).
fn sign(value: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A pixel view; every call in this test views different content, so
/// dedupe keeps them all.
async fn pixel(stack: &Stack, content_id: &str, query: &str) {
    let url = format!(
        "{}/t/resource/guide.gif?content_id={content_id}&{query}",
        stack.url(Service::Edge)
    );
    let resp = stack.http().get(url).send().await.expect("edge answers");
    assert_eq!(resp.status().as_u16(), 200, "{query}");
}

async fn metric(stack: &Stack, name: &str) -> f64 {
    let text = stack
        .http()
        .get(format!("{}/metrics", stack.ops_url(Service::Edge)))
        .send()
        .await
        .expect("ops listener")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_identities_change_no_contact_score_or_task() {
    let mut stack = Stack::new();
    stack.extra_env.push((
        "HOOKLINE__EDGE__IDENTITY_SECRET".to_string(),
        SECRET.to_string(),
    ));
    stack.start_all().await;

    // Forged: no signature, a wrong one, one for somebody else.
    pixel(&stack, "res_1", &format!("contact_id={VICTIM}")).await;
    pixel(
        &stack,
        "res_2",
        &format!("contact_id={VICTIM}&identity_sig={}", "0".repeat(64)),
    )
    .await;
    let view = json!({"content_type": "event", "content_id": "ev_1", "slug": "s",
        "contact_id": VICTIM, "identity_sig": sign(REAL)});
    assert_eq!(stack.post_edge("/api/page-view", &view).await.0, 202);
    let form = json!({"form_id": "frm_1", "email": VICTIM_EMAIL,
        "fields": {"first_name": "Mallory", "Email": VICTIM_EMAIL, "company": "Evil"}});
    assert_eq!(stack.post_edge("/api/form-submission", &form).await.0, 202);
    let form = json!({"form_id": "frm_2", "contact_id": VICTIM, "identity_sig": "nope",
        "fields": {"first_name": "Mallory"}});
    assert_eq!(stack.post_edge("/api/form-submission", &form).await.0, 202);

    // Signed: believed, and the proof that the pipeline ran to the end.
    pixel(
        &stack,
        "res_3",
        &format!("contact_id={REAL}&identity_sig={}", sign(REAL)),
    )
    .await;
    let form = json!({"form_id": "frm_3", "email": "Real@Example.com",
        "identity_sig": sign("real@example.com"), "fields": {"first_name": "Rea"}});
    assert_eq!(stack.post_edge("/api/form-submission", &form).await.0, 202);

    let pool = stack.crm_pool().await;
    let limit = Duration::from_secs(120);
    stack
        .wait_count(&pool, "SELECT count(*) FROM content_events", 7, limit)
        .await;
    stack
        .wait_count(
            &pool,
            "SELECT count(*) FROM engagement_scores WHERE contact_key IN ('cnt_real', 'real@example.com')",
            2,
            limit,
        )
        .await;
    stack
        .wait_count(
            &pool,
            "SELECT count(*) FROM processed_events WHERE consumer = 'automation'",
            7,
            limit,
        )
        .await;

    let victim = format!("('{VICTIM}', '{VICTIM_EMAIL}')");
    for table in [
        "contacts",
        "engagement_scores",
        "automation_tasks",
        "campaign_touches",
    ] {
        let sql = format!("SELECT count(*) FROM {table} WHERE contact_key IN {victim}");
        assert_eq!(stack.count(&pool, &sql).await, Some(0), "{table}");
    }
    let sql = format!(
        "SELECT count(*) FROM contacts WHERE contact_id = '{VICTIM}' OR lower(email) = '{VICTIM_EMAIL}' OR company = 'Evil'"
    );
    assert_eq!(stack.count(&pool, &sql).await, Some(0), "contacts");
    let sql = format!(
        "SELECT count(*) FROM content_events WHERE payload::text LIKE '%{VICTIM}%' OR payload::text LIKE '%{VICTIM_EMAIL}%'"
    );
    assert_eq!(stack.count(&pool, &sql).await, Some(0), "stored events");
    assert_eq!(
        metric(&stack, "hookline_edge_identity_dropped_total").await,
        5.0,
        "every drop is counted"
    );
    stack.cleanup().await;
}
