//! Fail closed, across real processes: a service whose secret is missing,
//! empty or shorter than 16 bytes exits 2 at start-up with one line naming
//! the key, and never starts with a fallback. The environment is the one
//! every other end-to-end test starts the services with, minus one secret,
//! so each case fails only because of that secret.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test fail_closed`.

use hookline_e2e::{Service, Stack, hookline_bin};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for a process that should stop at once (a loaded machine).
const EXIT_LIMIT: Duration = Duration::from_secs(60);

/// Runs `hookline <args>` with `env` and returns (exit code, stderr).
fn run(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(hookline_bin())
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("hookline starts");
    let deadline = Instant::now() + EXIT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hookline {args:?} still running after {EXIT_LIMIT:?}: it started without the secret"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.code(), stderr)
}

/// `env` with `name` removed, and set to `value` when given.
fn with(env: &[(String, String)], name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != name).cloned().collect();
    if let Some(v) = value {
        env.push((name.to_string(), v.to_string()));
    }
    env
}

/// Asserts that `args` refuses to start with exit 2 and one line naming `key`
/// when `variable` is missing, empty, blank and 15 bytes long.
#[track_caller]
fn refuses_without(args: &[&str], env: &[(String, String)], variable: &str, key: &str) {
    for value in [None, Some(""), Some("   "), Some("fifteen-bytes!!")] {
        let (code, stderr) = run(args, &with(env, variable, value));
        assert_eq!(
            code,
            Some(2),
            "{args:?} with {variable}={value:?}: expected exit 2, stderr:\n{stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(key)).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?} with {variable}={value:?}: one line naming `{key}`, stderr:\n{stderr}"
        );
        assert!(
            !stderr.contains("fifteen-bytes"),
            "the refused value is echoed: {stderr}"
        );
    }
}

#[test]
fn edge_refuses_to_start_without_its_fingerprint_secret() {
    let env = Stack::new().env(Service::Edge);
    refuses_without(
        &["edge"],
        &env,
        "HOOKLINE__EDGE__FINGERPRINT_SECRET",
        "edge.fingerprint_secret",
    );
}

#[test]
fn webhook_out_refuses_to_start_without_its_secrets() {
    let env = Stack::new().env(Service::WebhookOut);
    let args = ["webhook-out"];
    refuses_without(
        &args,
        &env,
        "HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN",
        "webhook_out.admin_token",
    );
    refuses_without(&args, &env, "CRM_SHARED_SECRET", "crm_webhook.secret");
    // No encryption key at all, or one that is not 32 bytes of base64.
    for value in [None, Some("c2hvcnQta2V5")] {
        let (code, stderr) = run(
            &args,
            &with(&env, "HOOKLINE__WEBHOOK_OUT__ENCRYPTION_KEYS", value),
        );
        assert_eq!(code, Some(2), "{value:?}: {stderr}");
        assert!(
            stderr.contains("webhook_out.encryption_keys"),
            "{value:?}: {stderr}"
        );
    }
}

#[test]
fn ingest_refuses_to_start_without_its_secrets() {
    let env = Stack::new().env(Service::Ingest);
    let args = ["ingest"];
    refuses_without(&args, &env, "WEBHOOK_SHARED_SECRET", "ingest.secrets");
    // The stack's shared secret is a plain (rc-legacy) one, so the API key
    // legacy bodies carry is required too.
    refuses_without(&args, &env, "WEBHOOK_API_KEY", "ingest.api_key");
}

#[test]
fn all_in_one_refuses_to_start_without_a_services_secret() {
    let mut env = Stack::new().env(Service::Edge);
    for listener in ["EDGE", "WEBHOOK_OUT", "INGEST", "OPS"] {
        env = with(
            &env,
            &format!("HOOKLINE__{listener}__LISTEN"),
            Some("127.0.0.1:0"),
        );
    }
    refuses_without(
        &["all"],
        &env,
        "HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN",
        "webhook_out.admin_token",
    );
    refuses_without(
        &["all"],
        &env,
        "HOOKLINE__EDGE__FINGERPRINT_SECRET",
        "edge.fingerprint_secret",
    );
}

#[test]
fn hubspot_sync_refuses_a_short_or_missing_token() {
    let env = Stack::new().env(Service::Consumer("event-store"));
    let variable = "HOOKLINE__HUBSPOT__ACCESS_TOKEN";
    // Asked for by name: missing, empty, blank and short are all refused.
    refuses_without(
        &["consume", "hubspot-sync"],
        &env,
        variable,
        "hubspot.access_token",
    );
    // With every consumer, an unset token only leaves hubspot-sync out, but
    // a short one is still refused.
    let (code, stderr) = run(&["consume"], &with(&env, variable, Some("fifteen-bytes!!")));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("hubspot.access_token"), "{stderr}");
    assert!(!stderr.contains("fifteen-bytes"), "{stderr}");
}

#[test]
fn health_sync_key_is_never_short_and_reconcile_needs_its_key() {
    // Unset, health-sync is off (404) and the edge starts; set, it must be
    // a real secret.
    let env = Stack::new().env(Service::Edge);
    let variable = "HOOKLINE__EDGE__HEALTH_SYNC_API_KEY";
    for value in ["", "   ", "fifteen-bytes!!"] {
        let (code, stderr) = run(&["edge"], &with(&env, variable, Some(value)));
        assert_eq!(code, Some(2), "{value:?}: {stderr}");
        let naming = stderr
            .lines()
            .filter(|l| l.contains("edge.health_sync_api_key"));
        assert_eq!(naming.count(), 1, "{value:?}: {stderr}");
        assert!(!stderr.contains("fifteen-bytes"), "{stderr}");
    }
    let env = with(
        &Stack::new().env(Service::Consumer("event-store")),
        "HOOKLINE__RECONCILE__RC_URL",
        Some("http://127.0.0.1:9"),
    );
    let args = ["reconcile", "--since", "1h"];
    refuses_without(
        &args,
        &env,
        "HOOKLINE__RECONCILE__API_KEY",
        "reconcile.api_key",
    );
    let env = with(
        &env,
        "HOOKLINE__RECONCILE__API_KEY",
        Some("a-long-health-sync-key"),
    );
    refuses_without(
        &args,
        &env,
        "HOOKLINE__RECONCILE__RC_URL",
        "reconcile.rc_url",
    );
}
