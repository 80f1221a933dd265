//! How hookline logs in to NATS and encrypts the connection, and which
//! connection failures are the operator's to fix.
//!
//! Everything on disk (nkey seed, creds file, TLS files) is read once,
//! before the first attempt, so a missing or malformed file is reported
//! against its key straight away. A connection attempt then ends in one of
//! three ways: connected; refused (bad login, untrusted certificate, TLS
//! mismatch), which no retry can fix, so start-up stops at once with a
//! [`ConfigError`] naming the key; or unreachable, which the caller retries
//! until `nats.connect_timeout`.
//!
//! Secrets never leave this module in text: server URLs are logged and put
//! in errors only through [`redact_url`].

use crate::config::{ConfigError, NatsConfig};
use async_nats::{ConnectError, ConnectErrorKind, ConnectOptions};
use std::path::Path;
use std::time::Duration;

/// What one attempt needs: the servers (without credentials) and the
/// client options, including the login.
#[derive(Clone)]
pub(crate) struct Plan {
    /// Server URLs with any userinfo removed (it moved into `options`).
    pub servers: Vec<String>,
    /// Login, TLS and client behaviour.
    pub options: ConnectOptions,
    /// The key to blame when the server refuses the login.
    login_key: Option<&'static str>,
}

impl Plan {
    /// Reads every file the config points at and builds the options.
    pub(crate) async fn new(config: &NatsConfig) -> Result<Self, ConfigError> {
        config.check()?;
        let parsed = split_servers(&config.url)?;
        let mut options = ConnectOptions::new()
            .name("hookline")
            .connection_timeout(Duration::from_secs(5))
            .custom_inbox_prefix(&config.inbox_prefix)
            .max_reconnects(None);
        let mut login_key = None;
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
            login_key = Some("nats.password");
        } else if let Some(token) = &config.token {
            options = options.token(token.clone());
            login_key = Some("nats.token");
        } else if let Some(path) = &config.nkey_seed_file {
            options = options.nkey(read_seed(path)?);
            login_key = Some("nats.nkey_seed_file");
        } else if let Some(path) = &config.creds_file {
            let creds = read_text(path, "nats.creds_file")?;
            options = options
                .credentials(&creds)
                .map_err(|e| ConfigError::Invalid {
                    key: "nats.creds_file",
                    message: format!("{} is not a NATS credentials file: {e}", path.display()),
                })?;
            login_key = Some("nats.creds_file");
        } else if let Some(login) = parsed.url_login {
            options = match login {
                UrlLogin::UserPassword(user, password) => options.user_and_password(user, password),
                UrlLogin::Token(token) => options.token(token),
            };
            login_key = Some("nats.url");
        }
        Ok(Self {
            servers: parsed.servers,
            options: with_tls(options, config)?,
            login_key,
        })
    }

    /// The fix an operator must make when `err` is a refusal, or `None`
    /// when the server may simply not be reachable yet.
    pub(crate) fn refusal(&self, err: &ConnectError, config: &NatsConfig) -> Option<ConfigError> {
        let text = crate::error_text(err);
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        match err.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                Some(match self.login_key {
                    Some(key) => invalid(key, format!("was refused by the NATS server ({text})")),
                    None => invalid(
                        "nats.user",
                        "is not set and the NATS server requires a login: set nats.user and \
                         nats.password, nats.token, nats.nkey_seed_file or nats.creds_file"
                            .into(),
                    ),
                })
            }
            ConnectErrorKind::Tls | ConnectErrorKind::Io => tls_refusal(&text, config),
            _ => None,
        }
    }
}

/// What a TLS failure says about the config, judged from rustls' and the
/// server's words (they reach us only as text through `io::Error`).
fn tls_refusal(text: &str, config: &NatsConfig) -> Option<ConfigError> {
    let has = |needle: &str| {
        text.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    };
    let invalid = |key: &'static str, message: String| Some(ConfigError::Invalid { key, message });
    if has("CertificateRequired") || has("certificate required") {
        return match config.tls.cert_file {
            Some(_) => invalid(
                "nats.tls.cert_file",
                format!("was refused by the server ({text})"),
            ),
            None => invalid(
                "nats.tls.cert_file",
                "is not set and the NATS server demands a client certificate (mutual TLS)".into(),
            ),
        };
    }
    if has("BadCertificate") || has("UnknownCA") || has("bad certificate") {
        return invalid(
            "nats.tls.cert_file",
            format!("is not accepted by the NATS server ({text})"),
        );
    }
    if has("NotValidForName") {
        return invalid(
            "nats.url",
            format!("names a host the server's certificate is not valid for ({text})"),
        );
    }
    if has("invalid peer certificate") || has("UnknownIssuer") {
        let message = match config.tls.ca_file {
            Some(_) => format!("did not sign the NATS server's certificate ({text})"),
            None => format!(
                "is not set and the system does not trust the NATS server's certificate ({text})"
            ),
        };
        return invalid("nats.tls.ca_file", message);
    }
    if has("tls required") || has("secure connection") {
        return invalid(
            "nats.tls.required",
            format!("does not match the server's TLS setting ({text})"),
        );
    }
    let wants_tls = config.tls.required || config.url.contains("tls://");
    if wants_tls && (has("InvalidMessage") || has("corrupt message") || has("tls")) {
        return invalid(
            "nats.tls.required",
            format!("asks for TLS, which the NATS server does not offer ({text})"),
        );
    }
    None
}

