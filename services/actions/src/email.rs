//! `thank_you_email`: one email per task over SMTP.
//!
//! The `Message-ID` is derived from the task id, so every attempt at one
//! task carries the same id. That matters in the one window no SMTP client
//! can close: the server accepted the message (`250` after `DATA`) and the
//! worker died before it recorded `sent`. The lease then runs out, another
//! worker claims the task and sends it again. The recipient's server and
//! mail client see the same `Message-ID` twice, and most of them drop or
//! thread the copy. Everywhere else a task is sent at most once: a worker
//! killed before the `250` leaves a message the server discards, and the
//! claim (`FOR UPDATE SKIP LOCKED` plus a lease longer than any SMTP
//! conversation) keeps two live workers off the same task.

use crate::Failure;
use crate::template::render;
use hookline_core::config::{ActionsConfig, ConfigError, EmailTemplate};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use std::collections::BTreeMap;

/// The SMTP side of the worker.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    templates: BTreeMap<String, EmailTemplate>,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// `%xx` escapes of a URL's user or password, decoded.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Mailer {
    /// The mailer of `config`, or `None` when `actions.smtp_url` is unset.
    /// Nothing connects yet: each task opens its own SMTP session.
    pub fn new(config: &ActionsConfig) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = &config.smtp_url else {
            return Ok(None);
        };
        let url =
            url::Url::parse(raw).map_err(|_| invalid("actions.smtp_url", "is not a valid URL"))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let tls_error = |e: lettre::transport::smtp::Error| {
            invalid("actions.smtp_url", format!("TLS set-up failed: {e}"))
        };
        type Smtp = AsyncSmtpTransport<Tokio1Executor>;
        let mut builder = match url.scheme() {
            "smtp" => Smtp::builder_dangerous(host).port(url.port().unwrap_or(25)),
            "smtps" => Smtp::relay(&host)
                .map_err(tls_error)?
                .port(url.port().unwrap_or(465)),
            "smtp+starttls" => Smtp::starttls_relay(&host)
                .map_err(tls_error)?
                .port(url.port().unwrap_or(587)),
            _ => {
                return Err(invalid(
                    "actions.smtp_url",
                    "must start with smtp://, smtps:// or smtp+starttls://",
                ));
            }
        };
        if !url.username().is_empty() {
            builder = builder.credentials(Credentials::new(
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            ));
        }
        let transport = builder.timeout(Some(config.send_timeout)).build();
        let from: Mailbox = config
            .from
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| invalid("actions.from", format!("is not an email address: {e}")))?;
        let domain = from.email.domain().to_string();
        Ok(Some(Self {
            transport,
            from,
            domain,
            templates: config.templates.clone(),
        }))
    }

    /// The `Message-ID` of task `id` (the same for every attempt).
    pub fn message_id(&self, id: i64) -> String {
        format!("<hookline-task-{id}@{}>", self.domain)
    }

    /// Sends task `id`'s email, built from `rule`'s template (or `default`)
    /// and `vars`, to `vars.email`.
    pub async fn send(&self, id: i64, rule: &str, vars: &Value) -> Result<(), Failure> {
        let template = self
            .templates
            .get(rule)
            .or_else(|| self.templates.get("default"))
            .ok_or_else(|| {
                Failure::permanent(format!(
                    "no email template for rule {rule:?} and no default"
                ))
            })?;
        let to_raw = vars.get("email").and_then(Value::as_str).unwrap_or("");
        if to_raw.trim().is_empty() {
            return Err(Failure::permanent("the contact has no email address"));
        }
        let to: Mailbox = to_raw
            .trim()
            .parse()
            .map_err(|_| Failure::permanent("the contact's email address is not valid"))?;
        let message = Message::builder()
            .message_id(Some(self.message_id(id)))
            .from(self.from.clone())
            .to(to)
            .subject(render(&template.subject, vars, false))
            .multipart(MultiPart::alternative_plain_html(
                render(&template.text, vars, false),
                render(&template.html, vars, true),
            ))
            .map_err(|e| Failure::permanent(format!("cannot build the email: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server will refuse this message every time.
            Err(e) if e.is_permanent() => Err(Failure::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(Failure::retry(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ActionsConfig {
        ActionsConfig {
            smtp_url: Some(url.into()),
            from: Some("Resources Centre <hello@example.org>".into()),
            ..ActionsConfig::default()
        }
    }

    #[test]
    fn each_scheme_builds_and_the_message_id_names_the_task() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtps://user:p%40ss@mail.example.org",
            "smtp+starttls://user:pw@mail.example.org:587",
        ] {
            let mailer = Mailer::new(&config(url)).unwrap().expect("configured");
            assert_eq!(mailer.message_id(42), "<hookline-task-42@example.org>");
        }
        assert!(Mailer::new(&ActionsConfig::default()).unwrap().is_none());
    }

    #[test]
    fn a_bad_sender_names_the_key() {
        let mut c = config("smtp://127.0.0.1:2525");
        c.from = Some("not an address".into());
        let err = Mailer::new(&c).err().expect("refused").to_string();
        assert!(err.contains("actions.from"), "{err}");
    }

    #[test]
    fn credentials_are_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%2Fw"), "p@ss/w");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
