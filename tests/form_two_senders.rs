//! One form, two senders, one count: a form submission that reaches the CRM
//! both through hookline (rc-edge → dedupe → webhook-out → crm-ingest, with
//! an `evt_` id) and from the site's own server straight to crm-ingest in
//! the legacy body (no id) is one event — one `content_events` row, one
//! score increment, one task — in either order, at the same time, across a
//! crm-ingest restart, and with two crm-ingest instances racing. A form
//! with other fields is another event.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test form_two_senders`.

use hookline_e2e::signed::{self, Delivery};
use hookline_e2e::stack::{API_KEY, SHARED_SECRET};
use hookline_e2e::{Service, Stack, free_port, hookline_bin, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// The same submission in the edge's body and the legacy sender's `data`.
fn form(form_id: &str, email: &str, company: &str) -> Value {
    json!({"form_id": form_id, "email": email, "content_type": "resource",
        "content_id": "res_1", "slug": "guide",
        "fields": {"first_name": "Ann", "email": email, "company": company}})
}

async fn via_edge(stack: &Stack, body: &Value) {
    let (status, answer) = stack.post_edge("/api/form-submission", body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer.get("bot"), None, "counted as a bot: {answer}");
}

async fn direct(stack: &Stack, body: &Value) {
    let d: Delivery =
        signed::legacy_sender(SHARED_SECRET, API_KEY, "form_submission", body.clone());
    let (status, answer) = signed::deliver(stack, &d).await;
    assert_eq!(status, 200, "{answer}");
}

/// Rows, form submissions scored, score and thank-you tasks of one email.
async fn counts(stack: &Stack, pool: &sqlx::PgPool, email: &str) -> (i64, i64, i64, i64) {
    let q = |sql: String| async move { stack.count(pool, &sql).await.unwrap_or(-1) };
    (
        q(format!("SELECT count(*) FROM content_events WHERE email = '{email}'")).await,
        q(format!(
            "SELECT coalesce(sum(form_submissions), 0)::bigint FROM engagement_scores WHERE contact_key = '{email}'"
        ))
        .await,
        q(format!(
            "SELECT coalesce(sum(score), 0)::bigint FROM engagement_scores WHERE contact_key = '{email}'"
        ))
        .await,
        q(format!(
            "SELECT count(*) FROM automation_tasks WHERE contact_key = '{email}' AND rule = 'thank-you'"
        ))
        .await,
    )
}

/// Waits until `email` has a row, then until the whole pipeline is idle, so
/// a second copy would have arrived too.
async fn settled(stack: &Stack, pool: &sqlx::PgPool, email: &str) -> (i64, i64, i64, i64) {
    wait_for(&format!("a row for {email}"), LIMIT, || async {
        (counts(stack, pool, email).await.0 >= 1).then_some(())
    })
    .await;
    stack.wait_idle(LIMIT).await;
    counts(stack, pool, email).await
}

// One row, one form scored, its points (10, +3 for a resource page), one task.
const ONCE: (i64, i64, i64, i64) = (1, 1, 13, 1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_sent_by_both_senders_counts_once() {
    let mut stack = Stack::new();
    stack.start_all().await;
    let pool = stack.crm_pool().await;

    // Through hookline first, then the site's own copy.
    let a = form("frm_a", "edge-first@example.com", "Acme");
    via_edge(&stack, &a).await;
    wait_for("the edge copy stored", LIMIT, || async {
        (counts(&stack, &pool, "edge-first@example.com").await.0 == 1).then_some(())
    })
    .await;
    direct(&stack, &a).await;
    assert_eq!(settled(&stack, &pool, "edge-first@example.com").await, ONCE);

    // The site's own copy first, then hookline's.
    let b = form("frm_b", "direct-first@example.com", "Acme");
    direct(&stack, &b).await;
    wait_for("the direct copy stored", LIMIT, || async {
        (counts(&stack, &pool, "direct-first@example.com").await.0 == 1).then_some(())
    })
    .await;
    via_edge(&stack, &b).await;
    assert_eq!(
        settled(&stack, &pool, "direct-first@example.com").await,
        ONCE
    );

    // Both at once, several times over (each round its own form).
    for round in 0..4 {
        let email = format!("together-{round}@example.com");
        let c = form(&format!("frm_c{round}"), &email, "Acme");
        tokio::join!(via_edge(&stack, &c), direct(&stack, &c));
        assert_eq!(settled(&stack, &pool, &email).await, ONCE, "round {round}");
    }

    // Same form and person, other fields: another submission, counted.
    let d1 = form("frm_d", "changed@example.com", "Acme");
    let d2 = form("frm_d", "changed@example.com", "Acme Ltd");
    direct(&stack, &d1).await;
    via_edge(&stack, &d2).await;
    wait_for("both versions stored", LIMIT, || async {
        (counts(&stack, &pool, "changed@example.com").await.0 == 2).then_some(())
    })
    .await;
    stack.wait_idle(LIMIT).await;
    assert_eq!(
        counts(&stack, &pool, "changed@example.com").await,
        (2, 2, 26, 2)
    );

    // Across a crm-ingest restart: the fingerprint lives in JetStream.
    let e = form("frm_e", "restart@example.com", "Acme");
    direct(&stack, &e).await;
    stack.kill9(Service::Ingest);
    stack.start(Service::Ingest).await;
    via_edge(&stack, &e).await;
    assert_eq!(settled(&stack, &pool, "restart@example.com").await, ONCE);

    // Two crm-ingest instances racing on the same form, each given its own
    // id by its sender, while hookline's copy arrives too.
    let (port, ops_port) = (free_port(), free_port());
    let second = spawn_second_ingest(&stack, port, ops_port).await;
    let f = form("frm_f", "two-instances@example.com", "Acme");
    let first_url = stack.url(Service::Ingest);
    let second_url = format!("http://127.0.0.1:{port}");
    tokio::join!(
        via_edge(&stack, &f),
        direct_with_id(&stack, &first_url, &f, "evt_sender_one"),
        direct_with_id(&stack, &second_url, &f, "evt_sender_two"),
    );
    assert_eq!(
        settled(&stack, &pool, "two-instances@example.com").await,
        ONCE
    );
    drop(second);
    stack.cleanup().await;
}

/// A second `hookline ingest` on its own ports; killed when dropped.
async fn spawn_second_ingest(stack: &Stack, port: u16, ops_port: u16) -> Killed {
    let mut env = stack.env(Service::Ingest);
    env.push((
        "HOOKLINE__INGEST__LISTEN".into(),
        format!("127.0.0.1:{port}"),
    ));
    env.push((
        "HOOKLINE__OPS__LISTEN".into(),
        format!("127.0.0.1:{ops_port}"),
    ));
    let child = std::process::Command::new(hookline_bin())
        .arg("ingest")
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("second ingest starts");
    let url = format!("http://127.0.0.1:{port}/readyz");
    wait_for("the second ingest ready", LIMIT, || async {
        let ok = stack.http().get(&url).send().await;
        ok.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;
    Killed(child)
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A legacy delivery whose sender set its own id (`data.id`).
async fn direct_with_id(stack: &Stack, base: &str, body: &Value, id: &str) {
    let mut data = body.clone();
    data["id"] = json!(id);
    let d = signed::legacy_sender(SHARED_SECRET, API_KEY, "form_submission", data);
    let mut req = stack
        .http()
        .post(format!("{base}/api/webhooks/resources-centre"))
        .header("content-type", "application/json")
        .body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(*k, v.as_str());
    }
    let resp = req.send().await.expect("ingest answers");
    assert_eq!(resp.status().as_u16(), 200, "{id}");
}
