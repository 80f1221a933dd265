//! Who may deliver: the configured secrets and API key, and the checks of
//! both signature profiles over the raw body bytes.
//!
//! Keys are derived once at start-up, so a bad secret stops the service with a
//! message naming the key instead of failing every request later. Every
//! comparison is constant-time: the signature ones inside the hmac crate, the
//! API key here through `subtle` over SHA-256 digests (so not even the key's
//! length leaks through timing).

use hookline_core::config::IngestConfig;
use hookline_core::signing::{self, Secret, SignatureError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A configured secret or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config: `{key}` {message}")]
pub struct KeyError {
    /// The dotted config key.
    pub key: &'static str,
    /// What is wrong with it (never the secret itself).
    pub message: String,
}

/// The keys a delivery is checked against.
#[derive(Clone, Debug)]
pub struct Keys {
    /// Standard Webhooks keys: the decoded bytes of each `whsec_` secret.
    standard: Vec<Secret>,
    /// Legacy keys: each secret string exactly as configured.
    legacy: Vec<Secret>,
    /// OptimoCMS keys: each `ingest.optimocms_secrets` string as shown.
    optimocms: Vec<Secret>,
    /// SHA-256 of the API key a legacy body must carry, when one is set.
    api_key: Option<[u8; 32]>,
    /// Largest clock difference accepted, both ways.
    tolerance_secs: u64,
}

impl Keys {
    /// Derives the keys of `ingest.*`. Empty entries are ignored (an empty
    /// `WEBHOOK_SHARED_SECRET=` in a legacy `.env` means "not set"), and so is
    /// an empty API key.
    pub fn from_config(config: &IngestConfig) -> Result<Self, KeyError> {
        let mut standard = Vec::new();
        let mut legacy = Vec::new();
        for (i, secret) in config.secrets.iter().enumerate() {
            let secret = secret.trim();
            if secret.is_empty() {
                continue;
            }
            let bad = |_| KeyError {
                key: "ingest.secrets",
                message: format!(
                    "entry {} is not a usable secret (`whsec_` must be followed by base64)",
                    i + 1
                ),
            };
            standard.push(Secret::standard(secret).map_err(bad)?);
            legacy.push(Secret::legacy(secret).map_err(bad)?);
        }
        let mut optimocms = Vec::new();
        for (i, secret) in config.optimocms_secrets.iter().enumerate() {
            let secret = secret.trim();
            if secret.is_empty() {
                continue;
            }
            optimocms.push(signing::optimocms::key(secret).map_err(|_| KeyError {
                key: "ingest.optimocms_secrets",
                message: format!("entry {} is not a usable secret", i + 1),
            })?);
        }
        let api_key = config
            .api_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(digest);
        Ok(Self {
            standard,
            legacy,
            optimocms,
            api_key,
            tolerance_secs: config.sig_ttl_seconds,
        })
    }

    /// Whether no secret is configured (every delivery is then refused).
    pub fn is_empty(&self) -> bool {
        self.standard.is_empty()
    }

    /// Whether legacy bodies must carry an API key.
    pub fn requires_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Checks a legacy body's `api_key` (constant time). Passes when no key
    /// is configured.
    pub fn check_api_key(&self, given: Option<&str>) -> bool {
        match (&self.api_key, given) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(given)) => bool::from(expected.ct_eq(&digest(given))),
        }
    }

    /// Verifies Standard Webhooks headers over the raw body.
    pub fn verify_standard(
        &self,
        headers: &DeliveryHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        if self.is_empty() {
            return Err(SignatureError::BadSignature);
        }
        signing::standard::verify(
            &self.standard,
            headers.webhook_id,
            headers.webhook_timestamp,
            headers.webhook_signature,
            body,
            now,
            self.tolerance_secs,
        )
    }

    /// Verifies the legacy Node app's `X-Timestamp` / `X-Signature` over the raw body.
    pub fn verify_legacy(
        &self,
        headers: &DeliveryHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        if self.is_empty() {
            return Err(SignatureError::BadSignature);
        }
        signing::legacy::verify(
            &self.legacy,
            headers.x_timestamp,
            headers.x_signature,
            body,
            now,
            self.tolerance_secs,
        )
    }
}

