//! `actions.*`: the worker that performs automation tasks (thank-you emails
//! over SMTP, SDR hand-offs as signed webhooks).

use super::validate::invalid;
use super::{ConfigError, serde_duration, serde_durations};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `actions.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionsConfig {
    /// SMTP server of `thank_you_email` tasks: `smtp://` (plain),
    /// `smtps://` (TLS from the first byte) or `smtp+starttls://`, with
    /// optional `user:password@` (never logged). Unset: those tasks stay
    /// `pending`.
    pub smtp_url: Option<String>,
    /// Sender of the emails, e.g. `Resources Centre <hello@example.org>`.
    pub from: Option<String>,
    /// Receiver of `sdr_task` hand-offs (Standard Webhooks signed POST).
    /// Unset: those tasks stay `pending`.
    pub sdr_webhook_url: Option<String>,
    /// `whsec_<base64 key>` signing the SDR webhook (at least 16 bytes).
    pub sdr_webhook_secret: Option<String>,
    /// Send the SDR hand-off as a Slack-compatible body (`text` + `blocks`)
    /// instead of the plain JSON task.
    pub sdr_slack: bool,
    /// Attempts (claims) before a task is `failed`.
    pub max_attempts: i32,
    /// Delay before attempt n+1 after a retryable failure of attempt n (the
    /// last entry repeats), with up to 20 % jitter.
    #[serde(with = "serde_durations")]
    pub backoff: Vec<Duration>,
    /// How long a claim holds a task. Must exceed `send_timeout` twice
    /// over, so a live worker always finishes (or gives up) before another
    /// may take the task.
    #[serde(with = "serde_duration")]
    pub lease: Duration,
    /// Longest SMTP conversation or webhook request.
    #[serde(with = "serde_duration")]
    pub send_timeout: Duration,
    /// How often an idle worker looks for due tasks.
    #[serde(with = "serde_duration")]
    pub poll_interval: Duration,
    /// Tasks claimed at once (sent concurrently).
    pub batch_size: i64,
    /// Email templates by automation rule name; `default` serves rules
    /// without their own.
    pub templates: BTreeMap<String, EmailTemplate>,
}

/// One email: `{{name}}` is replaced by the task's field of that name
/// (`first_name`, `email`, `title`, `fields.company`, …; unknown names by
/// nothing). Values are HTML-escaped in `html`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplate {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        let default_template = EmailTemplate {
            subject: "Thank you, {{first_name}}".into(),
            text: "Hello {{first_name}},\n\nthank you for your submission. \
                   We will be in touch soon.\n"
                .into(),
            html: "<p>Hello {{first_name}},</p>\
                   <p>thank you for your submission. We will be in touch soon.</p>"
                .into(),
        };
        Self {
            smtp_url: None,
            from: None,
            sdr_webhook_url: None,
            sdr_webhook_secret: None,
            sdr_slack: false,
            max_attempts: 5,
            backoff: [30, 120, 600, 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            lease: Duration::from_secs(300),
            send_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(2),
            batch_size: 10,
            templates: [("default".to_string(), default_template)].into(),
        }
    }
}

impl ActionsConfig {
    /// Checks values that parse but cannot work (URLs, secret, timings).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(raw) = &self.smtp_url {
            let url = url::Url::parse(raw)
                .map_err(|_| invalid("actions.smtp_url", "is not a valid URL"))?;
            if !matches!(url.scheme(), "smtp" | "smtps" | "smtp+starttls") {
                return Err(invalid(
                    "actions.smtp_url",
                    "must start with smtp://, smtps:// or smtp+starttls://",
                ));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid("actions.smtp_url", "needs a host"));
            }
            if self.from.as_deref().is_none_or(|f| f.trim().is_empty()) {
                return Err(invalid(
                    "actions.from",
                    "must be set when actions.smtp_url is",
                ));
            }
        }
        if let Some(raw) = &self.sdr_webhook_url {
            let ok = url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(invalid(
                    "actions.sdr_webhook_url",
                    "must be an http:// or https:// URL",
                ));
            }
            let key = self
                .sdr_webhook_secret
                .as_deref()
                .map(crate::signing::Secret::standard);
            match key {
                Some(Ok(secret)) if secret.key_len() >= 16 => {}
                _ => {
                    return Err(invalid(
                        "actions.sdr_webhook_secret",
                        "must be a whsec_ secret of at least 16 bytes when actions.sdr_webhook_url is set",
                    ));
                }
            }
        }
        if self.max_attempts < 1 {
            return Err(invalid("actions.max_attempts", "must be at least 1"));
        }
        if self.backoff.is_empty() {
            return Err(invalid("actions.backoff", "must list at least one delay"));
        }
        if self.send_timeout.is_zero() || self.lease < self.send_timeout * 2 {
            return Err(invalid(
                "actions.lease",
                "must be at least twice actions.send_timeout (and that above 0s)",
            ));
        }
        if self.poll_interval.is_zero() {
            return Err(invalid("actions.poll_interval", "must be longer than 0s"));
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err(invalid("actions.batch_size", "must be between 1 and 1000"));
        }
        Ok(())
    }

    /// The same section with the SMTP password and the webhook secret
    /// replaced by `***`.
    pub fn redact(&mut self) {
        if let Some(raw) = &self.smtp_url {
            self.smtp_url = Some(crate::db::redact(raw));
        }
        if self.sdr_webhook_secret.is_some() {
            self.sdr_webhook_secret = Some("***".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn key_of(actions: ActionsConfig) -> &'static str {
        match actions.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_send_nothing() {
        let a = ActionsConfig::default();
        a.validate().unwrap();
        assert!(a.smtp_url.is_none() && a.sdr_webhook_url.is_none());
        assert!(a.templates.contains_key("default"));
    }

    #[test]
    fn unusable_values_name_their_key() {
        let smtp = |url: &str| ActionsConfig {
            smtp_url: Some(url.into()),
            from: Some("a@example.org".into()),
            ..ActionsConfig::default()
        };
        assert_eq!(key_of(smtp("http://mail")), "actions.smtp_url");
        assert_eq!(key_of(smtp("smtp://")), "actions.smtp_url");
        smtp("smtp+starttls://u:p@mail:587").validate().unwrap();
        let mut no_from = smtp("smtps://mail");
        no_from.from = None;
        assert_eq!(key_of(no_from), "actions.from");
        let sdr = |secret: Option<&str>| ActionsConfig {
            sdr_webhook_url: Some("https://crm.example.org/sdr".into()),
            sdr_webhook_secret: secret.map(str::to_string),
            ..ActionsConfig::default()
        };
        assert_eq!(key_of(sdr(None)), "actions.sdr_webhook_secret");
        // "short" is 5 bytes: fail closed under 16.
        assert_eq!(
            key_of(sdr(Some("whsec_c2hvcnQ="))),
            "actions.sdr_webhook_secret"
        );
        sdr(Some(&crate::signing::Secret::generate()))
            .validate()
            .unwrap();
        let mut lease = ActionsConfig::default();
        lease.lease = lease.send_timeout;
        assert_eq!(key_of(lease), "actions.lease");
    }

    #[test]
    fn secrets_are_redacted() {
        let mut c = Config::default();
        c.actions.smtp_url = Some("smtps://mailer:hunter2hunter2@mail.example.org".into());
        c.actions.sdr_webhook_secret = Some("whsec_c2VjcmV0c2VjcmV0c2VjcmV0".into());
        let shown = c.redacted().to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        assert!(shown.contains("mailer:***@mail.example.org"), "{shown}");
    }
}
