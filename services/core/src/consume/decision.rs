//! What becomes of one message once its handler is done with it: a pure
//! function of the handler's outcome, the delivery count and the retry
//! policy, so every rule is tested here without a broker.
//!
//! dedupe, webhook-out and the CRM runner all decide through [`decide`]; only
//! what an outcome *means* differs between them (a 2xx, a committed row, a
//! forwarded event).

use std::time::Duration;

/// The delay when a policy has no back-off schedule at all.
const NO_SCHEDULE: Duration = Duration::from_secs(1);

/// What a handler made of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its effect is in place (or it was a duplicate, or not for this
    /// consumer): nothing more to do.
    Done,
    /// It failed and may work later. `retry_after` is a delay the other side
    /// asked for (an HTTP `Retry-After`), honoured within the schedule.
    Failed {
        /// The delay asked for, if any.
        retry_after: Option<Duration>,
    },
    /// It can never work (unreadable, refused for good): skip the retries.
    Poison,
    /// Neither done nor failed: keep it, and offer it again after this long
    /// without counting against the schedule (a paused webhook).
    Later(Duration),
}

impl Outcome {
    /// A failure with no delay asked for.
    pub const FAILED: Self = Self::Failed { retry_after: None };
}

/// How the message is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Acknowledge: it is finished.
    Ack,
    /// Negative-acknowledge: JetStream delivers it again after the delay.
    Nak(Duration),
    /// Publish it to the dead-letter stream (see [`crate::dlq`]), then
    /// terminate it; if the dead letter cannot be stored, nak it instead.
    DeadLetter,
}

/// When to stop retrying and how long to wait in between.
#[derive(Clone, Copy, Debug)]
pub struct Retries<'a> {
    /// The delivery that is the last try: a failure on it (or later) is
    /// dead-lettered. `i64::MAX` retries for ever.
    pub max_deliver: i64,
    /// Waits after failed delivery 1, 2, …; the last one repeats.
    pub backoff: &'a [Duration],
    /// Factor applied to the scheduled wait (`1.0` for none; webhook-out
    /// draws it at random around 1 to spread retries).
    pub jitter: f64,
}

impl Retries<'_> {
    /// The scheduled wait after failed delivery `delivered` (1-based),
    /// before jitter. Deliveries past the schedule reuse its last step.
    pub fn step(&self, delivered: i64) -> Duration {
        let i = usize::try_from(delivered.max(1) - 1).unwrap_or(usize::MAX);
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(NO_SCHEDULE)
    }

    /// The wait before the next delivery after failed delivery `delivered`:
    /// the jittered step, or `retry_after` clamped to `[step, 2 × step]`.
    pub fn delay(&self, delivered: i64, retry_after: Option<Duration>) -> Duration {
        let step = self.step(delivered).mul_f64(self.jitter.max(0.0));
        match retry_after {
            Some(asked) => asked.clamp(step, step * 2),
            None => step,
        }
    }
}

/// How a message that has been delivered `delivered` times (1 the first
/// time) and ended in `outcome` is settled.
pub fn decide(outcome: Outcome, delivered: i64, retries: &Retries<'_>) -> Decision {
    match outcome {
        Outcome::Done => Decision::Ack,
        Outcome::Later(after) => Decision::Nak(after),
        Outcome::Poison => Decision::DeadLetter,
        Outcome::Failed { .. } if delivered >= retries.max_deliver => Decision::DeadLetter,
        Outcome::Failed { retry_after } => Decision::Nak(retries.delay(delivered, retry_after)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_secs).collect()
    }

    fn retries(backoff: &[Duration], max_deliver: i64) -> Retries<'_> {
        Retries {
            max_deliver,
            backoff,
            jitter: 1.0,
        }
    }

    #[test]
    fn done_is_acked_whatever_the_count() {
        let b = secs(&[1]);
        assert_eq!(decide(Outcome::Done, 1, &retries(&b, 3)), Decision::Ack);
        assert_eq!(decide(Outcome::Done, 99, &retries(&b, 3)), Decision::Ack);
    }

    #[test]
    fn failures_are_nakked_with_the_schedule_until_the_last_delivery() {
        let b = secs(&[1, 5, 30]);
        let r = retries(&b, 4);
        let nak = |n| decide(Outcome::FAILED, n, &r);
        assert_eq!(nak(1), Decision::Nak(Duration::from_secs(1)));
        assert_eq!(nak(2), Decision::Nak(Duration::from_secs(5)));
        assert_eq!(nak(3), Decision::Nak(Duration::from_secs(30)));
        assert_eq!(nak(4), Decision::DeadLetter);
        // Deliveries past the limit (a crash before settling) too.
        assert_eq!(nak(7), Decision::DeadLetter);
    }

    #[test]
    fn poison_skips_the_retries_and_later_keeps_the_message() {
        let b = secs(&[1]);
        let r = retries(&b, 10);
        assert_eq!(decide(Outcome::Poison, 1, &r), Decision::DeadLetter);
        let later = Outcome::Later(Duration::from_secs(60));
        assert_eq!(
            decide(later, 50, &r),
            Decision::Nak(Duration::from_secs(60))
        );
    }

    #[test]
    fn without_a_limit_failures_are_retried_for_ever() {
        let b = secs(&[1]);
        let r = retries(&b, i64::MAX);
        assert_eq!(
            decide(Outcome::FAILED, 1_000_000, &r),
            Decision::Nak(Duration::from_secs(1))
        );
    }

    #[test]
    fn the_schedule_repeats_its_last_step_and_has_a_floor_when_empty() {
        let b = secs(&[1, 5, 30]);
        let r = retries(&b, 100);
        assert_eq!(r.step(0), Duration::from_secs(1));
        assert_eq!(r.step(9), Duration::from_secs(30));
        assert_eq!(retries(&[], 100).step(4), NO_SCHEDULE);
    }

    #[test]
    fn retry_after_is_honoured_between_one_and_two_steps() {
        let b = secs(&[10]);
        let r = retries(&b, 100);
        let asked = |s| Outcome::Failed {
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(
            decide(asked(1), 1, &r),
            Decision::Nak(Duration::from_secs(10))
        );
        assert_eq!(
            decide(asked(15), 1, &r),
            Decision::Nak(Duration::from_secs(15))
        );
        assert_eq!(
            decide(asked(3600), 1, &r),
            Decision::Nak(Duration::from_secs(20))
        );
    }

    #[test]
    fn jitter_scales_the_step_before_retry_after_is_clamped() {
        let b = secs(&[10]);
        let r = Retries {
            max_deliver: 100,
            backoff: &b,
            jitter: 1.2,
        };
        assert_eq!(r.delay(1, None), Duration::from_secs(12));
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(24)
        );
    }
}
