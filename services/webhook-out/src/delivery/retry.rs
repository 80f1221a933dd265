//! When to try again: the schedule, jitter and `Retry-After`.
//!
//! Attempt 1 is the first try. After failed attempt `k` the next try waits
//! `schedule[k-1]` ±20 %; after attempt `schedule.len() + 1` the event is
//! dead-lettered. A `Retry-After` from the receiver is honoured but clamped
//! between the scheduled delay and twice it (as Svix does), so a receiver can
//! slow us down a little but can neither hammer itself nor park an event
//! for a year.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// Relative spread of the jitter (±20 %).
pub const JITTER: f64 = 0.2;

/// Whether failed attempt `attempt` was the last one the schedule allows.
pub fn is_last(schedule: &[Duration], attempt: i64) -> bool {
    attempt > schedule.len() as i64
}

/// The scheduled wait after failed attempt `attempt` (1-based), before
/// jitter. Attempts past the schedule (redeliveries after an interruption)
/// reuse its last step.
pub fn base_delay(schedule: &[Duration], attempt: i64) -> Duration {
    let idx = (attempt.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    schedule.get(idx).copied().unwrap_or(Duration::from_secs(5))
}

/// `base` scaled by `factor` (expected in `1 ± JITTER`).
pub fn jitter_with(base: Duration, factor: f64) -> Duration {
    base.mul_f64(factor.clamp(1.0 - JITTER, 1.0 + JITTER))
}

/// `base` ±20 %, at random.
pub fn jitter(base: Duration) -> Duration {
    let factor = rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER));
    jitter_with(base, factor)
}

/// The wait before the next try: the jittered step, or `Retry-After`
/// clamped to `[step, 2 × step]`.
pub fn next_delay(schedule: &[Duration], attempt: i64, retry_after: Option<Duration>) -> Duration {
    let step = jitter(base_delay(schedule, attempt));
    clamp_retry_after(step, retry_after)
}

/// `retry_after` clamped to `[step, 2 × step]`; `step` when absent.
pub fn clamp_retry_after(step: Duration, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(ra) => ra.clamp(step, step * 2),
        None => step,
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_secs).collect()
    }

    #[test]
    fn schedule_steps_follow_attempts() {
        let s = secs(&[5, 30, 120]);
        assert_eq!(base_delay(&s, 1), Duration::from_secs(5));
        assert_eq!(base_delay(&s, 3), Duration::from_secs(120));
        assert_eq!(base_delay(&s, 9), Duration::from_secs(120));
        assert!(!is_last(&s, 3));
        assert!(is_last(&s, 4));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let base = Duration::from_secs(10);
        for _ in 0..1000 {
            let d = jitter(base);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
        assert_eq!(jitter_with(base, 5.0), Duration::from_secs(12));
    }

    #[test]
    fn retry_after_is_clamped_like_svix() {
        let step = Duration::from_secs(10);
        assert_eq!(clamp_retry_after(step, None), step);
        assert_eq!(clamp_retry_after(step, Some(Duration::from_secs(1))), step);
        assert_eq!(
            clamp_retry_after(step, Some(Duration::from_secs(15))),
            Duration::from_secs(15)
        );
        assert_eq!(
            clamp_retry_after(step, Some(Duration::from_secs(3600))),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