impl Keys {
    /// Verifies `x-optimocms-timestamp` (milliseconds) and
    /// `x-optimocms-signature` over the raw body, against every
    /// `ingest.optimocms_secrets` entry; none configured refuses all.
    pub fn verify_optimocms(
        &self,
        headers: &DeliveryHeaders<'_>,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), SignatureError> {
        if self.optimocms.is_empty() {
            return Err(SignatureError::BadSignature);
        }
        signing::optimocms::verify(
            &self.optimocms,
            headers.optimocms_timestamp,
            headers.optimocms_signature,
            body,
            now_ms,
            self.tolerance_secs,
        )
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The headers verification reads, as text (a header that is not visible
/// ASCII counts as absent; it could not have been signed by our senders).
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryHeaders<'a> {
    /// `webhook-id`.
    pub webhook_id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub webhook_timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub webhook_signature: Option<&'a str>,
    /// `X-Timestamp`.
    pub x_timestamp: Option<&'a str>,
    /// `X-Signature`.
    pub x_signature: Option<&'a str>,
    /// `x-optimocms-timestamp`.
    pub optimocms_timestamp: Option<&'a str>,
    /// `x-optimocms-signature`.
    pub optimocms_signature: Option<&'a str>,
}

impl<'a> DeliveryHeaders<'a> {
    /// Reads the headers of a request.
    pub fn from_map(map: &'a axum::http::HeaderMap) -> Self {
        let get = |name: &str| map.get(name).and_then(|v| v.to_str().ok());
        Self {
            webhook_id: get(signing::WEBHOOK_ID),
            webhook_timestamp: get(signing::WEBHOOK_TIMESTAMP),
            webhook_signature: get(signing::WEBHOOK_SIGNATURE),
            x_timestamp: get(signing::X_TIMESTAMP),
            x_signature: get(signing::X_SIGNATURE),
            optimocms_timestamp: get(signing::optimocms::TIMESTAMP),
            optimocms_signature: get(signing::optimocms::SIGNATURE),
        }
    }

    /// Standard Webhooks when a `webhook-signature` header is present; the
    /// legacy Node app's scheme otherwise (its deliveries may carry `webhook-id` too).
    pub fn is_standard(&self) -> bool {
        self.webhook_signature.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secrets: &[&str], api_key: Option<&str>) -> IngestConfig {
        IngestConfig {
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            api_key: api_key.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn empty_entries_mean_unset() {
        let keys = Keys::from_config(&config(&["", " "], Some(""))).unwrap();
        assert!(keys.is_empty());
        assert!(!keys.requires_api_key());
        assert!(keys.check_api_key(None));
    }

    #[test]
    fn bad_whsec_secret_names_the_key_not_the_secret() {
        let err = Keys::from_config(&config(&["whsec_!!!"], None)).unwrap_err();
        assert_eq!(err.key, "ingest.secrets");
        assert!(!err.to_string().contains("!!!"));
    }

    #[test]
    fn api_key_compares_exactly() {
        let keys = Keys::from_config(&config(&["s"], Some("k1"))).unwrap();
        assert!(keys.check_api_key(Some("k1")));
        assert!(!keys.check_api_key(Some("k2")));
        assert!(!keys.check_api_key(Some("k1 ")));
        assert!(!keys.check_api_key(None));
    }

    #[test]
    fn no_secret_refuses_even_a_matching_signature() {
        let keys = Keys::from_config(&config(&[], None)).unwrap();
        let body = b"{}";
        let sig = signing::legacy::sign(&Secret::legacy("x").unwrap(), 100, body);
        let h = DeliveryHeaders {
            x_timestamp: Some("100"),
            x_signature: Some(&sig),
            ..Default::default()
        };
        assert_eq!(
            keys.verify_legacy(&h, body, 100),
            Err(SignatureError::BadSignature)
        );
    }
}
