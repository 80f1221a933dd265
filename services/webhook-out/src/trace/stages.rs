//! Where each stream is searched for one event, and how (see [`find`]):
//! every search but one follows id order, which holds however far a hop
//! lags behind the edge; the exceptions are a publish the edge retried for
//! seconds and a delivery that succeeded only after retries, found by the
//! time they were stored.
//!
//! [`find`]: super::find

use super::find::{Found, Search, Window, locate};
use super::{Delivery, Sources};
use chrono::{DateTime, Duration, Utc};
use hookline_core::names::{CRM_EVENTS, RC_EVENTS, RC_RAW};

/// How far out of id order a message can sit in a stream: the clock skew
/// between edges and the time from mint to PubAck, both well under this.
const ORDER_SLACK: i64 = 1;
/// How long after its mint time a retried publish can reach `RC_RAW`.
const RAW_SLACK: i64 = 10;
/// How long after its successful delivery the CRM copy can be stored.
const HOP_SLACK: i64 = 60;

fn around(from: DateTime<Utc>, until: DateTime<Utc>) -> Window {
    Window {
        from: from - Duration::seconds(ORDER_SLACK),
        until: until + Duration::seconds(ORDER_SLACK),
    }
}

/// The raw message on `RC_RAW`: the edge publishes right after minting, so
/// among the ids of its time; else (a publish retried while NATS was away)
/// by the time it was stored.
pub(super) async fn edge(
    src: &Sources<'_>,
    id: &str,
    minted: DateTime<Utc>,
    blind: &mut Vec<String>,
) -> Option<Found> {
    let raw = (RC_RAW, "rc.raw.>");
    let in_order = Search::IdOrder(around(minted, minted));
    if let Some(found) = look(src, id, raw, in_order, blind).await {
        return Some(found);
    }
    let from = minted - Duration::seconds(2);
    let late = Search::StoredTime(Window {
        from,
        until: from + Duration::seconds(RAW_SLACK),
    });
    look(src, id, raw, late, blind).await
}

/// dedupe's copy on `RC_EVENTS`: dedupe forwards `RC_RAW` in order, so the
/// copy sits among the ids stored next to the raw message.
pub(super) async fn forwarded(
    src: &Sources<'_>,
    id: &str,
    minted: DateTime<Utc>,
    raw: Option<&Found>,
    blind: &mut Vec<String>,
) -> Option<Found> {
    let stored = raw.map_or(minted, |r| r.at);
    let search = Search::IdOrder(around(minted.min(stored), minted.max(stored)));
    look(src, id, (RC_EVENTS, "rc.events.>"), search, blind).await
}

/// crm-ingest's copy on `CRM_EVENTS`, published when a delivery succeeds:
/// from that time when the attempt log shows it (a retried delivery arrives
/// out of id order), else among the ids near the mint time (a stack with
/// only the CRM side).
pub(super) async fn ingested(
    src: &Sources<'_>,
    id: &str,
    minted: DateTime<Utc>,
    deliveries: &[Delivery],
    blind: &mut Vec<String>,
) -> Option<Found> {
    let succeeded = deliveries
        .iter()
        .flat_map(|d| &d.attempts)
        .filter(|a| a.success)
        .map(|a| a.attempted_at - Duration::seconds(2))
        .min();
    let search = match succeeded {
        Some(from) => Search::StoredTime(Window {
            from,
            until: from + Duration::seconds(HOP_SLACK),
        }),
        None => Search::IdOrder(around(minted, minted)),
    };
    look(src, id, (CRM_EVENTS, "crm.events.>"), search, blind).await
}

/// Searches one stream (`(base name, unprefixed filter)`); a stream it
/// cannot read is a blind spot.
async fn look(
    src: &Sources<'_>,
    id: &str,
    (base, filter): (&str, &str),
    search: Search,
    blind: &mut Vec<String>,
) -> Option<Found> {
    let stream = src.names.stream(base);
    match locate(src.js, &stream, src.names.subject(filter), search, id).await {
        Ok(found) => found,
        Err(e) => {
            blind.push(format!("{base}: {}", hookline_core::error_text(&e)));
            None
        }
    }
}
