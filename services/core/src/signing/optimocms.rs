//! The OptimoCMS scheme: `x-optimocms-timestamp` (Unix milliseconds) and
//! `x-optimocms-signature` = lowercase hex HMAC-SHA256 of
//! `"{timestamp_ms}.{body}"`, keyed with the webhook secret string exactly as
//! the vendor shows it (`whsec_…` included, never base64-decoded).
//!
//! Its receivers (the vendor guide's `verifySignature`) refuse a delivery
//! older than five minutes and compare the decoded bytes in constant time;
//! here a delivery too far in the future is refused as well.

use super::{Secret, SignatureError, check_timestamp, parse_timestamp};
use hmac::Mac;

/// Header with the hex signature.
pub const SIGNATURE: &str = "x-optimocms-signature";
/// Header with the Unix timestamp in milliseconds.
pub const TIMESTAMP: &str = "x-optimocms-timestamp";

/// The key: the secret string's bytes, as the vendor's
/// `createHmac('sha256', WEBHOOK_SECRET)` uses it.
pub fn key(secret: &str) -> Result<Secret, SignatureError> {
    Secret::legacy(secret)
}

/// The `x-optimocms-signature` value for `timestamp_ms` and `body`.
pub fn sign(secret: &Secret, timestamp_ms: i64, body: &[u8]) -> String {
    let ts = timestamp_ms.to_string();
    let tag = secret
        .mac(&[ts.as_bytes(), b".", body])
        .finalize()
        .into_bytes();
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies the two headers over the raw body against every secret, with
/// `now_ms` and the tolerance (seconds, both ways).
pub fn verify(
    secrets: &[Secret],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_ms: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let ts = parse_timestamp(timestamp, TIMESTAMP)?;
    let signature = signature.ok_or(SignatureError::MissingHeader(SIGNATURE))?;
    let tag = hex(signature.trim()).ok_or(SignatureError::MalformedHeader(SIGNATURE))?;
    // Milliseconds on the wire; the tolerance is in seconds.
    check_timestamp(ts, now_ms, tolerance_secs.saturating_mul(1000))?;
    super::signed_by_any(secrets, ts, body, &tag)
}

/// Decodes hex (either case); `None` for odd lengths or other characters.
fn hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_k7x9m2p4q8r1t5w3";
    const TS: i64 = 1_779_804_000_000;
    const BODY: &str = r#"{"id":"evt_1","type":"form.submitted","created_at":"2026-05-26T14:00:00.000Z","data":{"formId":"frm_1"}}"#;
    /// Computed with Node's `crypto.createHmac('sha256', SECRET)`, as the
    /// vendor guide's receiver does.
    const SIG: &str = "cc0fc80beb0123d0e1d73ebcf2d610e10e916c208a9061d96268ab1ff33f7356";

    fn check(sig: &str, now_ms: i64) -> Result<(), SignatureError> {
        let ts = TS.to_string();
        verify(
            &[key(SECRET).unwrap()],
            Some(&ts),
            Some(sig),
            BODY.as_bytes(),
            now_ms,
            300,
        )
    }

    #[test]
    fn signs_like_the_vendor_guide() {
        assert_eq!(sign(&key(SECRET).unwrap(), TS, BODY.as_bytes()), SIG);
    }

    #[test]
    fn verifies_within_five_minutes_both_ways() {
        assert_eq!(check(SIG, TS), Ok(()));
        assert_eq!(check(&SIG.to_uppercase(), TS + 300_000), Ok(()));
        assert_eq!(check(SIG, TS - 300_000), Ok(()));
        assert_eq!(
            check(SIG, TS + 300_001),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            check(SIG, TS - 300_001),
            Err(SignatureError::FutureTimestamp)
        );
    }

    #[test]
    fn refuses_forgeries_and_garbage() {
        let mut forged = SIG.to_string();
        forged.replace_range(0..1, "d");
        assert_eq!(check(&forged, TS), Err(SignatureError::BadSignature));
        assert_eq!(check(&SIG[..62], TS), Err(SignatureError::BadSignature));
        assert_eq!(
            check("zz", TS),
            Err(SignatureError::MalformedHeader(SIGNATURE))
        );
        let other = key("whsec_another_secret_here").unwrap();
        let sig = sign(&other, TS, BODY.as_bytes());
        assert_eq!(check(&sig, TS), Err(SignatureError::BadSignature));
    }
}
