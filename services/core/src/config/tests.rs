use super::*;
use std::io::Write;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_from(None, &env(pairs))
}

#[test]
fn defaults_match_the_design_table() {
    let c = load(&[]).unwrap();
    assert_eq!(c.nats.url, "nats://127.0.0.1:4222");
    assert_eq!(c.nats.prefix, "");
    assert_eq!(c.nats.replicas, 1);
    assert_eq!(
        c.rc.database_url,
        "postgres://postgres@127.0.0.1:5432/hookline_rc"
    );
    assert_eq!(
        c.crm.database_url,
        "postgres://postgres@127.0.0.1:5432/hookline_crm"
    );
    assert_eq!(c.edge.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.edge.rate_limit_per_second, 200);
    assert_eq!(c.edge.rate_limit_burst, 400);
    assert_eq!(c.dedupe.page_view_window, Duration::from_secs(86_400));
    assert_eq!(c.dedupe.form_window, Duration::from_secs(600));
    assert_eq!(c.webhook_out.listen.to_string(), "0.0.0.0:8081");
    assert!(c.webhook_out.admin_token.is_none());
    assert!(!c.webhook_out.allow_private_networks);
    let secs: Vec<u64> = c
        .webhook_out
        .retry_schedule
        .iter()
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(secs, [5, 30, 120, 600, 3600, 21600]);
    assert_eq!(c.ingest.listen.to_string(), "0.0.0.0:8082");
    assert!(c.ingest.secrets.is_empty());
    assert_eq!(c.ingest.sig_ttl_seconds, 300);
    assert_eq!(c.ops.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(c.log.format, LogFormat::Text);
}

#[test]
fn hookline_env_sets_nested_keys_and_lists() {
    let c = load(&[
        ("HOOKLINE__NATS__URL", "nats://10.0.0.1:4222"),
        ("HOOKLINE__NATS__PREFIX", "t1"),
        ("HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN", "tok"),
        ("HOOKLINE__WEBHOOK_OUT__ALLOW_PRIVATE_NETWORKS", "true"),
        ("HOOKLINE__WEBHOOK_OUT__RETRY_SCHEDULE", "1s,2s"),
        ("HOOKLINE__EDGE__TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1"),
        ("HOOKLINE__CONSUMERS__BACKOFF", "100ms,1s"),
        ("HOOKLINE__LOG__FORMAT", "json"),
    ])
    .unwrap();
    assert_eq!(c.nats.url, "nats://10.0.0.1:4222");
    assert_eq!(c.nats.prefix, "t1");
    assert_eq!(c.webhook_out.admin_token.as_deref(), Some("tok"));
    assert!(c.webhook_out.allow_private_networks);
    assert_eq!(
        c.webhook_out.retry_schedule,
        [Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert_eq!(c.edge.trusted_proxies, ["10.0.0.0/8", "192.168.1.1"]);
    assert_eq!(
        c.consumers.backoff,
        [Duration::from_millis(100), Duration::from_secs(1)]
    );
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn seed_aliases_are_honoured() {
    let c = load(&[
        (
            "CRM_WEBHOOK_URL",
            "http://crm.local/api/webhooks/resources-centre",
        ),
        ("CRM_WEBHOOK_KEY", "key"),
        ("CRM_SHARED_SECRET", "secret"),
        ("DEDUP_WINDOW_MINUTES", "1440"),
        ("PUBLIC_BASE_URL", "https://rc.example"),
        ("WEBHOOK_API_KEY", "key2"),
        ("WEBHOOK_SHARED_SECRET", "secret2"),
        ("SIG_TTL_SECONDS", "60"),
    ])
    .unwrap();
    assert_eq!(
        c.crm_webhook.url.as_deref(),
        Some("http://crm.local/api/webhooks/resources-centre")
    );
    assert_eq!(c.crm_webhook.api_key.as_deref(), Some("key"));
    assert_eq!(c.crm_webhook.secret.as_deref(), Some("secret"));
    assert_eq!(c.dedupe.page_view_window, Duration::from_secs(86_400));
    assert_eq!(c.edge.public_base_url, "https://rc.example");
    assert_eq!(c.ingest.api_key.as_deref(), Some("key2"));
    assert_eq!(c.ingest.secrets, ["secret2"]);
    assert_eq!(c.ingest.sig_ttl_seconds, 60);
}

#[test]
fn hookline_env_wins_over_seed_alias() {
    let c = load(&[
        ("SIG_TTL_SECONDS", "60"),
        ("HOOKLINE__INGEST__SIG_TTL_SECONDS", "90"),
    ])
    .unwrap();
    assert_eq!(c.ingest.sig_ttl_seconds, 90);
}

#[test]
fn file_sits_between_defaults_and_env() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[dedupe]\nform_window = \"5m\"\n[edge]\nrate_limit_per_second = 7\n[[crm.automation]]\nname = \"r\"\ntask = \"t\"\nevent_type = \"page_view\""
    )
    .unwrap();
    let c = Config::load_from(
        Some(f.path()),
        &env(&[("HOOKLINE__EDGE__RATE_LIMIT_PER_SECOND", "9")]),
    )
    .unwrap();
    assert_eq!(c.dedupe.form_window, Duration::from_secs(300));
    assert_eq!(c.edge.rate_limit_per_second, 9);
    assert_eq!(c.crm.automation.len(), 1);
}

fn error_of(pairs: &[(&str, &str)]) -> String {
    load(pairs).unwrap_err().to_string()
}

#[test]
fn bad_values_name_their_key_in_one_line() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("HOOKLINE__EDGE__RATE_LIMIT_PER_SECOND", "fast")],
            "rate_limit_per_second",
        ),
        (&[("HOOKLINE__DEDUPE__FORM_WINDOW", "soon")], "form_window"),
        (&[("HOOKLINE__NATS__PREFIX", "a.b")], "nats.prefix"),
        (&[("HOOKLINE__NATS__REPLICAS", "9")], "nats.replicas"),
        (
            &[("HOOKLINE__RC__DATABASE_URL", "mysql://x")],
            "rc.database_url",
        ),
        (&[("HOOKLINE__EDGE__LISTEN", "nowhere")], "listen"),
        (
            &[("HOOKLINE__EDGE__TRUSTED_PROXIES", "proxy.local")],
            "edge.trusted_proxies",
        ),
        (
            &[("DEDUP_WINDOW_MINUTES", "a day")],
            "dedupe.page_view_window",
        ),
        (&[("CRM_WEBHOOK_URL", "http://x/y")], "crm_webhook.secret"),
        (&[("HOOKLINE__EDGE__NO_SUCH_KEY", "1")], "no_such_key"),
    ];
    for (pairs, key) in cases {
        let msg = error_of(pairs);
        assert!(msg.contains(key), "{pairs:?}: {msg:?} should name {key}");
        assert!(!msg.contains('\n'), "{msg:?} should be one line");
    }
}

