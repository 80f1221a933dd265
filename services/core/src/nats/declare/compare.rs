//! What differs between a stream or consumer as the server has it and as
//! this stack declares it.
//!
//! Only the settings hookline sets are compared, each normalised the way
//! the server stores it (0 limits become -1, a zero duplicate window becomes
//! two minutes and is capped at `max_age`, …), so an unchanged declaration
//! finds nothing to do and needs no write permission.

use async_nats::jetstream::{consumer, stream};
use std::collections::BTreeSet;
use std::time::Duration;

/// The server's default duplicate window.
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Settings of `want` that `have` does not match (empty: nothing to do).
pub fn stream_differences(have: &stream::Config, want: &stream::Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut differ = |name, same: bool| {
        if !same {
            out.push(name);
        }
    };
    let subjects = |c: &stream::Config| c.subjects.iter().cloned().collect::<BTreeSet<_>>();
    differ("subjects", subjects(have) == subjects(want));
    differ("max_age", have.max_age == want.max_age);
    differ("storage", have.storage == want.storage);
    differ("retention", have.retention == want.retention);
    differ(
        "num_replicas",
        have.num_replicas.max(1) == want.num_replicas.max(1),
    );
    differ(
        "duplicate_window",
        duplicate_window(have) == duplicate_window(want),
    );
    differ("discard", have.discard == want.discard);
    differ(
        "max_messages_per_subject",
        unlimited(have.max_messages_per_subject) == unlimited(want.max_messages_per_subject),
    );
    differ("allow_rollup", have.allow_rollup == want.allow_rollup);
    differ("deny_delete", have.deny_delete == want.deny_delete);
    differ("allow_direct", have.allow_direct == want.allow_direct);
    differ(
        "description",
        want.description.is_none() || have.description == want.description,
    );
    out
}

/// Settings of `want` that the consumer `have` does not match.
pub fn consumer_differences(have: &consumer::Config, want: &consumer::Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut differ = |name, same: bool| {
        if !same {
            out.push(name);
        }
    };
    differ("deliver_policy", have.deliver_policy == want.deliver_policy);
    differ("ack_policy", have.ack_policy == want.ack_policy);
    differ(
        "ack_wait",
        want.ack_wait.is_zero() || have.ack_wait == want.ack_wait,
    );
    differ(
        "max_deliver",
        unlimited(have.max_deliver) == unlimited(want.max_deliver),
    );
    differ("filter_subject", have.filter_subject == want.filter_subject);
    differ(
        "max_ack_pending",
        want.max_ack_pending == 0 || have.max_ack_pending == want.max_ack_pending,
    );
    differ(
        "description",
        want.description.is_none() || have.description == want.description,
    );
    out
}

/// The server stores "no limit" as -1 whether it was sent as 0 or -1.
fn unlimited(n: i64) -> i64 {
    if n <= 0 { -1 } else { n }
}

fn duplicate_window(c: &stream::Config) -> Duration {
    let window = if c.duplicate_window.is_zero() {
        DEFAULT_DUPLICATE_WINDOW
    } else {
        c.duplicate_window
    };
    if !c.max_age.is_zero() && window > c.max_age {
        c.max_age
    } else {
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(max_age: u64, dup: u64) -> stream::Config {
        stream::Config {
            name: "S".into(),
            subjects: vec!["a.>".into(), "b.>".into()],
            max_age: Duration::from_secs(max_age),
            duplicate_window: Duration::from_secs(dup),
            ..Default::default()
        }
    }

    #[test]
    fn server_normalisations_are_no_difference() {
        let want = stream(60, 0);
        let mut have = stream(60, 60);
        have.subjects.reverse();
        have.max_messages_per_subject = -1;
        have.num_replicas = 1;
        assert!(stream_differences(&have, &want).is_empty());
    }

    #[test]
    fn a_changed_setting_is_named() {
        let want = stream(60, 30);
        let mut have = stream(120, 30);
        have.num_replicas = 3;
        assert_eq!(
            stream_differences(&have, &want),
            ["max_age", "num_replicas"]
        );
        let want = consumer::Config {
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        };
        let have = consumer::Config {
            max_deliver: 5,
            ack_wait: Duration::from_secs(10),
            max_ack_pending: 1000,
            ..Default::default()
        };
        assert_eq!(consumer_differences(&have, &want), ["ack_wait"]);
    }
}
