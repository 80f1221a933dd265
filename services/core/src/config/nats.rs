//! `nats.*`: where the NATS server is, how hookline logs in, and how the
//! connection is encrypted. Kept apart from the other sections because it
//! carries credentials: its `Debug` hides them, and [`NatsConfig::check`]
//! rejects half-configured logins before any connection is tried.

use super::{ConfigError, serde_duration};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `nats.*`
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated for a cluster; `tls://` demands TLS.
    /// `nats://user:pass@host` and `nats://token@host` log in too.
    pub url: String,
    /// Namespaces every stream, subject, bucket and consumer.
    pub prefix: String,
    /// Stream replicas (1 locally, 3 in a cluster).
    pub replicas: usize,
    /// How long to keep trying to reach NATS at start-up, and then, again,
    /// how long to wait for JetStream to declare streams, buckets and
    /// durables (no meta leader yet, a cluster still placing replicas).
    #[serde(with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Window in which a repeated `Nats-Msg-Id` is dropped by a stream.
    #[serde(with = "serde_duration")]
    pub duplicate_window: Duration,
    /// How long RC_RAW and CRM_EVENTS keep messages.
    #[serde(with = "serde_duration")]
    pub max_age: Duration,
    /// How long RC_EVENTS keeps messages (the replay horizon).
    #[serde(with = "serde_duration")]
    pub replay_max_age: Duration,
    /// How long the dead-letter streams keep messages.
    #[serde(with = "serde_duration")]
    pub dlq_max_age: Duration,
    /// User name of a user/password login (with `password`).
    pub user: Option<String>,
    /// Password of a user/password login (a secret).
    pub password: Option<String>,
    /// Token login (a secret).
    pub token: Option<String>,
    /// File holding an nkey seed (`SU…`); its public key is the user.
    pub nkey_seed_file: Option<PathBuf>,
    /// Credentials file (user JWT and nkey seed) of an operator-mode server,
    /// e.g. one handed out by Synadia Cloud or `nsc`.
    pub creds_file: Option<PathBuf>,
    /// Subject prefix of this client's reply inboxes (`_INBOX` by default).
    /// Under per-role permissions each user may only receive replies on its
    /// own prefix, `_INBOX_<user>` in the config `hookline nats-config` prints.
    pub inbox_prefix: String,
    /// TLS to the server.
    pub tls: NatsTlsConfig,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: String::new(),
            replicas: 1,
            connect_timeout: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            replay_max_age: Duration::from_secs(14 * 24 * 3600),
            dlq_max_age: Duration::from_secs(30 * 24 * 3600),
            user: None,
            password: None,
            token: None,
            nkey_seed_file: None,
            creds_file: None,
            inbox_prefix: "_INBOX".into(),
            tls: NatsTlsConfig::default(),
        }
    }
}

/// `nats.tls.*`. TLS is used whenever the server asks for it or a URL is
/// `tls://`; these keys say whom to trust and who we are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsTlsConfig {
    /// PEM CA certificate(s) that signed the server's certificate; without
    /// it the system's trust store is used.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Refuse to talk to a server that does not offer TLS.
    pub required: bool,
}

impl fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("NatsConfig")
            .field("url", &crate::nats::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("replicas", &self.replicas)
            .field("connect_timeout", &self.connect_timeout)
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("token", &hidden(&self.token))
            .field("nkey_seed_file", &self.nkey_seed_file)
            .field("creds_file", &self.creds_file)
            .field("inbox_prefix", &self.inbox_prefix)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl NatsConfig {
    /// Rejects logins that cannot work: a user without a password (or the
    /// reverse), two login methods at once, a client certificate without
    /// its key.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        let set = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.is_empty());
        if set(&self.user) && !set(&self.password) {
            return Err(invalid("nats.password", "must be set when nats.user is"));
        }
        if set(&self.password) && !set(&self.user) {
            return Err(invalid("nats.user", "must be set when nats.password is"));
        }
        let methods = [
            ("nats.user", set(&self.user)),
            ("nats.token", set(&self.token)),
            ("nats.nkey_seed_file", self.nkey_seed_file.is_some()),
            ("nats.creds_file", self.creds_file.is_some()),
        ];
        let chosen: Vec<&str> = methods.iter().filter(|m| m.1).map(|m| m.0).collect();
        if let [_, second, ..] = chosen[..] {
            return Err(ConfigError::Invalid {
                key: second,
                message: format!(
                    "cannot be combined with {}: choose one NATS login",
                    chosen[0]
                ),
            });
        }
        let inbox_ok = !self.inbox_prefix.is_empty()
            && self
                .inbox_prefix
                .split('.')
                .all(|t| !t.is_empty() && !t.contains(['*', '>', ' ']));
        if !inbox_ok {
            return Err(invalid(
                "nats.inbox_prefix",
                "must be a subject without wildcards, e.g. _INBOX_edge",
            ));
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => Err(invalid(
                "nats.tls.key_file",
                "must be set when nats.tls.cert_file is",
            )),
            (None, Some(_)) => Err(invalid(
                "nats.tls.cert_file",
                "must be set when nats.tls.key_file is",
            )),
            _ => Ok(()),
        }
    }
}
