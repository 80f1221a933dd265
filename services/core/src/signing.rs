//! Webhook signatures: Standard Webhooks, the legacy Node app's legacy scheme and
//! OptimoCMS's ([`optimocms`]).
//!
//! Both sign over the raw body bytes and both are verified with the hmac
//! crate's constant-time comparison. Verification takes several secrets so a
//! receiver keeps working while a sender rotates, and refuses timestamps too
//! far from now in either direction (a replay with a fresh timestamp fails the
//! signature, a replay with the old one fails the clock).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Standard Webhooks header with the message id.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks header with the Unix timestamp.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks header with `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// Legacy header with the Unix timestamp.
pub const X_TIMESTAMP: &str = "x-timestamp";
/// Legacy header with the base64 signature.
pub const X_SIGNATURE: &str = "x-signature";
/// Prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a delivery was not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but unreadable.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// No signature matches any secret.
    #[error("invalid signature")]
    BadSignature,
    /// The timestamp is older than the tolerance.
    #[error("timestamp too old")]
    StaleTimestamp,
    /// The timestamp is further in the future than the tolerance.
    #[error("timestamp too far in the future")]
    FutureTimestamp,
    /// A secret is not usable (e.g. `whsec_` followed by bad base64).
    #[error("invalid secret")]
    BadSecret,
}

/// A signing key.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// The key of a Standard Webhooks secret: the base64-decoded bytes after
    /// `whsec_`. A secret without the prefix (a seed user's plain string) is
    /// used as its bytes.
    pub fn standard(secret: &str) -> Result<Self, SignatureError> {
        match secret.strip_prefix(SECRET_PREFIX) {
            Some(b64) => {
                let key = B64.decode(b64).map_err(|_| SignatureError::BadSecret)?;
                if key.is_empty() {
                    return Err(SignatureError::BadSecret);
                }
                Ok(Self(key))
            }
            None if secret.is_empty() => Err(SignatureError::BadSecret),
            None => Ok(Self(secret.as_bytes().to_vec())),
        }
    }

    /// The key of the legacy scheme: the secret string exactly as configured
    /// (the legacy Node app's `createHmac("sha256", secret)`).
    pub fn legacy(secret: &str) -> Result<Self, SignatureError> {
        if secret.is_empty() {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    /// Bytes in the key (services refuse keys under 16 bytes).
    pub fn key_len(&self) -> usize {
        self.0.len()
    }

    /// A fresh `whsec_` secret with 32 random bytes.
    pub fn generate() -> String {
        let key: [u8; 32] = rand::random();
        format!("{SECRET_PREFIX}{}", B64.encode(key))
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac
    }
}

/// Checks `timestamp` against `now`, both ways.
pub fn check_timestamp(
    timestamp: i64,
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let tol = tolerance_secs as i64;
    if now.saturating_sub(timestamp) > tol {
        Err(SignatureError::StaleTimestamp)
    } else if timestamp.saturating_sub(now) > tol {
        Err(SignatureError::FutureTimestamp)
    } else {
        Ok(())
    }
}

fn parse_timestamp(raw: Option<&str>, header: &'static str) -> Result<i64, SignatureError> {
    let raw = raw.ok_or(SignatureError::MissingHeader(header))?;
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedHeader(header));
    }
    raw.parse()
        .map_err(|_| SignatureError::MalformedHeader(header))
}

/// Standard Webhooks (<https://www.standardwebhooks.com>).
pub mod standard {
    use super::*;

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        let tag = secret
            .mac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body])
            .finalize()
            .into_bytes();
        format!("v1,{}", B64.encode(tag))
    }

    /// Verifies the three headers over the raw body. `signature` may hold
    /// several space-separated entries; any `v1` entry matching any secret
    /// passes.
    pub fn verify(
        secrets: &[Secret],
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
        tolerance_secs: u64,
    ) -> Result<(), SignatureError> {
        let id = id.ok_or(SignatureError::MissingHeader(WEBHOOK_ID))?;
        if id.is_empty() {
            return Err(SignatureError::MalformedHeader(WEBHOOK_ID));
        }
        let ts = parse_timestamp(timestamp, WEBHOOK_TIMESTAMP)?;
        let signature = signature.ok_or(SignatureError::MissingHeader(WEBHOOK_SIGNATURE))?;
        let candidates: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| B64.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::MalformedHeader(WEBHOOK_SIGNATURE));
        }
        check_timestamp(ts, now, tolerance_secs)?;
        let ts = ts.to_string();
        for secret in secrets {
            let mac = secret.mac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            if candidates
                .iter()
                .any(|c| mac.clone().verify_slice(c).is_ok())
            {
                return Ok(());
            }
        }
        Err(SignatureError::BadSignature)
    }
}

/// The legacy Node app's scheme: `X-Timestamp` and `X-Signature` = base64 HMAC-SHA256 of
/// `"{timestamp}.{body}"`, keyed with the secret string.
pub mod legacy {
    use super::*;

    /// The `X-Signature` value.
    pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        let tag = secret
            .mac(&[ts.as_bytes(), b".", body])
            .finalize()
            .into_bytes();
        B64.encode(tag)
    }

    /// Verifies `X-Timestamp` / `X-Signature` over the raw body.
    pub fn verify(
        secrets: &[Secret],
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
        tolerance_secs: u64,
    ) -> Result<(), SignatureError> {
        let ts = parse_timestamp(timestamp, X_TIMESTAMP)?;
        let signature = signature.ok_or(SignatureError::MissingHeader(X_SIGNATURE))?;
        let tag = B64
            .decode(signature.trim())
            .map_err(|_| SignatureError::MalformedHeader(X_SIGNATURE))?;
        check_timestamp(ts, now, tolerance_secs)?;
        signed_by_any(secrets, ts, body, &tag)
    }
}

/// Whether one of `secrets` made `tag` over `"{ts}.{body}"` (the legacy and
/// OptimoCMS schemes sign the same string; only the encoding differs). Each
/// comparison is constant time.
fn signed_by_any(
    secrets: &[Secret],
    ts: i64,
    body: &[u8],
    tag: &[u8],
) -> Result<(), SignatureError> {
    let ts = ts.to_string();
    let signed = secrets.iter().any(|secret| {
        secret
            .mac(&[ts.as_bytes(), b".", body])
            .verify_slice(tag)
            .is_ok()
    });
    if signed {
        Ok(())
    } else {
        Err(SignatureError::BadSignature)
    }
}

pub mod optimocms;

#[cfg(test)]
mod tests;
