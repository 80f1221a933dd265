//! When to try again: the schedule, jitter and `Retry-After`, and what one
//! attempt means for its message ([`decision`]).
//!
//! Attempt 1 is the first try. After failed attempt `k` the next try waits
//! `schedule[k-1]` ±20 %; after attempt `schedule.len() + 1` the event is
//! dead-lettered. A `Retry-After` from the receiver is honoured but clamped
//! between the scheduled delay and twice it (as Svix does), so a receiver can
//! slow us down a little but can neither hammer itself nor park an event
//! for a year.

use super::send;
use chrono::{DateTime, Utc};
use hookline_core::consume::{Decision, Outcome, Retries, decide};
use rand::Rng;
use std::time::Duration;

/// Relative spread of the jitter (±20 %).
pub const JITTER: f64 = 0.2;

/// How long a message of a webhook answering `410 Gone` waits before it is
/// offered again: it is kept (not dead-lettered) for when an operator
/// enables the webhook again.
pub const GONE_RETRY: Duration = Duration::from_secs(60);

/// The retry policy of a schedule: attempt `schedule.len() + 1` is the
/// last, and `jitter` scales each step (see [`jitter_factor`]).
pub fn retries(schedule: &[Duration], jitter: f64) -> Retries<'_> {
    Retries {
        max_deliver: schedule.len() as i64 + 1,
        backoff: schedule,
        jitter: jitter.clamp(1.0 - JITTER, 1.0 + JITTER),
    }
}

/// A random jitter factor in `1 ± JITTER`.
pub fn jitter_factor() -> f64 {
    rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER))
}

/// What one attempt means for its message, as a pure function: a 2xx is
/// done; `410 Gone` keeps the message for later; an `abort-message` answer
/// skips the retries; any other failure is retried on the schedule (with
/// `Retry-After` honoured within it) and dead-lettered after the last
/// attempt.
pub fn decision(outcome: &send::Outcome, attempt: i64, retries: &Retries<'_>) -> Decision {
    let meaning = if outcome.success() {
        Outcome::Done
    } else if outcome.gone() {
        Outcome::Later(GONE_RETRY)
    } else if outcome.abort {
        Outcome::Poison
    } else {
        Outcome::Failed {
            retry_after: outcome.retry_after,
        }
    };
    decide(meaning, attempt, retries)
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

    fn failed(status: u16) -> send::Outcome {
        send::Outcome {
            status: Some(status),
            ..Default::default()
        }
    }

    #[test]
    fn attempts_follow_the_schedule_then_dead_letter() {
        let s = secs(&[5, 30, 120]);
        let r = retries(&s, 1.0);
        let d = |attempt| decision(&failed(500), attempt, &r);
        assert_eq!(d(1), Decision::Nak(Duration::from_secs(5)));
        assert_eq!(d(3), Decision::Nak(Duration::from_secs(120)));
        assert_eq!(d(4), Decision::DeadLetter);
        assert_eq!(decision(&failed(204), 4, &r), Decision::Ack);
    }

    #[test]
    fn gone_keeps_the_message_and_abort_skips_the_retries() {
        let s = secs(&[5, 30]);
        let r = retries(&s, 1.0);
        assert_eq!(
            decision(&failed(410), 3, &r),
            Decision::Nak(GONE_RETRY),
            "410 is kept even past the schedule"
        );
        let abort = send::Outcome {
            abort: true,
            ..failed(400)
        };
        assert_eq!(decision(&abort, 1, &r), Decision::DeadLetter);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = secs(&[10]);
        for _ in 0..1000 {
            let d = retries(&s, jitter_factor()).delay(1, None);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
        assert_eq!(retries(&s, 5.0).delay(1, None), Duration::from_secs(12));
    }

    #[test]
    fn retry_after_is_passed_to_the_decision() {
        let s = secs(&[10]);
        let asked = send::Outcome {
            retry_after: Some(Duration::from_secs(3600)),
            ..failed(503)
        };
        // Honoured within [step, 2 × step] (see consume::Retries::delay).
        let d = decision(&asked, 1, &retries(&s, 1.0));
        assert_eq!(d, Decision::Nak(Duration::from_secs(20)));
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
