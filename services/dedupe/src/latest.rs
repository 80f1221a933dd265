//! Dedupe of `content_published`: the latest checksum per content item.
//!
//! Page views and forms claim a key once per window; content announcements
//! cannot, because a site may publish version X, then Y, then revert to X
//! inside one window, and the revert must reach the CRM. So the KV key is the
//! content item and its value is `<checksum> <event id>` of the latest
//! announcement seen:
//!
//! - no entry (or its window ended): write ours, forward;
//! - the entry is ours (a redelivery after a crash): forward again — RC_EVENTS
//!   drops a repeated publish by its `Nats-Msg-Id`, the CRM by event id;
//! - same checksum, another event: a repeat, dropped;
//! - a different checksum: write ours over it with the entry's revision
//!   (compare-and-set, so two dedupe instances never both win), forward;
//! - a different checksum from an event *older* than the stored one (a late
//!   redelivery): forward without touching the entry, so the KV keeps naming
//!   the newest version; the CRM's catalog orders by event time, not
//!   arrival.
//!
//! Order matters, so one instance judges a batch's announcements one after
//! another in stream order (`batch::judge_all`). Two dedupe *instances*
//! holding announcements of the same item at the same moment can still judge
//! them out of order; the one outcome that costs anything is a revert (X, Y,
//! X) whose last X is judged before Y and dropped as a repeat, leaving the
//! CRM's catalog at Y until the item is announced again. Run one dedupe
//! instance, or have the site re-announce items periodically, where that
//! matters.

use crate::claim::{ClaimError, Verdict};
use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use bytes::Bytes;
use hookline_core::event::EventId;

/// How often a compare-and-set is retried when another instance wrote
/// between our read and our write.
const ATTEMPTS: usize = 4;

/// Judges one `content_published` against the latest checksum stored under
/// `key` in `store`.
pub async fn judge(
    store: &kv::Store,
    key: &str,
    checksum: &str,
    id: &EventId,
) -> Result<Verdict, ClaimError> {
    let value = Bytes::from(format!("{checksum} {id}"));
    for _ in 0..ATTEMPTS {
        let revision = match store.entry(key).await? {
            Some(entry) if entry.operation == Operation::Put => {
                let stored = String::from_utf8_lossy(&entry.value);
                let (sum, owner) = stored.split_once(' ').unwrap_or((&stored, ""));
                match decide(sum, owner, checksum, id.as_str()) {
                    Decision::Settled(verdict) => return Ok(verdict),
                    Decision::Replace => entry.revision,
                }
            }
            // A delete or purge marker: take the key over its revision.
            Some(entry) => entry.revision,
            None => 0,
        };
        match store.update(key, value.clone(), revision).await {
            Ok(_) => return Ok(Verdict::Mine),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ClaimError::Contended)
}

/// What the stored `<checksum> <owner>` means for event `id` with `checksum`.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Forward or drop without writing.
    Settled(Verdict),
    /// Write ours over the stored entry, then forward.
    Replace,
}

fn decide(stored_sum: &str, owner: &str, checksum: &str, id: &str) -> Decision {
    if owner == id {
        Decision::Settled(Verdict::Mine)
    } else if stored_sum == checksum {
        Decision::Settled(Verdict::Duplicate)
    } else if owner > id {
        // Event ids sort by the time they were minted: the stored one is
        // newer, and this is a late redelivery of an older version.
        Decision::Settled(Verdict::Mine)
    } else {
        Decision::Replace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_checksum_is_a_repeat_changed_checksum_replaces() {
        assert_eq!(
            decide("aa", "evt_1", "aa", "evt_2"),
            Decision::Settled(Verdict::Duplicate)
        );
        assert_eq!(decide("aa", "evt_1", "bb", "evt_2"), Decision::Replace);
    }

    #[test]
    fn redeliveries_pass_and_late_ones_leave_the_newest() {
        assert_eq!(
            decide("aa", "evt_2", "aa", "evt_2"),
            Decision::Settled(Verdict::Mine)
        );
        assert_eq!(
            decide("bb", "evt_3", "aa", "evt_2"),
            Decision::Settled(Verdict::Mine)
        );
    }
}
