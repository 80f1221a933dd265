//! Checks of values that parse but cannot work, one function per part of
//! the configuration. [`Config::load`] runs them after deserialising; a
//! service that builds its `Config` in code can call [`Config::validate`]
//! itself. The first failure stops start-up with one line naming the key.

use super::{Config, ConfigError};
use crate::http::client_ip::TrustedProxies;

impl Config {
    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_nats()?;
        self.validate_databases()?;
        self.validate_windows()?;
        self.validate_webhook_out()?;
        self.validate_public_listeners()?;
        self.validate_telemetry()?;
        self.validate_crm()?;
        self.validate_secret_shapes()?;
        self.actions.validate()?;
        self.reconcile.validate()
    }

    /// `nats.*`: the prefix that goes into every name, replicas, the URL
    /// and the login.
    fn validate_nats(&self) -> Result<(), ConfigError> {
        let prefix_ok = self
            .nats
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !prefix_ok || self.nats.prefix.len() > 32 {
            return Err(invalid(
                "nats.prefix",
                "may hold only letters, digits, `_` and `-` (at most 32)",
            ));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(invalid("nats.replicas", "must be between 1 and 5"));
        }
        if !self.nats.url.contains("://") && !self.nats.url.contains(':') {
            return Err(invalid("nats.url", "must look like nats://host:port"));
        }
        self.nats.check()
    }

    /// `rc.database_url`, `crm.database_url`.
    fn validate_databases(&self) -> Result<(), ConfigError> {
        for (key, url) in [
            ("rc.database_url", &self.rc.database_url),
            ("crm.database_url", &self.crm.database_url),
        ] {
            if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                return Err(invalid(key, "must be a postgres:// URL"));
            }
        }
        Ok(())
    }

    /// The dedupe windows (dedupe's and crm-ingest's form window): a KV
    /// bucket's max age, which JetStream reads 0 as "forever".
    fn validate_windows(&self) -> Result<(), ConfigError> {
        for (key, window) in [
            ("dedupe.page_view_window", self.dedupe.page_view_window),
            ("dedupe.form_window", self.dedupe.form_window),
            ("dedupe.content_window", self.dedupe.content_window),
            ("crm.form_dedupe_window", self.crm.form_dedupe_window),
        ] {
            if window.is_zero() {
                return Err(invalid(key, "must be longer than 0s"));
            }
        }
        Ok(())
    }

    /// `webhook_out.retry_schedule` and the webhook made from
    /// `crm_webhook.*`.
    fn validate_webhook_out(&self) -> Result<(), ConfigError> {
        if self.webhook_out.retry_schedule.is_empty() {
            return Err(invalid(
                "webhook_out.retry_schedule",
                "must list at least one delay",
            ));
        }
        if let Some(url) = &self.crm_webhook.url {
            if url::Url::parse(url).is_err() {
                return Err(invalid("crm_webhook.url", "is not a valid URL"));
            }
            if self.crm_webhook.secret.is_none() {
                return Err(invalid(
                    "crm_webhook.secret",
                    "must be set when crm_webhook.url is (CRM_SHARED_SECRET)",
                ));
            }
        }
        Ok(())
    }

    /// The settings of the public listeners (edge, ingest) that serde's
    /// types alone do not rule out: rate limit, trusted proxies, time-outs,
    /// the identity secret.
    fn validate_public_listeners(&self) -> Result<(), ConfigError> {
        if self.edge.rate_limit_per_second > 0 && self.edge.rate_limit_burst == 0 {
            return Err(invalid(
                "edge.rate_limit_burst",
                "must be at least 1 when the rate limit is on",
            ));
        }
        TrustedProxies::parse("edge.trusted_proxies", &self.edge.trusted_proxies)
            .and_then(|_| {
                TrustedProxies::parse("ingest.trusted_proxies", &self.ingest.trusted_proxies)
            })
            .map_err(|e| ConfigError::Invalid {
                key: e.key,
                message: format!(
                    "holds {:?}, which is neither an IP address nor a CIDR",
                    e.value
                ),
            })?;
        if self.edge.read_timeout.is_zero() {
            return Err(invalid("edge.read_timeout", "must be more than 0s"));
        }
        if self.ingest.read_timeout.is_zero() {
            return Err(invalid("ingest.read_timeout", "must be more than 0s"));
        }
        if let Some(secret) = &self.edge.identity_secret
            && secret.len() < 16
        {
            return Err(invalid(
                "edge.identity_secret",
                "must be at least 16 bytes when set",
            ));
        }
        Ok(())
    }

    /// `telemetry.otlp_endpoint`.
    fn validate_telemetry(&self) -> Result<(), ConfigError> {
        if let Some(endpoint) = self.telemetry.endpoint()
            && !url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    /// The CRM side: `crm.automation` rules and the `consumers.*` runner
    /// settings.
    fn validate_crm(&self) -> Result<(), ConfigError> {
        for rule in &self.crm.automation {
            if rule.event_type.is_some() == rule.score_threshold.is_some() {
                return Err(invalid(
                    "crm.automation",
                    format!(
                        "rule {:?} needs exactly one of `event_type` or `score_threshold`",
                        rule.name
                    ),
                ));
            }
        }
        if self.consumers.max_deliver < 1 {
            return Err(invalid("consumers.max_deliver", "must be at least 1"));
        }
        if self.consumers.batch_size < 1 {
            return Err(invalid("consumers.batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// The error for `key`, saying what is wrong with its value.
pub(super) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}
