//! The dashboards and alert rules read only metrics that exist: a stack runs
//! traffic of every kind (unique, duplicate, bot, a form, a failing webhook
//! that dead-letters), every process's `/metrics` is scraped, and each
//! metric name in `deploy/grafana/dashboards/*.json` and
//! `deploy/prometheus/alerts.yml` must be among them (NATS server metrics,
//! `gnatsd_varz_*`, must name a numeric field of a real server's `/varz`).
//! Every expression must also pass `promtool check rules`.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test dashboards`.

use hookline_core::publish::{Outgoing, publish};
use hookline_e2e::nats_server::NatsServer;
use hookline_e2e::ops::Receiver;
use hookline_e2e::scrape_metrics::scrape;
use hookline_e2e::{Service, Stack, free_port, hookline_bin, wait_for};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HEALTH_SYNC_KEY: &str = "e2e-health-sync-key-NEVER-LOGGED";

/// A process the test started beside the stack, killed however the test
/// ends (a failed assertion included).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every PromQL expression of the dashboards and the alert rules, with
/// where it comes from.
fn expressions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = root().join("deploy/grafana/dashboards");
    for entry in std::fs::read_dir(&dir).expect("dashboards dir") {
        let path = entry.unwrap().path();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in doc["panels"].as_array().expect("panels") {
            for t in panel["targets"].as_array().expect("targets") {
                let at = format!("{} / {}", path.display(), panel["title"]);
                out.push((at, t["expr"].as_str().expect("expr").to_string()));
            }
        }
    }
    let alerts = root().join("deploy/prometheus/alerts.yml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&alerts).unwrap()).unwrap();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let at = format!("alerts.yml / {}", rule["alert"].as_str().unwrap());
            out.push((at, rule["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// Metric names an expression reads (ours, the NATS exporter's, and `up`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        // A label value or a legend inside quotes is not a metric; labels
        // are followed by `=`, `!` or `~`, which the prefixes rule out.
        if word.starts_with("hookline_") || word.starts_with("gnatsd_") || word == "up" {
            names.insert(word.clone());
        }
        word.clear();
    }
    names
}

/// Numeric top-level fields of a real nats-server's `/varz`.
async fn varz_fields() -> BTreeSet<String> {
    let server = NatsServer::start().await;
    let varz: serde_json::Value = reqwest::get(format!("{}/varz", server.monitor_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    varz.as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_number())
        .map(|(k, _)| k.clone())
        .collect()
}

fn promtool_check(exprs: &[(String, String)], dir: &Path) {
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, (_, e)) in exprs.iter().enumerate() {
        let e = e.replace("$__rate_interval", "5m");
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {}\n",
            serde_json::to_string(&e).unwrap()
        ));
    }
    let file = dir.join("exprs.yml");
    std::fs::write(&file, rules).unwrap();
    for f in [file, root().join("deploy/prometheus/alerts.yml")] {
        let out = std::process::Command::new("promtool")
            .args(["check", "rules"])
            .arg(&f)
            .output()
            .expect("promtool is installed (Debian package prometheus)");
        assert!(
            out.status.success(),
            "promtool check rules {}:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn every_dashboard_and_alert_expression_reads_exported_metrics() {
    let exprs = expressions();
    assert!(exprs.len() > 10, "dashboards and rules were found");
    let dir = tempfile::tempdir().unwrap();
    promtool_check(&exprs, dir.path());

    let mut stack = Stack::new();
    stack.extra_env.extend([
        (
            "HOOKLINE__WEBHOOK_OUT__RETRY_SCHEDULE".into(),
            "200ms".into(),
        ),
        ("HOOKLINE__CONSUMERS__MAX_DELIVER".into(), "2".into()),
        (
            "HOOKLINE__EDGE__HEALTH_SYNC_API_KEY".into(),
            HEALTH_SYNC_KEY.into(),
        ),
    ]);
    stack.start_all().await;
    // `hookline actions` beside the stack, its SMTP server down: the form's
    // thank-you task is tried and retried, so its metrics exist.
    let actions_port = free_port();
    let mut env = stack.env(Service::Consumer("automation"));
    env.extend([
        (
            "HOOKLINE__OPS__LISTEN".into(),
            format!("127.0.0.1:{actions_port}"),
        ),
        (
            "HOOKLINE__ACTIONS__SMTP_URL".into(),
            format!("smtp://127.0.0.1:{}", free_port()),
        ),
        (
            "HOOKLINE__ACTIONS__FROM".into(),
            "RC <rc@example.com>".into(),
        ),
        ("HOOKLINE__ACTIONS__POLL_INTERVAL".into(), "200ms".into()),
    ]);
    let actions = Reaped(
        std::process::Command::new(hookline_bin())
            .arg("actions")
            .env_clear()
            .envs(env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("hookline actions starts"),
    );
    // The nightly reconcile beside it, running at once: its gauges.
    let reconcile_port = free_port();
    let reconcile = Reaped(
        std::process::Command::new(hookline_bin())
            .args([
                "reconcile",
                "--every",
                "1h",
                "--since",
                "1h",
                "--settle",
                "0s",
            ])
            .env_clear()
            .envs(stack.env(Service::Consumer("event-store")))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "HOOKLINE__OPS__LISTEN",
                format!("127.0.0.1:{reconcile_port}"),
            )
            .env("HOOKLINE__RECONCILE__RC_URL", stack.url(Service::Edge))
            .env("HOOKLINE__RECONCILE__API_KEY", HEALTH_SYNC_KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("hookline reconcile starts"),
    );
    let extra_ops = [
        format!("http://127.0.0.1:{actions_port}"),
        format!("http://127.0.0.1:{reconcile_port}"),
    ];
    // Its first run must be over before the CRM table is taken away below.
    wait_for("a reconcile run", Duration::from_secs(60), || async {
        scrape(&stack, &extra_ops[1..])
            .await
            .names
            .contains("hookline_reconcile_last_run_timestamp_seconds")
            .then_some(())
    })
    .await;
    let failing = Receiver::start(true).await;
    stack.create_webhook(&failing.url()).await;
    stack.page_view("c-dash", "cnt_dash").await;
    stack.page_view("c-dash", "cnt_dash").await;
    stack
        .page_view_as(
            "c-dash",
            "cnt_bot",
            "Mozilla/5.0 (compatible; Googlebot/2.1)",
        )
        .await;
    let (status, v) = stack
        .post_edge(
            "/api/form-submission",
            &serde_json::json!({"form_id": "frm_dash", "email": "a@example.com", "fields": {"x": "1"}}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let (_, bad) = stack
        .post_edge("/api/page-view", &serde_json::json!({}))
        .await;
    assert!(bad.is_object());
    // Nothing identifies a GDPR view without a contact: forwarded unkeyed.
    let gdpr =
        serde_json::json!({"content_type": "news", "content_id": "n1", "slug": "n1", "gdpr": true});
    assert_eq!(stack.post_edge("/api/page-view", &gdpr).await.0, 202);
    // Garbage on RC_RAW: a dedupe decode error and a dead letter.
    let nats = stack.nats().await;
    let garbage = Outgoing::new(
        nats.names.subject("rc.raw.page_view"),
        "garbage",
        bytes::Bytes::from_static(b"not json"),
    );
    publish(&nats.js, &garbage).await.unwrap();
    // A consumer that fails: handler failures and a CRM dead letter.
    let crm = stack.crm_pool().await;
    sqlx::query("ALTER TABLE content_events RENAME TO content_events_away")
        .execute(&crm)
        .await
        .unwrap();
    stack.page_view("c-dash-2", "cnt_dash_2").await;
    wait_for("a CRM dead letter", Duration::from_secs(90), || async {
        (stack.dead_letters().await.1 > 0).then_some(())
    })
    .await;
    wait_for("a dead letter", Duration::from_secs(90), || async {
        (stack.dead_letters().await.0 > 0).then_some(())
    })
    .await;
    stack.wait_idle(Duration::from_secs(90)).await;
    // Lag gauges refresh every 10 s; wait until webhook-out has them.
    let scraped = wait_for(
        "lag gauges and task metrics",
        Duration::from_secs(60),
        || async {
            let s = scrape(&stack, &extra_ops).await;
            (s.names.contains("hookline_consumer_oldest_unacked_seconds")
                && s.names.contains("hookline_actions_tasks_total")
                && s.names
                    .contains("hookline_reconcile_last_run_timestamp_seconds"))
            .then_some(s)
        },
    )
    .await;
    let exported = &scraped.names;
    assert!(
        scraped.without_help.is_empty(),
        "metrics without # HELP: {:#?}",
        scraped.without_help
    );
    // The lag gauges describe the whole stack: one process exports them.
    let webhook_out = BTreeSet::from([stack.ops_url(Service::WebhookOut)]);
    assert_eq!(
        scraped.lag_exporters, webhook_out,
        "lag gauges exported once"
    );
    // One naming rule for histograms: `hookline_<component>_<operation>_seconds`.
    let odd: Vec<&String> = exported
        .iter()
        .filter_map(|n| n.strip_suffix("_bucket").map(|_| n))
        .filter(|n| !n.ends_with("_seconds_bucket") || n.contains("_duration_"))
        .collect();
    assert!(odd.is_empty(), "histograms off the naming rule: {odd:?}");
    drop((actions, reconcile));
    let varz = varz_fields().await;

    let mut missing = Vec::new();
    for (at, expr) in &exprs {
        for name in metric_names(expr) {
            let known = match name.strip_prefix("gnatsd_varz_") {
                Some(field) => varz.contains(field),
                None => name == "up" || exported.contains(&name),
            };
            if !known {
                missing.push(format!("{name} ({at})"));
            }
        }
    }
    stack.cleanup().await;
    assert!(
        missing.is_empty(),
        "metrics no service exports: {missing:#?}"
    );
}

#[test]
fn metric_names_are_read_from_expressions() {
    let names = metric_names(
        r#"sum by (le) (rate(hookline_x_bucket{stream=~".*_DLQ"}[5m])) / max(gnatsd_varz_mem) and up == 0"#,
    );
    let want: BTreeSet<String> = ["hookline_x_bucket", "gnatsd_varz_mem", "up"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want);
}
