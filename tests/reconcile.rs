//! Reconciliation across the organisational boundary, against real
//! processes: N unique events go through the whole pipeline, the test
//! deletes K of them from the CRM database (the event store's rows and its
//! `processed_events` rows, so a redelivery re-applies), and `hookline
//! reconcile` must find exactly those K as missing and nothing extra;
//! `--repair` must restore them without doubling any other consumer's
//! effect, and a second run must find nothing. Also: a wrong key is a 401,
//! a range past RC_EVENTS' retention is a clear 422 and a failing command.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test reconcile`.

use hookline_e2e::{Service, Stack, hookline_bin};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const HEALTH_SYNC_KEY: &str = "e2e-health-sync-key-NEVER-LOGGED";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0";

/// Runs `hookline reconcile ARGS --json` as the CRM side would; returns the
/// exit code and the parsed output.
fn reconcile(stack: &Stack, webhook: &str, args: &[&str]) -> (i32, Value, String) {
    let out = std::process::Command::new(hookline_bin())
        .arg("reconcile")
        .args(args)
        .env_clear()
        .envs(stack.env(Service::Consumer("event-store")))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOKLINE__RECONCILE__RC_URL", stack.url(Service::Edge))
        .env("HOOKLINE__RECONCILE__API_KEY", HEALTH_SYNC_KEY)
        .env("HOOKLINE__RECONCILE__WEBHOOK_ID", webhook)
        .env("HOOKLINE_ADMIN_URL", stack.url(Service::WebhookOut))
        .output()
        .expect("hookline reconcile runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), value, stderr)
}

/// Runs `hookline reconcile` over the last hour and checks that RC and CRM
/// agree: exit 0, nothing missing, nothing extra.
fn assert_in_step(stack: &Stack, webhook: &str) {
    let (code, v, err) = reconcile(
        stack,
        webhook,
        &["--since", "1h", "--settle", "0s", "--json"],
    );
    assert_eq!(code, 0, "{v} {err}");
    assert!(
        ids(&v, "missing").is_empty() && ids(&v, "extra").is_empty(),
        "{v}"
    );
}

fn ids(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is a list: {v}"))
        .iter()
        .map(|i| i.as_str().expect("id").to_string())
        .collect()
}

async fn send(stack: &Stack, path: &str, body: Value) -> String {
    let v = stack.accepted(path, BROWSER, body).await;
    assert!(v.get("bot").is_none(), "{v}");
    v["id"].as_str().expect("id").to_string()
}

/// The other consumers' effects, which a repair must not double.
async fn effects(stack: &Stack, pool: &sqlx::PgPool) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COALESCE(sum(score), 0)::bigint FROM engagement_scores",
        "SELECT count(*) FROM campaign_touches",
        "SELECT count(*) FROM automation_tasks",
        "SELECT count(*) FROM processed_events WHERE consumer <> 'event-store'",
    ] {
        out.push(stack.count(pool, sql).await);
    }
    out
}

