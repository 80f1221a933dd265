//! What the RC side (rc-edge's `GET /api/health-sync`) and the CRM side
//! (`hookline reconcile`) must agree on to compare their records of events
//! hour by hour: the bucketing key, the digest and the wire types.
//!
//! **Bucket.** An event belongs to the UTC hour of the millisecond embedded
//! in its `evt_` id (a UUIDv7 minted once, at the edge: [`minted_at`]). Both
//! sides read the same bits, so they bucket every event identically, however
//! late it was stored on either side. Ids that are not UUIDv7 (a sender's
//! own, or one crm-ingest derived from a legacy body) never came through the
//! edge and are not compared.
//!
//! **Digest.** Lowercase hex SHA-256 of the bucket's ids, sorted
//! byte-wise, joined by `"\n"` (no trailing newline); an empty bucket's
//! digest is the SHA-256 of the empty string. Equal digests mean equal sets,
//! so only hours whose digests differ need their ids fetched.

use crate::event::EventType;
use crate::mint::minted_at;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The event types compared: those that reach the CRM's event store.
pub const TYPES: [EventType; 2] = [EventType::PageView, EventType::FormSubmission];

/// Longest range one summary covers (a week of hours).
pub const MAX_RANGE: TimeDelta = TimeDelta::days(7);

/// One hour of one type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourSummary {
    /// Start of the UTC hour (RFC 3339).
    pub hour: DateTime<Utc>,
    /// `page_view` or `form_submission`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unique events of that type minted in that hour (and inside the
    /// requested range).
    pub count: u64,
    /// Hex SHA-256 of the sorted ids joined by `"\n"`.
    pub digest: String,
}

/// `GET /api/health-sync`: every hour of the range, for every type, empty
/// hours included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// One entry per hour and type, ordered by hour, then type.
    pub hours: Vec<HourSummary>,
}

/// `GET /api/health-sync/ids`: the ids of one hour of one type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourIds {
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// The type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The ids, sorted.
    pub ids: Vec<String>,
}

/// The start of the hour `t` falls in.
pub fn hour_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// The digest of a set of ids (see the module docs).
pub fn digest<'a>(ids: impl IntoIterator<Item = &'a String>) -> String {
    let mut hash = Sha256::new();
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            hash.update(b"\n");
        }
        hash.update(id.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Ids grouped by (hour, type), restricted to `[from, to)` by their minted
/// time. Both sides fill one and compare [`Buckets::summary`]s.
#[derive(Clone, Debug)]
pub struct Buckets {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ids: BTreeMap<(DateTime<Utc>, &'static str), BTreeSet<String>>,
}

impl Buckets {
    /// Empty buckets for every hour and type of `[from, to)`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let mut ids = BTreeMap::new();
        let mut hour = hour_start(from);
        while hour < to {
            for t in TYPES {
                ids.insert((hour, t.as_str()), BTreeSet::new());
            }
            hour += TimeDelta::hours(1);
        }
        Self { from, to, ids }
    }

    /// Adds an id when it is an edge-minted id inside the range of a
    /// compared type; returns whether it was kept.
    pub fn add(&mut self, event_type: EventType, id: &str) -> bool {
        let Some(at) = minted_at(id) else {
            return false;
        };
        if at < self.from || at >= self.to {
            return false;
        }
        match self.ids.get_mut(&(hour_start(at), event_type.as_str())) {
            Some(set) => {
                set.insert(id.to_string());
                true
            }
            None => false,
        }
    }

    /// The ids of one hour and type (empty when outside the range).
    pub fn ids(&self, hour: DateTime<Utc>, event_type: EventType) -> Vec<String> {
        self.ids
            .get(&(hour, event_type.as_str()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Counts and digests, ordered by hour then type.
    pub fn summary(&self) -> Summary {
        let hours = self
            .ids
            .iter()
            .map(|((hour, t), set)| HourSummary {
                hour: *hour,
                event_type: t.to_string(),
                count: set.len() as u64,
                digest: digest(set),
            })
            .collect();
        Summary {
            from: self.from,
            to: self.to,
            hours,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventId;

    fn id_at(ms: i64) -> String {
        let v = ((ms as u128) << 80) | (0x7u128 << 76) | (0x2u128 << 62) | 42;
        EventId::from_uuid(uuid::Uuid::from_u128(v))
            .as_str()
            .to_string()
    }

    #[test]
    fn the_digest_is_sha256_of_the_sorted_ids_joined_by_newlines() {
        let ids: BTreeSet<String> = ["b".to_string(), "a".to_string()].into();
        let mut h = Sha256::new();
        h.update(b"a\nb");
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest(&ids), want);
        assert_eq!(
            digest(&BTreeSet::new()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn events_fall_in_the_hour_of_their_minted_time_inside_the_range() {
        let from = DateTime::parse_from_rfc3339("2026-11-29T10:30:00Z")
            .unwrap()
            .to_utc();
        let to = from + TimeDelta::hours(2);
        let mut b = Buckets::new(from, to);
        let inside = id_at((from + TimeDelta::minutes(45)).timestamp_millis());
        let before = id_at((from - TimeDelta::minutes(1)).timestamp_millis());
        assert!(b.add(EventType::PageView, &inside));
        assert!(b.add(EventType::PageView, &inside), "a repeat is no error");
        assert!(!b.add(EventType::PageView, &before));
        assert!(!b.add(EventType::PageView, "legacy-1"));
        let s = b.summary();
        // 10:00, 11:00 and 12:00, two types each.
        assert_eq!(s.hours.len(), 6);
        let eleven = hour_start(from + TimeDelta::minutes(45));
        assert_eq!(b.ids(eleven, EventType::PageView), [inside]);
        let counted: u64 = s.hours.iter().map(|h| h.count).sum();
        assert_eq!(counted, 1);
    }
}