#[test]
fn redacted_hides_every_secret() {
    let c = load(&[
        ("CRM_SHARED_SECRET", "s3cret-1"),
        ("CRM_WEBHOOK_URL", "http://x/y"),
        ("CRM_WEBHOOK_KEY", "s3cret-2"),
        ("WEBHOOK_SHARED_SECRET", "s3cret-3"),
        ("WEBHOOK_API_KEY", "s3cret-4"),
        ("HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN", "s3cret-5"),
        ("HOOKLINE__EDGE__FINGERPRINT_SECRET", "s3cret-6"),
        ("HOOKLINE__RC__DATABASE_URL", "postgres://u:s3cret-7@h/db"),
    ])
    .unwrap();
    let text = c.redacted().to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("***"));
}

#[test]
fn nats_logins_and_tls_load_from_env_and_are_hidden() {
    let c = load(&[
        (
            "HOOKLINE__NATS__URL",
            "tls://u:n4ts-url@a:4222,tls://b:4222",
        ),
        ("HOOKLINE__NATS__USER", "edge"),
        ("HOOKLINE__NATS__PASSWORD", "n4ts-pass"),
        ("HOOKLINE__NATS__TLS__CA_FILE", "/etc/hookline/ca.pem"),
        ("HOOKLINE__NATS__TLS__REQUIRED", "true"),
    ])
    .unwrap();
    assert_eq!(c.nats.user.as_deref(), Some("edge"));
    assert_eq!(
        c.nats.tls.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/hookline/ca.pem"))
    );
    assert!(c.nats.tls.required);
    let text = c.redacted().to_string();
    assert!(!text.contains("n4ts"), "{text}");
    assert!(text.contains("tls://***@a:4222"), "{text}");
    let token = load(&[("HOOKLINE__NATS__TOKEN", "n4ts-token")]).unwrap();
    assert!(!token.redacted().to_string().contains("n4ts"));
    let err = load(&[("HOOKLINE__NATS__TLS__CERT_FILE", "/c.pem")]).unwrap_err();
    assert!(err.to_string().contains("`nats.tls.key_file`"), "{err}");
}

