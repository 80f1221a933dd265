//! The secrets each service needs before it may start.
//!
//! hookline fails closed: a service whose secret is missing, empty or short
//! stops at start-up with one line naming the key, instead of running with a
//! guessable value, an open admin API or a per-process random key (which
//! would, for the fingerprint, split dedupe across edge replicas). The
//! checks run in each service's `run`, not in [`Config::validate`], because
//! a key is required only by the service that uses it: `hookline dedupe`
//! needs none of them, and `hookline config` must print any configuration.
//!
//! Values are never echoed in the errors, only their length.

use super::{Config, ConfigError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The shortest secret accepted: 128 bits of a random string.
pub const MIN_SECRET_BYTES: usize = 16;

/// Bytes in a `webhook_out.encryption_keys` entry once decoded (AES-256).
const ENCRYPTION_KEY_BYTES: usize = 32;

/// Prefix of a Standard Webhooks secret; anything else is a legacy-style plain
/// secret, which only the `rc-legacy` profile uses.
const STANDARD_PREFIX: &str = "whsec_";

/// Checks one required secret: present, not blank, at least 16 bytes. `who`
/// says what needs it, for the message.
pub fn require_secret(
    key: &'static str,
    value: Option<&str>,
    who: &str,
) -> Result<(), ConfigError> {
    let problem = match value.map(str::trim) {
        None => "is missing".to_string(),
        Some("") => "is empty".to_string(),
        Some(v) if v.len() < MIN_SECRET_BYTES => format!("is only {} bytes", v.len()),
        Some(_) => return Ok(()),
    };
    Err(ConfigError::Invalid {
        key,
        message: format!(
            "{problem}: {who} needs a random secret of at least {MIN_SECRET_BYTES} bytes"
        ),
    })
}

/// Decodes one `webhook_out.encryption_keys` entry into its 32 key bytes.
pub fn decode_encryption_key(entry: &str) -> Result<[u8; 32], ConfigError> {
    let bad = |what: &str| ConfigError::Invalid {
        key: "webhook_out.encryption_keys",
        message: format!(
            "holds an entry that is {what}; each must be the base64 of 32 random bytes \
             (e.g. `openssl rand -base64 32`)"
        ),
    };
    let bytes = B64
        .decode(entry.trim())
        .map_err(|_| bad("not valid base64"))?;
    <[u8; ENCRYPTION_KEY_BYTES]>::try_from(bytes.as_slice())
        .map_err(|_| bad(&format!("{} bytes, not 32", bytes.len())))
}

impl Config {
    /// Shapes of secrets that are set, whichever service runs: a malformed
    /// encryption key is wrong even for `hookline config`.
    pub(super) fn validate_secret_shapes(&self) -> Result<(), ConfigError> {
        for entry in &self.webhook_out.encryption_keys {
            decode_encryption_key(entry)?;
        }
        Ok(())
    }

    /// What rc-edge needs: the fingerprint key every replica shares; and,
    /// when set, a `content_api_key` and a `health_sync_api_key` long enough
    /// (an unset key keeps its route closed; a blank content key counts as
    /// unset).
    pub fn require_edge_secrets(&self) -> Result<(), ConfigError> {
        require_secret(
            "edge.fingerprint_secret",
            self.edge.fingerprint_secret.as_deref(),
            "rc-edge",
        )?;
        if let Some(key) = self.edge.content_api_key() {
            require_secret(
                "edge.content_api_key",
                Some(key),
                "POST /api/content-published",
            )?;
        }
        if let Some(key) = self.edge.health_sync_api_key.as_deref() {
            require_secret(
                "edge.health_sync_api_key",
                Some(key),
                "GET /api/health-sync",
            )?;
        }
        Ok(())
    }

    /// What `hookline reconcile` needs: the RC's health-sync URL and its
    /// bearer token.
    pub fn require_reconcile_secrets(&self) -> Result<(), ConfigError> {
        if self.reconcile.rc_url.is_none() {
            return Err(ConfigError::Invalid {
                key: "reconcile.rc_url",
                message: "is missing: reconcile needs the RC edge's base URL \
                          (e.g. https://rc.example.org)"
                    .into(),
            });
        }
        require_secret(
            "reconcile.api_key",
            self.reconcile.api_key.as_deref(),
            "hookline reconcile (the RC's edge.health_sync_api_key)",
        )
    }

    /// What webhook-out needs: the admin token, at least one encryption key,
    /// and, when the config webhook is set, its secret (and its API key, if
    /// given, as long as any other secret).
    pub fn require_webhook_out_secrets(&self) -> Result<(), ConfigError> {
        let wo = &self.webhook_out;
        require_secret(
            "webhook_out.admin_token",
            wo.admin_token.as_deref(),
            "the admin API",
        )?;
        if wo.encryption_keys.is_empty() {
            return Err(ConfigError::Invalid {
                key: "webhook_out.encryption_keys",
                message: "is missing: webhook-out encrypts webhook secrets at rest and needs \
                          at least one key (base64 of 32 random bytes, e.g. \
                          `openssl rand -base64 32`)"
                    .into(),
            });
        }
        if self.crm_webhook.url.is_some() {
            require_secret(
                "crm_webhook.secret",
                self.crm_webhook.secret.as_deref(),
                "the config webhook (CRM_SHARED_SECRET)",
            )?;
            if let Some(key) = self.crm_webhook.api_key.as_deref()
                && !key.is_empty()
            {
                require_secret(
                    "crm_webhook.api_key",
                    Some(key),
                    "the config webhook (CRM_WEBHOOK_KEY)",
                )?;
            }
        }
        Ok(())
    }

    /// What crm-ingest needs: at least one secret (`ingest.secrets` or
    /// `ingest.optimocms_secrets`), each long enough; and the API key when
    /// the legacy profile is in use.
    ///
    /// The legacy profile is in use when any secret is a plain string (not
    /// `whsec_…`): that is the legacy Node app's shared secret, whose senders always put
    /// an `api_key` in the body, so the key must be configured too. With
    /// `whsec_` secrets only, the API key is optional, but when set it must
    /// be as long as any other secret.
    pub fn require_ingest_secrets(&self) -> Result<(), ConfigError> {
        let ingest = &self.ingest;
        let secrets: Vec<&str> = ingest
            .secrets
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        let optimocms: Vec<&str> = ingest
            .optimocms_secrets
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.is_empty() && optimocms.is_empty() {
            require_secret("ingest.secrets", None, "crm-ingest (WEBHOOK_SHARED_SECRET)")?;
        }
        for secret in &optimocms {
            require_secret(
                "ingest.optimocms_secrets",
                Some(secret),
                "POST /api/webhooks/optimocms",
            )?;
        }
        for secret in &secrets {
            require_secret(
                "ingest.secrets",
                Some(secret),
                "crm-ingest (WEBHOOK_SHARED_SECRET)",
            )?;
        }
        let legacy = secrets.iter().any(|s| !s.starts_with(STANDARD_PREFIX));
        let api_key = ingest.api_key.as_deref().filter(|k| !k.trim().is_empty());
        if legacy || api_key.is_some() {
            require_secret(
                "ingest.api_key",
                api_key,
                "crm-ingest with a plain (rc-legacy) secret (WEBHOOK_API_KEY)",
            )?;
        }
        Ok(())
    }

    /// What `hubspot-sync` needs when it is enabled (`hubspot.access_token`
    /// set and not blank): a token of at least 16 bytes. Real HubSpot
    /// tokens are far longer; a short one is a typo or a placeholder.
    pub fn require_hubspot_secrets(&self) -> Result<(), ConfigError> {
        match self.hubspot.token() {
            None => Ok(()),
            token => require_secret("hubspot.access_token", token, "hubspot-sync"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(e: ConfigError) -> &'static str {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn edge_needs_a_long_fingerprint_secret() {
        let mut c = Config::default();
        for bad in [None, Some(""), Some("   "), Some("fifteen-bytes!!")] {
            c.edge.fingerprint_secret = bad.map(String::from);
            let e = c.require_edge_secrets().unwrap_err();
            assert!(!e.to_string().contains("fifteen"), "{e}");
            assert_eq!(key_of(e), "edge.fingerprint_secret");
        }
        c.edge.fingerprint_secret = Some("sixteen-bytes!!!".into());
        c.require_edge_secrets().unwrap();
        c.edge.content_api_key = Some("  ".into());
        c.require_edge_secrets().unwrap();
        c.edge.content_api_key = Some("short-content".into());
        let e = c.require_edge_secrets().unwrap_err();
        assert!(!e.to_string().contains("short-content"), "{e}");
        assert_eq!(key_of(e), "edge.content_api_key");
        c.edge.content_api_key = Some("a-long-content-api-key".into());
        c.require_edge_secrets().unwrap();
        c.edge.health_sync_api_key = Some("short".into());
        assert_eq!(
            key_of(c.require_edge_secrets().unwrap_err()),
            "edge.health_sync_api_key"
        );
        c.edge.health_sync_api_key = Some("a-long-health-sync-key".into());
        c.require_edge_secrets().unwrap();
    }

    #[test]
    fn reconcile_needs_the_rc_url_and_a_long_key() {
        let mut c = Config::default();
        assert_eq!(
            key_of(c.require_reconcile_secrets().unwrap_err()),
            "reconcile.rc_url"
        );
        c.reconcile.rc_url = Some("http://127.0.0.1:8080".into());
        assert_eq!(
            key_of(c.require_reconcile_secrets().unwrap_err()),
            "reconcile.api_key"
        );
        c.reconcile.api_key = Some("a-long-health-sync-key".into());
        c.require_reconcile_secrets().unwrap();
    }

    #[test]
    fn webhook_out_needs_token_keys_and_config_webhook_secret() {
        let mut c = Config::default();
        assert_eq!(
            key_of(c.require_webhook_out_secrets().unwrap_err()),
            "webhook_out.admin_token"
        );
        c.webhook_out.admin_token = Some("a-long-admin-token".into());
        assert_eq!(
            key_of(c.require_webhook_out_secrets().unwrap_err()),
            "webhook_out.encryption_keys"
        );
        c.webhook_out.encryption_keys = vec![B64.encode([7u8; 32])];
        c.require_webhook_out_secrets().unwrap();
        c.crm_webhook.url = Some("http://127.0.0.1:8082/".into());
        c.crm_webhook.secret = Some("short".into());
        assert_eq!(
            key_of(c.require_webhook_out_secrets().unwrap_err()),
            "crm_webhook.secret"
        );
        c.crm_webhook.secret = Some("a-long-shared-secret".into());
        c.crm_webhook.api_key = Some("short".into());
        assert_eq!(
            key_of(c.require_webhook_out_secrets().unwrap_err()),
            "crm_webhook.api_key"
        );
        c.crm_webhook.api_key = None;
        c.require_webhook_out_secrets().unwrap();
    }

    #[test]
    fn ingest_needs_secrets_and_an_api_key_for_plain_secrets() {
        let mut c = Config::default();
        assert_eq!(
            key_of(c.require_ingest_secrets().unwrap_err()),
            "ingest.secrets"
        );
        c.ingest.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(), "".into()];
        c.require_ingest_secrets().unwrap();
        c.ingest.secrets.push("a-plain-seed-secret".into());
        assert_eq!(
            key_of(c.require_ingest_secrets().unwrap_err()),
            "ingest.api_key"
        );
        c.ingest.api_key = Some("a-long-legacy-api-key".into());
        c.require_ingest_secrets().unwrap();
        c.ingest.secrets.push("short".into());
        assert_eq!(
            key_of(c.require_ingest_secrets().unwrap_err()),
            "ingest.secrets"
        );
    }

    #[test]
    fn hubspot_token_is_optional_but_never_short() {
        let mut c = Config::default();
        c.require_hubspot_secrets().unwrap();
        c.hubspot.access_token = Some("  ".into());
        c.require_hubspot_secrets().unwrap();
        c.hubspot.access_token = Some("pat-na1-short".into());
        assert_eq!(
            key_of(c.require_hubspot_secrets().unwrap_err()),
            "hubspot.access_token"
        );
        c.hubspot.access_token = Some("pat-na1-0123456789abcdef".into());
        c.require_hubspot_secrets().unwrap();
    }

    #[test]
    fn optimocms_secrets_alone_suffice_but_each_must_be_long() {
        let mut c = Config::default();
        c.ingest.optimocms_secrets = vec!["whsec_k7x9m2p4q8r1t5w3".into()];
        c.require_ingest_secrets().unwrap();
        c.ingest.optimocms_secrets.push("whsec_short".into());
        assert_eq!(
            key_of(c.require_ingest_secrets().unwrap_err()),
            "ingest.optimocms_secrets"
        );
        c.ingest.optimocms_secrets = vec![" ".into()];
        assert_eq!(
            key_of(c.require_ingest_secrets().unwrap_err()),
            "ingest.secrets"
        );
    }

    #[test]
    fn hookline_config_output_hides_every_secret() {
        let mut c = Config::default();
        let key = B64.encode([9u8; 32]);
        c.webhook_out.encryption_keys = vec![key.clone()];
        c.webhook_out.admin_token = Some("admin-token-value-1".into());
        c.edge.fingerprint_secret = Some("fingerprint-value-2".into());
        c.edge.content_api_key = Some("content-key-value-4".into());
        c.ingest.secrets = vec!["ingest-secret-value-3".into()];
        c.hubspot.access_token = Some("hubspot-token-value-7".into());
        c.edge.health_sync_api_key = Some("health-sync-value-6".into());
        c.reconcile.api_key = Some("reconcile-key-value-5".into());
        c.ingest.optimocms_secrets = vec!["whsec_optimocms-value-4".into()];
        let shown = c.redacted().to_string();
        for secret in [
            "whsec_optimocms-value-4",
            key.as_str(),
            "admin-token-value-1",
            "fingerprint-value-2",
            "ingest-secret-value-3",
            "health-sync-value-6",
            "content-key-value-4",
            "hubspot-token-value-7",
            "reconcile-key-value-5",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn encryption_keys_must_be_32_bytes_of_base64() {
        assert!(decode_encryption_key(&B64.encode([1u8; 32])).is_ok());
        for bad in ["not base64!", &B64.encode([1u8; 16])] {
            let e = decode_encryption_key(bad).unwrap_err();
            assert_eq!(key_of(e), "webhook_out.encryption_keys");
        }
    }
}
