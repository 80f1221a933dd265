//! Privacy-safe visitor fingerprints.
//!
//! A bare hash of an IP address is reversible (there are only 2³² IPv4
//! addresses), so the fingerprint is an HMAC keyed by a *day key*:
//! `HMAC-SHA256(edge.fingerprint_secret, "hookline-fingerprint-v1 YYYY-MM-DD")`.
//! The day key changes at midnight UTC, so a fingerprint cannot link a visitor
//! across days, and without the secret it cannot be linked to an IP at all.
//! Every replica derives the same key from the shared secret.
//!
//! The published value is `<today>.<yesterday>`: the visitor's fingerprint
//! under today's key and under yesterday's. dedupe's window starts at the
//! first view, not at midnight, so a view at 23:59 and one at 00:01 must
//! still match; dedupe checks the key of yesterday's fingerprint before
//! claiming today's. (Base64url never contains `.`.) Anonymous visitors are
//! therefore matched across at most one key rotation — exact for windows up
//! to 24 h, the default.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Days, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use hookline_core::config::{ConfigError, require_secret};
use sha2::Sha256;
use std::net::IpAddr;

type HmacSha256 = Hmac<Sha256>;

/// Derives fingerprints from a secret.
#[derive(Clone)]
pub struct Fingerprinter {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter { secret: <redacted> }")
    }
}

impl Fingerprinter {
    /// A fingerprinter keyed by `secret` (the configured `edge.fingerprint_secret`).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// From `edge.fingerprint_secret`, which must be set: a per-process
    /// random key would give the same visitor another fingerprint on each
    /// replica and after each restart, so dedupe would count them again.
    pub fn from_config(secret: Option<&str>) -> Result<Self, ConfigError> {
        require_secret("edge.fingerprint_secret", secret, "rc-edge")?;
        Ok(Self::new(secret.unwrap_or_default().as_bytes()))
    }

    fn day_key(&self, day: NaiveDate) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(format!("hookline-fingerprint-v1 {}", day.format("%Y-%m-%d")).as_bytes());
        let key = mac.finalize().into_bytes();
        HmacSha256::new_from_slice(&key).expect("HMAC takes any key length")
    }

    /// The fingerprint of `ip` + `user_agent` under the key of `day`.
    pub fn on_day(&self, day: NaiveDate, ip: IpAddr, user_agent: &str) -> String {
        let mut mac = self.day_key(day);
        mac.update(ip.to_canonical().to_string().as_bytes());
        mac.update(b"\n");
        mac.update(user_agent.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The value published on the raw event: `<today>.<yesterday>`.
    pub fn visitor(&self, now: DateTime<Utc>, ip: IpAddr, user_agent: &str) -> String {
        let today = now.date_naive();
        let current = self.on_day(today, ip, user_agent);
        match today.checked_sub_days(Days::new(1)) {
            Some(yesterday) => format!("{current}.{}", self.on_day(yesterday, ip, user_agent)),
            None => current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_inputs_same_day_agree_across_instances() {
        let a = Fingerprinter::new("s3cret");
        let b = Fingerprinter::new("s3cret");
        let t = Utc.with_ymd_and_hms(2026, 10, 13, 7, 58, 0).unwrap();
        assert_eq!(
            a.visitor(t, ip("198.51.100.7"), "UA"),
            b.visitor(t, ip("198.51.100.7"), "UA")
        );
    }

    #[test]
    fn key_ip_ua_and_day_all_matter() {
        let f = Fingerprinter::new("s3cret");
        let d = NaiveDate::from_ymd_opt(2026, 10, 13).unwrap();
        let base = f.on_day(d, ip("198.51.100.7"), "UA");
        assert_eq!(base.len(), 43);
        assert_ne!(base, f.on_day(d, ip("198.51.100.8"), "UA"));
        assert_ne!(base, f.on_day(d, ip("198.51.100.7"), "UA2"));
        assert_ne!(
            base,
            f.on_day(d.succ_opt().unwrap(), ip("198.51.100.7"), "UA")
        );
        assert_ne!(
            base,
            Fingerprinter::new("other").on_day(d, ip("198.51.100.7"), "UA")
        );
        assert!(!base.contains('.'));
    }

    #[test]
    fn yesterdays_part_matches_the_previous_days_current_part() {
        let f = Fingerprinter::new("k");
        let before = Utc.with_ymd_and_hms(2026, 10, 13, 23, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 10, 14, 0, 1, 0).unwrap();
        let a = f.visitor(before, ip("203.0.113.1"), "UA");
        let b = f.visitor(after, ip("203.0.113.1"), "UA");
        let (a_today, _) = a.split_once('.').unwrap();
        let (b_today, b_yesterday) = b.split_once('.').unwrap();
        assert_ne!(a_today, b_today);
        assert_eq!(a_today, b_yesterday);
    }

    #[test]
    fn no_fallback_key_without_a_configured_secret() {
        for bad in [None, Some(""), Some("too-short")] {
            assert!(Fingerprinter::from_config(bad).is_err(), "{bad:?}");
        }
        let a = Fingerprinter::from_config(Some("a-shared-secret-16")).unwrap();
        let b = Fingerprinter::from_config(Some("a-shared-secret-16")).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 10, 13).unwrap();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            a.on_day(day, ip, "UA"),
            b.on_day(day, ip, "UA"),
            "replicas agree"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", Fingerprinter::new("hunter2")).contains("hunter2"));
    }
}