fn with_tls(
    mut options: ConnectOptions,
    config: &NatsConfig,
) -> Result<ConnectOptions, ConfigError> {
    let tls = &config.tls;
    if let Some(ca) = &tls.ca_file {
        require_pem(ca, "nats.tls.ca_file", "CERTIFICATE")?;
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        require_pem(cert, "nats.tls.cert_file", "CERTIFICATE")?;
        require_pem(key, "nats.tls.key_file", "PRIVATE KEY")?;
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if tls.required {
        options = options.require_tls(true);
    }
    Ok(options)
}

fn read_text(path: &Path, key: &'static str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key,
        message: format!("cannot read {}: {e}", path.display()),
    })
}

/// Checks a TLS file is readable PEM of the expected kind, so a wrong path
/// is blamed on its key instead of surfacing as a TLS error later.
fn require_pem(path: &Path, key: &'static str, label: &str) -> Result<(), ConfigError> {
    let text = read_text(path, key)?;
    if text.contains("-----BEGIN") && text.contains(label) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("{} holds no PEM {label}", path.display()),
        })
    }
}

/// The seed from an nkey seed file: the first line that looks like a user
/// seed, so files written by `nk -gen user` (one line) and annotated files
/// both work.
fn read_seed(path: &Path) -> Result<String, ConfigError> {
    let text = read_text(path, "nats.nkey_seed_file")?;
    let seed = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("SU"))
        .ok_or_else(|| ConfigError::Invalid {
            key: "nats.nkey_seed_file",
            message: format!("{} holds no user nkey seed (SU…)", path.display()),
        })?;
    nkeys::KeyPair::from_seed(seed).map_err(|e| ConfigError::Invalid {
        key: "nats.nkey_seed_file",
        message: format!("{} holds an invalid nkey seed: {e}", path.display()),
    })?;
    Ok(seed.to_string())
}

/// A login written into a server URL.
#[derive(Debug, PartialEq)]
enum UrlLogin {
    /// `nats://user:password@host`
    UserPassword(String, String),
    /// `nats://token@host`, the NATS convention for a bare token.
    Token(String),
}

/// The server list with userinfo moved out.
#[derive(Debug)]
struct Servers {
    servers: Vec<String>,
    /// The first login found in a URL (a client has one login; every URL of
    /// a cluster list carries the same one).
    url_login: Option<UrlLogin>,
}

/// `nats.url` may list several servers, comma-separated (a cluster's seeds):
/// async-nats takes them as a list, and a client that starts while one node
/// is down still connects to another. async-nats ignores URL credentials,
/// so they are taken out here and given to it as a login.
fn split_servers(urls: &str) -> Result<Servers, ConfigError> {
    let mut out = Servers {
        servers: Vec::new(),
        url_login: None,
    };
    for raw in urls.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let with_scheme = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("nats://{raw}")
        };
        let mut url = url::Url::parse(&with_scheme).map_err(|e| ConfigError::Invalid {
            key: "nats.url",
            message: format!("holds {:?}, which is not a URL: {e}", redact_url(raw)),
        })?;
        let user = decode(url.username());
        let password = url.password().map(decode);
        if !user.is_empty() && out.url_login.is_none() {
            out.url_login = Some(match password {
                Some(p) => UrlLogin::UserPassword(user, p),
                None => UrlLogin::Token(user),
            });
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        out.servers
            .push(url.to_string().trim_end_matches('/').to_string());
    }
    if out.servers.is_empty() {
        return Err(ConfigError::Invalid {
            key: "nats.url",
            message: "lists no server".into(),
        });
    }
    Ok(out)
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `nats.url` with the userinfo of every listed server replaced by `***`,
/// for logs and errors.
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(|raw| {
            let trimmed = raw.trim();
            match trimmed.rsplit_once('@') {
                Some((before, host)) => match before.split_once("://") {
                    Some((scheme, _)) => format!("{scheme}://***@{host}"),
                    None => format!("***@{host}"),
                },
                None => trimmed.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
