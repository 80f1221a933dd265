//! thank_you_email against a real SMTP server and real `hookline actions`
//! processes: one email per task even when a worker is killed mid-send, and
//! `failed` after the retries when no SMTP server is there.

mod support;

use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::smtp_sink::SmtpSink;
use support::{Env, wait_for};

const LONG: Duration = Duration::from_secs(120);

fn smtp_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "HOOKLINE__ACTIONS__SMTP_URL",
            format!("smtp://127.0.0.1:{port}"),
        ),
        (
            "HOOKLINE__ACTIONS__FROM",
            "Resources Centre <hello@example.org>".into(),
        ),
        ("HOOKLINE__ACTIONS__POLL_INTERVAL", "200ms".into()),
    ]
}

/// Settings of the two-worker test.
fn two_worker_env(port: u16) -> Vec<(&'static str, String)> {
    let mut vars = smtp_env(port);
    vars.extend([
        // One task per claim: both workers take turns on the same queue,
        // and the killed one has nothing in flight but the stuck send (a
        // sibling accepted by the server but not yet recorded `sent` would
        // be the documented crash window, sent again by the survivor).
        ("HOOKLINE__ACTIONS__BATCH_SIZE", "1".to_string()),
        ("HOOKLINE__ACTIONS__SEND_TIMEOUT", "10s".into()),
        ("HOOKLINE__ACTIONS__LEASE", "20s".into()),
        (
            "HOOKLINE__ACTIONS__TEMPLATES__THANKS__SUBJECT",
            "Thanks {{first_name}}".into(),
        ),
        (
            "HOOKLINE__ACTIONS__TEMPLATES__THANKS__TEXT",
            "Hi {{first_name}}".into(),
        ),
        (
            "HOOKLINE__ACTIONS__TEMPLATES__THANKS__HTML",
            "<p>Hi {{first_name}}</p>".into(),
        ),
    ]);
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_one_killed_mid_send_still_send_each_email_once() {
    let mut env = Env::new().await;
    let sink = SmtpSink::start(0).await;
    sink.stall_first();
    let mut ids = Vec::new();
    for n in 0..24 {
        let payload =
            json!({"email": format!("lead{n}@example.org"), "first_name": format!("Ada{n}")});
        ids.push(
            env.task(
                "thank_you_email",
                "thanks",
                &format!("lead{n}@example.org"),
                payload,
            )
            .await,
        );
    }
    let vars = two_worker_env(sink.addr.port());
    let workers = [env.start(&vars), env.start(&vars)];

    // One worker is stuck in the middle of an SMTP conversation: find it by
    // the task it holds, and kill it there.
    let stuck_id = wait_for("a worker stuck mid-send", LONG, || async { sink.stalled() }).await;
    let stuck_task: i64 = stuck_id
        .trim_start_matches("<hookline-task-")
        .split('@')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("Message-ID names the task");
    let (status, _, _, holder) = env.state(stuck_task).await;
    assert_eq!(status, "sending");
    let holder = holder.expect("claimed");
    let victim = *workers
        .iter()
        .find(|&&w| holder.starts_with(&format!("{}@", env.pid(w))))
        .expect("the holder is one of our workers");
    assert!(
        !sink.stalled_client_gone(),
        "the stuck send must still be open when killed"
    );
    env.kill(victim);
    wait_for("the killed worker's connection to close", LONG, || async {
        sink.stalled_client_gone().then_some(())
    })
    .await;

    // The survivor takes the task over once the lease has passed (20 s).
    wait_for("every task sent", Duration::from_secs(240), || async {
        (env.count("sent").await == ids.len() as i64).then_some(())
    })
    .await;
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for mail in sink.accepted() {
        *by_id
            .entry(mail.header("Message-ID").expect("Message-ID"))
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = ids
        .iter()
        .map(|id| (format!("<hookline-task-{id}@example.org>"), 1))
        .collect();
    assert_eq!(
        by_id,
        expected,
        "exactly one email per task\n{}",
        env.logs()
    );
    let (_, attempts, _, holder) = env.state(stuck_task).await;
    assert_eq!(attempts, 2, "the stuck task was claimed twice");
    assert!(
        !holder
            .unwrap()
            .starts_with(&format!("{}@", env.pid(victim)))
    );
    let first = sink
        .accepted()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.contains("lead0@example.org")))
        .expect("lead0's email");
    assert_eq!(first.header("Subject").as_deref(), Some("Thanks Ada0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_smtp_server_fails_the_task_after_its_retries_then_retry_sends_it() {
    let mut env = Env::new().await;
    // Nothing listens on this port yet.
    let port = support::free_port();
    let id = env
        .task(
            "thank_you_email",
            "thank-you",
            "ada@example.org",
            json!({"email": "ada@example.org", "first_name": "Ada"}),
        )
        .await;
    let mut vars = smtp_env(port);
    // A login in the URL: percent-decoded for AUTH, never logged.
    vars[0].1 = format!("smtp://mailer:p%40ss-NEVER-LOGGED@127.0.0.1:{port}");
    vars.extend([
        ("HOOKLINE__ACTIONS__MAX_ATTEMPTS", "3".to_string()),
        ("HOOKLINE__ACTIONS__BACKOFF", "200ms".into()),
        ("HOOKLINE__ACTIONS__SEND_TIMEOUT", "5s".into()),
    ]);
    env.start(&vars);
    wait_for("the task to fail", LONG, || async {
        (env.state(id).await.0 == "failed").then_some(())
    })
    .await;
    let (_, attempts, error, _) = env.state(id).await;
    assert_eq!(attempts, 3, "{}", env.logs());
    let error = error.expect("last_error");
    assert!(error.contains("SMTP"), "{error}");

    let (code, out, err) = env.cli(&["tasks", "list", "--status", "failed", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["status"], "failed");

    // Bring the server up and requeue: the same worker now sends it.
    let sink = SmtpSink::start(port).await;
    let (code, out, err) = env.cli(&["tasks", "retry", &id.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for("the retried task sent", LONG, || async {
        (env.state(id).await.0 == "sent").then_some(())
    })
    .await;
    assert_eq!(sink.accepted().len(), 1);
    assert_eq!(
        sink.logins(),
        [("mailer".to_string(), "p@ss-NEVER-LOGGED".to_string())]
    );
    assert!(!env.logs().contains("NEVER-LOGGED"), "{}", env.logs());
    let (code, _, err) = env.cli(&["tasks", "retry", &id.to_string()]);
    assert_ne!(code, 0, "a sent task must not be retried");
    assert!(err.contains("sent"), "{err}");
}