async fn config_webhook(stack: &Stack) -> String {
    let (status, v) = stack
        .admin(reqwest::Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(status, 200, "{v}");
    v["data"][0]["id"]
        .as_str()
        .expect("the config webhook")
        .to_string()
}

#[tokio::test]
async fn reconcile_finds_exactly_the_deleted_events_and_repair_restores_them_once() {
    let mut stack = Stack::new();
    stack.extra_env.extend([
        (
            "HOOKLINE__EDGE__HEALTH_SYNC_API_KEY".into(),
            HEALTH_SYNC_KEY.into(),
        ),
        // A resent event must not fall in CRM_EVENTS' duplicate window.
        ("HOOKLINE__NATS__DUPLICATE_WINDOW".into(), "1s".into()),
    ]);
    stack.start_all().await;
    let webhook = config_webhook(&stack).await;

    let mut sent = Vec::new();
    for i in 0..16 {
        let body = json!({"content_type": "resource", "content_id": format!("rec-{i}"),
            "slug": format!("rec-{i}"), "contact_id": format!("ct-rec-{}", i % 4),
            "utm_campaign": "recon"});
        sent.push(send(&stack, "/api/page-view", body).await);
    }
    for i in 0..4 {
        let body = json!({"form_id": "frm_rec", "email": format!("rec{i}@example.com"),
            "first_name": "Rec", "fields": {"n": i.to_string()}});
        sent.push(send(&stack, "/api/form-submission", body).await);
    }
    let crm = stack.crm_pool().await;
    let total = sent.len() as i64;
    let all_in = "SELECT count(*) FROM content_events";
    stack
        .wait_count(&crm, all_in, total, Duration::from_secs(90))
        .await;
    stack.wait_idle(Duration::from_secs(60)).await;
    let before = effects(&stack, &crm).await;

    // Nothing differs yet.
    assert_in_step(&stack, &webhook);

    // Delete K: three page views and one form.
    let deleted: Vec<String> = [1, 7, 12, 17].iter().map(|i| sent[*i].clone()).collect();
    sqlx::query("DELETE FROM content_events WHERE event_id = ANY($1)")
        .bind(&deleted)
        .execute(&crm)
        .await
        .unwrap();
    sqlx::query(
        "DELETE FROM processed_events WHERE consumer = 'event-store' AND event_id = ANY($1)",
    )
    .bind(&deleted)
    .execute(&crm)
    .await
    .unwrap();

    let (code, v, err) = reconcile(
        &stack,
        &webhook,
        &["--since", "1h", "--settle", "0s", "--json"],
    );
    assert_eq!(code, 1, "missing events fail the run: {v} {err}");
    let want: BTreeSet<String> = deleted.iter().cloned().collect();
    assert_eq!(ids(&v, "missing"), want, "{v}");
    assert!(ids(&v, "extra").is_empty(), "{v}");

    // The first delivery must be older than CRM_EVENTS' 1 s duplicate window.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let args = ["--since", "1h", "--settle", "0s", "--repair", "--json"];
    let (code, v, err) = reconcile(&stack, &webhook, &args);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(ids(&v, "missing"), want, "{v}");
    assert_eq!(ids(&v, "repaired"), want, "{v}");
    assert!(ids(&v, "still_missing").is_empty(), "{v}");
    stack
        .wait_count(&crm, all_in, total, Duration::from_secs(30))
        .await;
    let back = "SELECT count(*) FROM processed_events WHERE consumer = 'event-store'";
    stack
        .wait_count(&crm, back, total, Duration::from_secs(30))
        .await;
    stack.wait_idle(Duration::from_secs(60)).await;
    assert_eq!(
        effects(&stack, &crm).await,
        before,
        "scores, touches, tasks unchanged"
    );

    assert_in_step(&stack, &webhook);

    // The CRM has one the RC does not know: reported as extra, not missing.
    sqlx::query(
        "INSERT INTO content_events (event_id, event_name, payload, ts) \
         SELECT 'evt_' || substr(event_id, 5, 20) || '000000', event_name, payload, ts \
         FROM content_events WHERE event_id = $1",
    )
    .bind(&sent[0])
    .execute(&crm)
    .await
    .unwrap();
    let (_, v, err) = reconcile(
        &stack,
        &webhook,
        &["--since", "1h", "--settle", "0s", "--json"],
    );
    assert!(ids(&v, "missing").is_empty(), "{v} {err}");
    assert_eq!(ids(&v, "extra").len(), 1, "{v}");
    stack.cleanup().await;
}

#[tokio::test]
async fn health_sync_refuses_wrong_keys_bad_ranges_and_ranges_past_retention() {
    let mut stack = Stack::new();
    stack.extra_env.push((
        "HOOKLINE__EDGE__HEALTH_SYNC_API_KEY".into(),
        HEALTH_SYNC_KEY.into(),
    ));
    stack.start(Service::Edge).await;
    let url = format!("{}/api/health-sync", stack.url(Service::Edge));
    let now = chrono::Utc::now();
    let hour = |h: i64| (now - chrono::TimeDelta::hours(h)).to_rfc3339();
    let get = |key: &'static str, query: Vec<(&'static str, String)>| {
        let req = stack.http().get(&url).query(&query);
        async move {
            let resp = req.bearer_auth(key).send().await.expect("edge answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let range = vec![("from", hour(2))];
    assert_eq!(
        get("a-wrong-key-of-some-length", range.clone()).await.0,
        401
    );
    let (status, v) = get(HEALTH_SYNC_KEY, range).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["hours"].as_array().unwrap().len(),
        6,
        "3 hours × 2 types: {v}"
    );

    let (status, v) = get(HEALTH_SYNC_KEY, vec![("from", "yesterday".into())]).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("`from`"), "{v}");
    let (status, v) = get(HEALTH_SYNC_KEY, vec![("from", hour(24 * 8))]).await;
    assert_eq!(status, 400, "more than 7 days: {v}");

    // RC_EVENTS keeps 14 days by default: 20 days ago is past it.
    let (status, v) = get(HEALTH_SYNC_KEY, vec![("from", hour(24 * 20))]).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("retention"), "{v}");
    assert!(v["oldest_available"].is_string(), "{v}");

    let webhook = "wh_unused";
    let (code, _, err) = reconcile(&stack, webhook, &["--since", "20d", "--json"]);
    assert_eq!(code, 1);
    assert!(err.contains("retention"), "{err}");
    stack.cleanup().await;
}