#[test]
fn public_listener_keys_default_and_are_checked() {
    let c = load(&[]).unwrap();
    for (timeout, http2) in [
        (c.edge.read_timeout, c.edge.http2),
        (c.ingest.read_timeout, c.ingest.http2),
    ] {
        assert_eq!(timeout, Duration::from_secs(15));
        assert!(!http2, "cleartext HTTP/2 is off unless configured");
    }
    assert!(c.edge.identity_secret.is_none());
    assert!(c.ingest.rate_limit_per_second > 0, "ingest is rate limited");

    let c = load(&[
        ("HOOKLINE__EDGE__READ_TIMEOUT", "2s"),
        ("HOOKLINE__INGEST__HTTP2", "true"),
        ("HOOKLINE__INGEST__TRUSTED_PROXIES", "10.0.0.0/8,::1"),
        ("HOOKLINE__EDGE__IDENTITY_SECRET", "sixteen-bytes-ok"),
    ])
    .unwrap();
    assert_eq!(c.edge.read_timeout, Duration::from_secs(2));
    assert!(c.ingest.http2);
    assert_eq!(c.ingest.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(c.redacted()["edge"]["identity_secret"], "***");

    for (var, value, key) in [
        ("HOOKLINE__EDGE__READ_TIMEOUT", "0s", "edge.read_timeout"),
        (
            "HOOKLINE__INGEST__READ_TIMEOUT",
            "0s",
            "ingest.read_timeout",
        ),
        (
            "HOOKLINE__EDGE__IDENTITY_SECRET",
            "short",
            "edge.identity_secret",
        ),
        (
            "HOOKLINE__INGEST__TRUSTED_PROXIES",
            "nope",
            "ingest.trusted_proxies",
        ),
    ] {
        match load(&[(var, value)]) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{var}={value}: {other:?}"),
        }
    }
}

#[test]
fn the_otlp_endpoint_is_optional_and_must_be_http() {
    assert_eq!(load(&[]).unwrap().telemetry.endpoint(), None);
    let empty = load(&[("HOOKLINE__TELEMETRY__OTLP_ENDPOINT", "")]).unwrap();
    assert_eq!(empty.telemetry.endpoint(), None, "empty means unset");
    let set = load(&[("HOOKLINE__TELEMETRY__OTLP_ENDPOINT", "http://otel:4318")]).unwrap();
    assert_eq!(set.telemetry.endpoint(), Some("http://otel:4318"));
    let err = error_of(&[("HOOKLINE__TELEMETRY__OTLP_ENDPOINT", "otel:4318")]);
    assert!(err.contains("telemetry.otlp_endpoint"), "{err}");
    let lag = load(&[("HOOKLINE__OPS__EXPORT_LAG", "true")]).unwrap();
    assert_eq!(lag.ops.export_lag, Some(true));
}
