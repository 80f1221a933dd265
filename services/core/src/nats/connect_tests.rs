use super::*;

#[test]
fn a_cluster_url_list_is_split() {
    let s = split_servers("nats://a:4222, nats://b:4222,,tls://c:4222").unwrap();
    assert_eq!(
        s.servers,
        ["nats://a:4222", "nats://b:4222", "tls://c:4222"]
    );
    assert_eq!(s.url_login, None);
    let s = split_servers("127.0.0.1:4222").unwrap();
    assert_eq!(s.servers, ["nats://127.0.0.1:4222"]);
}

#[test]
fn url_credentials_become_the_login_and_leave_the_server_list() {
    let s = split_servers("nats://hook%40line:p%3Ass@a:4222,nats://hook:x@b:4222").unwrap();
    assert_eq!(s.servers, ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(
        s.url_login,
        Some(UrlLogin::UserPassword("hook@line".into(), "p:ss".into()))
    );
    let s = split_servers("tls://s3cr3t-token@a:4222").unwrap();
    assert_eq!(s.servers, ["tls://a:4222"]);
    assert_eq!(s.url_login, Some(UrlLogin::Token("s3cr3t-token".into())));
}

#[test]
fn redaction_hides_every_userinfo_of_a_list() {
    let r = redact_url("nats://u:secret1@a:4222, tls://token2@b:4222,nats://c:4222,u:secret3@d:1");
    assert_eq!(
        r,
        "nats://***@a:4222,tls://***@b:4222,nats://c:4222,***@d:1"
    );
    for secret in ["secret1", "token2", "secret3"] {
        assert!(!r.contains(secret), "{r}");
    }
}

#[test]
fn an_empty_list_names_the_key() {
    let err = split_servers(" , ").unwrap_err().to_string();
    assert!(err.contains("`nats.url`"), "{err}");
}

/// Points one file key of a config somewhere.
type Setter<'a> = Box<dyn Fn(&mut NatsConfig) + 'a>;

#[tokio::test]
async fn unreadable_or_wrong_files_are_blamed_on_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not pem, not a seed\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases: Vec<(&str, Setter)> = vec![
        (
            "nats.nkey_seed_file",
            Box::new(|c| c.nkey_seed_file = Some(junk.clone())),
        ),
        (
            "nats.creds_file",
            Box::new(|c| c.creds_file = Some(missing.clone())),
        ),
        (
            "nats.creds_file",
            Box::new(|c| c.creds_file = Some(junk.clone())),
        ),
        (
            "nats.tls.ca_file",
            Box::new(|c| c.tls.ca_file = Some(junk.clone())),
        ),
        (
            "nats.tls.ca_file",
            Box::new(|c| c.tls.ca_file = Some(missing.clone())),
        ),
        (
            "nats.tls.key_file",
            Box::new(|c| c.tls.cert_file = Some(missing.clone())),
        ),
    ];
    for (key, set) in cases {
        let mut config = NatsConfig::default();
        set(&mut config);
        let err = Plan::new(&config).await.err().expect("refused");
        match err {
            ConfigError::Invalid { key: got, .. } => assert_eq!(got, key, "{err}"),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn half_logins_and_two_logins_are_refused() {
    let mut c = NatsConfig {
        user: Some("edge".into()),
        ..Default::default()
    };
    assert!(
        c.check()
            .unwrap_err()
            .to_string()
            .contains("`nats.password`")
    );
    c.password = Some("pw".into());
    c.check().unwrap();
    c.token = Some("tok".into());
    assert!(c.check().unwrap_err().to_string().contains("`nats.token`"));
}

#[test]
fn debug_output_hides_secrets() {
    let c = NatsConfig {
        url: "nats://u:urlsecret@a:4222".into(),
        user: Some("edge".into()),
        password: Some("pwsecret".into()),
        token: Some("toksecret".into()),
        ..Default::default()
    };
    let text = format!("{c:?}");
    for secret in ["urlsecret", "pwsecret", "toksecret"] {
        assert!(!text.contains(secret), "{text}");
    }
}
