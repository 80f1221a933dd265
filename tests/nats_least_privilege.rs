//! The least-privilege NATS config of `hookline nats-config`, for real: a
//! TLS-only nats-server (certificates minted at test time) runs the printed
//! accounts block; `hookline migrate` as `admin` declares the streams; every
//! service runs as its own process, logged in as its own user, and the CRM
//! database ends with exact counts. Then the refusals: `edge` cannot publish
//! to `crm.events.>`, `consumers` can neither delete a stream nor publish to
//! `rc.raw.>`.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test nats_least_privilege`.

use async_nats::jetstream;
use hookline_core::config::NatsConfig;
use hookline_core::names::{CRM_EVENTS, RC_RAW};
use hookline_core::nats::permissions::{inbox_prefix, password_variable, user_name};
use hookline_e2e::secure_nats::{Certs, SecureNats};
use hookline_e2e::{Service, Stack, hookline_bin, wait_for};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(120);

/// The NATS users `hookline nats-config` declares, each with its own password.
const ROLES: [&str; 6] = [
    "edge",
    "dedupe",
    "webhook-out",
    "ingest",
    "consumers",
    "admin",
];

const HEALTH_SYNC_KEY: &str = "e2e-health-sync-key-NEVER-LOGGED";

fn password(role: &str) -> String {
    format!("{role}-pw-NEVER-LOGGED")
}

fn role(service: Service) -> &'static str {
    match service {
        Service::Edge => "edge",
        Service::Dedupe => "dedupe",
        Service::WebhookOut => "webhook-out",
        Service::Ingest => "ingest",
        Service::Consumer(_) => "consumers",
    }
}

/// The NATS login of a role, as environment variables.
fn login_env(stack: &Stack, role: &str) -> Vec<(String, String)> {
    let user = user_name(&stack.config.names(), role);
    vec![
        ("HOOKLINE__NATS__USER".into(), user.clone()),
        ("HOOKLINE__NATS__PASSWORD".into(), password(role)),
        ("HOOKLINE__NATS__INBOX_PREFIX".into(), inbox_prefix(&user)),
    ]
}

/// A raw client logged in as `role` that reports every server error (the
/// permission violations) on a channel.
async fn client_as(
    stack: &Stack,
    certs: &Certs,
    role: &str,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let user = user_name(&stack.config.names(), role);
    let client = async_nats::ConnectOptions::with_user_and_password(user.clone(), password(role))
        .add_root_certificates(certs.path("ca.pem"))
        .custom_inbox_prefix(inbox_prefix(&user))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(stack.config.nats.url.as_str())
        .await
        .expect("login");
    (client, rx)
}

