//! Joining a secured NATS: every login nats-server offers and TLS work, and
//! every refusal stops the real binary within seconds with exit 2 and one
//! line naming the `nats.*` key to fix, while an unreachable server is
//! retried until `nats.connect_timeout`. Servers are started per test from
//! config files written here, with certificates and nkeys minted at test time.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test nats_auth`.

use futures::StreamExt;
use hookline_core::config::NatsConfig;
use hookline_core::nats::Nats;
use hookline_e2e::operator::{Operator, creds};
use hookline_e2e::secure_nats::{Certs, SecureNats};
use hookline_e2e::{free_port, hookline_bin};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "alice-pw-NEVER-LOGGED";
const TOKEN: &str = "token-NEVER-LOGGED";
/// A refusal must stop the service this fast (a loaded machine included).
const REFUSAL_LIMIT: Duration = Duration::from_secs(10);

fn nats_config(url: String) -> NatsConfig {
    NatsConfig {
        url,
        connect_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

/// Connects in-process and proves the login with a round trip.
async fn assert_connects(config: &NatsConfig, what: &str) {
    let nats = Nats::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut sub = nats
        .client
        .subscribe("auth.check")
        .await
        .expect("subscribe");
    nats.client
        .publish("auth.check", what.to_string().into())
        .await
        .expect("publish");
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no round trip"))
        .expect("message");
    assert_eq!(msg.payload, what.as_bytes());
}

/// A server with a user/password user and an nkey user; returns it and the
/// nkey user's seed.
async fn users_server() -> (SecureNats, String) {
    let key = nkeys::KeyPair::new_user();
    let body = format!(
        "authorization {{\n  users = [\n    {{ user: alice, password: {PASSWORD:?} }}\n    \
         {{ nkey: {} }}\n  ]\n}}\n",
        key.public_key()
    );
    (
        SecureNats::start(&body, false).await,
        key.seed().expect("seed"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_and_tls_setting_connects() {
    let (users, seed) = users_server().await;
    let mut c = nats_config(users.url("nats"));
    c.user = Some("alice".into());
    c.password = Some(PASSWORD.into());
    assert_connects(&c, "user and password").await;

    let c = nats_config(format!(
        "nats://alice:{PASSWORD}@127.0.0.1:{}",
        users.port()
    ));
    assert_connects(&c, "user and password in the URL").await;

    let mut c = nats_config(users.url("nats"));
    c.nkey_seed_file = Some(users.write_file("user.nk", &format!("{seed}\n")));
    assert_connects(&c, "nkey seed file").await;

    let token = SecureNats::start(&format!("authorization {{ token: {TOKEN:?} }}"), false).await;
    let mut c = nats_config(token.url("nats"));
    c.token = Some(TOKEN.into());
    assert_connects(&c, "token").await;
    let c = nats_config(format!("nats://{TOKEN}@127.0.0.1:{}", token.port()));
    assert_connects(&c, "token in the URL").await;

    let certs = Certs::generate();
    let tls = SecureNats::start(&certs.server_tls_block(false), false).await;
    // A cluster seed list whose first node is down: the client moves on.
    let dead = free_port();
    let mut c = nats_config(format!("tls://127.0.0.1:{dead}, {}", tls.url("tls")));
    c.tls.ca_file = Some(certs.path("ca.pem"));
    assert_connects(&c, "tls:// in a cluster list").await;
    let mut c = nats_config(tls.url("nats"));
    c.tls.ca_file = Some(certs.path("ca.pem"));
    c.tls.required = true;
    assert_connects(&c, "nats:// with nats.tls.required").await;

    let mtls = SecureNats::start(&certs.server_tls_block(true), false).await;
    let mut c = nats_config(mtls.url("tls"));
    c.tls.ca_file = Some(certs.path("ca.pem"));
    c.tls.cert_file = Some(certs.path("client.pem"));
    c.tls.key_file = Some(certs.path("client-key.pem"));
    assert_connects(&c, "mutual TLS").await;

    // Operator mode: a user JWT signed by an account the server trusts.
    let operator = Operator::new();
    let jwt = SecureNats::start(&operator.server_config(), false).await;
    let mut c = nats_config(jwt.url("nats"));
    c.creds_file = Some(jwt.write_file("user.creds", &operator.user_creds()));
    assert_connects(&c, "creds file").await;
}

/// Runs `hookline dedupe` with `env`; returns its exit code, stderr and how
/// long it ran (killed after `limit`, then the code is `None`).
fn run_service(env: &[(&str, String)], limit: Duration) -> (Option<i32>, String, Duration) {
    let ops = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(hookline_bin())
        .arg("dedupe")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOKLINE__NATS__PREFIX", "authtest")
        .env("HOOKLINE__OPS__LISTEN", ops)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookline starts");
    let started = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let out = child.wait_with_output().expect("output");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (code, text, took)
}

fn path(p: PathBuf) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_2_within_seconds_naming_the_key() {
    let (users, _seed) = users_server().await;
    let token = SecureNats::start(&format!("authorization {{ token: {TOKEN:?} }}"), false).await;
    let certs = Certs::generate();
    let tls = SecureNats::start(&certs.server_tls_block(false), false).await;
    let mtls = SecureNats::start(&certs.server_tls_block(true), false).await;
    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    let stranger_file = path(users.write_file("stranger.nk", &stranger));
    let operator = Operator::new();
    let jwt = SecureNats::start(&operator.server_config(), false).await;
    let foreign = creds(&nkeys::KeyPair::new_account());
    let foreign_file = path(jwt.write_file("foreign.creds", &foreign));
    let wrong = "wrong-pw-NEVER-LOGGED";
    let url = "HOOKLINE__NATS__URL";
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "nats.password",
            vec![
                (url, users.url("nats")),
                ("HOOKLINE__NATS__USER", "alice".into()),
                ("HOOKLINE__NATS__PASSWORD", wrong.into()),
            ],
        ),
        ("nats.user", vec![(url, users.url("nats"))]),
        (
            "nats.url",
            vec![(
                url,
                format!("nats://alice:{wrong}@127.0.0.1:{}", users.port()),
            )],
        ),
        (
            "nats.nkey_seed_file",
            vec![
                (url, users.url("nats")),
                ("HOOKLINE__NATS__NKEY_SEED_FILE", stranger_file),
            ],
        ),
        (
            "nats.token",
            vec![
                (url, token.url("nats")),
                ("HOOKLINE__NATS__TOKEN", wrong.into()),
            ],
        ),
        (
            "nats.creds_file",
            vec![
                (url, jwt.url("nats")),
                ("HOOKLINE__NATS__CREDS_FILE", foreign_file),
            ],
        ),
        (
            "nats.tls.required",
            vec![
                (url, token.url("nats")),
                ("HOOKLINE__NATS__TOKEN", TOKEN.into()),
                ("HOOKLINE__NATS__TLS__REQUIRED", "true".into()),
            ],
        ),
        ("nats.tls.ca_file", vec![(url, tls.url("tls"))]),
        (
            "nats.tls.ca_file",
            vec![
                (url, tls.url("nats")),
                (
                    "HOOKLINE__NATS__TLS__CA_FILE",
                    path(certs.path("other-ca.pem")),
                ),
            ],
        ),
        (
            "nats.tls.cert_file",
            vec![
                (url, mtls.url("tls")),
                ("HOOKLINE__NATS__TLS__CA_FILE", path(certs.path("ca.pem"))),
            ],
        ),
    ];
    for (key, env) in cases {
        let (code, out, took) = run_service(&env, REFUSAL_LIMIT + Duration::from_secs(5));
        let what = format!("{key} ({env:?}) after {took:?}:\n{out}");
        assert_eq!(code, Some(2), "{what}");
        assert!(took < REFUSAL_LIMIT, "{what}");
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("hookline: "))
            .collect();
        assert_eq!(lines.len(), 1, "{what}");
        assert!(lines[0].contains(&format!("`{key}`")), "{what}");
        let foreign_seed = foreign.lines().find(|l| l.starts_with("SU")).expect("seed");
        for secret in [PASSWORD, TOKEN, wrong, stranger.as_str(), foreign_seed] {
            assert!(!out.contains(secret), "a secret was printed: {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_retried_until_connect_timeout() {
    let url = format!("nats://u:pw-NEVER-LOGGED@127.0.0.1:{}", free_port());
    let env = [
        ("HOOKLINE__NATS__URL", url),
        ("HOOKLINE__NATS__CONNECT_TIMEOUT", "4s".to_string()),
    ];
    let (code, out, took) = run_service(&env, Duration::from_secs(60));
    let what = format!("after {took:?}:\n{out}");
    assert!(took >= Duration::from_secs(4), "gave up early: {what}");
    assert!(
        code.is_some() && code != Some(0) && code != Some(2),
        "{what}"
    );
    assert!(out.contains("NATS not reachable yet, retrying"), "{what}");
    assert!(out.contains("unreachable"), "{what}");
    assert!(!out.contains("pw-NEVER-LOGGED"), "{what}");
}
