//! Postgres over TLS: `sslmode=require` in a database URL gives an encrypted
//! session (the local server has SSL on), and a TLS setting that cannot work
//! stops `hookline migrate` at once with exit 2 naming the URL's key.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test pg_tls`.

use hookline_core::db;
use hookline_core::testing;
use hookline_e2e::hookline_bin;
use hookline_e2e::secure_nats::Certs;
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_the_session() {
    let config = testing::isolated_config();
    let url = format!("{}?sslmode=require", config.crm.database_url);
    let pool = db::connect(&url, crm_consumers::schema::SCHEMA, 2)
        .await
        .expect("TLS to the local Postgres");
    assert_encrypted_then_clean_up(pool, &config).await;
}

/// Checks that the pool's session runs over TLS, then drops the test's
/// databases.
async fn assert_encrypted_then_clean_up(pool: sqlx::PgPool, config: &hookline_core::Config) {
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(ssl, "the session is not encrypted");
    pool.close().await;
    testing::cleanup(config).await;
}

/// The certificate Debian's Postgres serves (its own CA, trusted here).
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_checks_the_certificate_and_host() {
    assert!(
        std::path::Path::new(SNAKEOIL).exists(),
        "{SNAKEOIL} missing: the local Postgres must serve Debian's certificate"
    );
    let config = testing::isolated_config();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={SNAKEOIL}",
        config.rc.database_url.replace("127.0.0.1", "localhost")
    );
    let pool = db::connect(&url, webhook_out::store::SCHEMA, 1)
        .await
        .expect("verified TLS to the local Postgres as localhost");
    assert_encrypted_then_clean_up(pool, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_settings_that_cannot_work_exit_2_naming_the_key() {
    let certs = Certs::generate();
    let config = testing::isolated_config();
    let base = config.crm.database_url.clone();
    let missing = certs.path("missing.pem");
    let cases = [
        // The local server's certificate names `localhost`, not the address.
        format!("{base}?sslmode=verify-full&sslrootcert={SNAKEOIL}"),
        format!("{base}?sslmode=verify-ca&sslrootcert={}", missing.display()),
        format!("{base}?sslmode=sometimes"),
    ];
    for url in cases {
        let started = Instant::now();
        let out = Command::new(hookline_bin())
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOOKLINE__RC__DATABASE_URL", &config.rc.database_url)
            .env("HOOKLINE__CRM__DATABASE_URL", &url)
            .output()
            .expect("hookline runs");
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{url} after {took:?}: {stderr}");
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert!(took < Duration::from_secs(20), "{what}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("hookline: "))
            .collect();
        assert_eq!(lines.len(), 1, "{what}");
        assert!(lines[0].contains("`crm.database_url`"), "{what}");
    }
    testing::cleanup(&config).await;
}