/// Waits for the server to report a permission violation naming `subject`.
async fn assert_violation(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, subject: &str) {
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(e) = rx.recv().await {
            if e.to_lowercase().contains("permissions violation") && e.contains(subject) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no permission violation for {subject}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_runs_with_one_least_privilege_user_per_service() {
    let certs = Certs::generate();
    let mut stack = Stack::new();
    let accounts = Command::new(hookline_bin())
        .arg("nats-config")
        .env_clear()
        .env("HOOKLINE__NATS__PREFIX", &stack.config.nats.prefix)
        .output()
        .expect("hookline nats-config");
    assert!(accounts.status.success());
    let body = format!(
        "{}\n{}",
        certs.server_tls_block(false),
        String::from_utf8(accounts.stdout).unwrap()
    );
    let env: Vec<(String, String)> = ROLES
        .iter()
        .map(|r| (password_variable(r), password(r)))
        .collect();
    let server = SecureNats::start_with_env(&body, true, &env).await;

    // The harness (clean-up, idle checks) acts as admin; so does migrate.
    stack.config.nats = NatsConfig {
        url: server.url("tls"),
        prefix: stack.config.nats.prefix.clone(),
        user: Some(user_name(&stack.config.names(), "admin")),
        password: Some(password("admin")),
        inbox_prefix: inbox_prefix(&user_name(&stack.config.names(), "admin")),
        ..NatsConfig::default()
    };
    stack.config.nats.tls.ca_file = Some(certs.path("ca.pem"));
    stack.extra_env.push((
        "HOOKLINE__NATS__TLS__CA_FILE".into(),
        certs.path("ca.pem").display().to_string(),
    ));
    let migrate = Command::new(hookline_bin())
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(stack.env(Service::Edge))
        .envs(login_env(&stack, "admin"))
        .output()
        .expect("hookline migrate");
    let migrate_out = String::from_utf8_lossy(&migrate.stderr).to_string();
    assert!(migrate.status.success(), "migrate as admin: {migrate_out}");
    stack.extra_env.push((
        "HOOKLINE__EDGE__HEALTH_SYNC_API_KEY".into(),
        HEALTH_SYNC_KEY.into(),
    ));
    for service in Service::ALL {
        let login = login_env(&stack, role(service));
        stack.service_env.insert(service, login);
    }
    stack.start_all().await;

    // 12 unique views, 4 repeats of them (dropped by dedupe), 3 forms.
    for i in 0..16 {
        let n = i % 12;
        let body = json!({"content_type": "resource", "content_id": format!("r{n}"),
            "slug": format!("res-{n}"), "contact_id": "ct-1", "title": "least privilege"});
        let (status, _) = stack.post_edge("/api/page-view", &body).await;
        assert_eq!(status, 202);
    }
    for i in 0..3 {
        let form = json!({"form_id": "newsletter", "email": format!("p{i}@example.test"),
            "fields": {"first_name": "Ada"}});
        let (status, _) = stack.post_edge("/api/form-submission", &form).await;
        assert_eq!(status, 202);
    }
    stack.wait_idle(IDLE).await;
    let crm = stack.crm_pool().await;
    let limit = Duration::from_secs(60);
    stack
        .wait_count(&crm, "SELECT count(*) FROM content_events", 15, limit)
        .await;
    for consumer in ["event-store", "engagement-score", "automation"] {
        let sql = format!("SELECT count(*) FROM processed_events WHERE consumer = '{consumer}'");
        stack.wait_count(&crm, &sql, 15, limit).await;
    }
    // Health-sync reads RC_EVENTS as the edge's own user.
    let from = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let summary: serde_json::Value = stack
        .http()
        .get(format!("{}/api/health-sync", stack.url(Service::Edge)))
        .query(&[("from", from)])
        .bearer_auth(HEALTH_SYNC_KEY)
        .send()
        .await
        .expect("edge answers")
        .json()
        .await
        .expect("a summary");
    let hours = summary["hours"].as_array().expect("hours");
    let counted: u64 = hours.iter().filter_map(|h| h["count"].as_u64()).sum();
    assert_eq!(counted, 15, "{summary}");
    let log = server.log();
    assert!(
        !log.contains("Violation"),
        "the pipeline needed a subject its users may not use:\n{log}"
    );
    assert_refusals(&stack, &certs, &server).await;
    for secret in ROLES {
        assert!(
            !stack.logs().contains(&password(secret)),
            "a password was logged"
        );
    }
    crm.close().await;
    stack.cleanup().await;
}

async fn assert_refusals(stack: &Stack, certs: &Certs, server: &SecureNats) {
    let names = stack.config.names();
    let admin = stack.nats().await;
    let crm_before = admin.js.get_stream(names.stream(CRM_EVENTS)).await.unwrap();
    let crm_before = crm_before.cached_info().state.messages;

    let (edge, mut edge_errors) = client_as(stack, certs, "edge").await;
    let forged = names.subject("crm.events.page_view");
    let js = jetstream::new(edge.clone());
    let ack = js.publish(forged.clone(), "{}".into()).await;
    let acked = match ack {
        Ok(fut) => tokio::time::timeout(Duration::from_secs(5), fut).await,
        Err(e) => Ok(Err(e)),
    };
    assert!(!matches!(acked, Ok(Ok(_))), "edge published to {forged}");
    assert_violation(&mut edge_errors, &forged).await;

    let (consumers, mut consumer_errors) = client_as(stack, certs, "consumers").await;
    let raw_stream = names.stream(RC_RAW);
    let delete = format!("$JS.API.STREAM.DELETE.{raw_stream}");
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        consumers.request(delete.clone(), "".into()),
    )
    .await;
    assert_violation(&mut consumer_errors, &delete).await;
    let raw = names.subject("rc.raw.page_view");
    consumers.publish(raw.clone(), "{}".into()).await.unwrap();
    consumers.flush().await.unwrap();
    assert_violation(&mut consumer_errors, &raw).await;

    // Nothing changed: the stream is there, CRM_EVENTS holds what it held.
    admin
        .js
        .get_stream(&raw_stream)
        .await
        .expect("RC_RAW survives");
    let crm_after = admin.js.get_stream(names.stream(CRM_EVENTS)).await.unwrap();
    assert_eq!(crm_after.cached_info().state.messages, crm_before);
    wait_for(
        "the server to log the violations",
        Duration::from_secs(10),
        || async { server.log().contains("Publish Violation").then_some(()) },
    )
    .await;
}
