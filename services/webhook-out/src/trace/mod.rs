//! The journey of one event across every hop: `hookline trace EVENT_ID` and
//! `GET /v1/events/{id}`.
//!
//! Accepted at the edge (`RC_RAW`), dedupe's verdict, forwarded on
//! `RC_EVENTS`, each webhook's deliveries (the attempt log), ingested into
//! `CRM_EVENTS`, each CRM consumer's `processed_events` row, and any dead
//! letter. Streams are searched only around the event's UUIDv7 time (see
//! [`find`]), so a trace costs the same with a million events stored.
//!
//! Either database may be out of reach (a stack with only the RC side or only
//! the CRM side): the trace then says, in `blind_spots`, which half it could
//! not see, and shows the rest.

pub mod find;
mod rc;
mod stages;

use crate::api::AttemptOut;
use async_nats::jetstream;
use chrono::{DateTime, Duration, Utc};
use find::{Found, minted_at};
use futures::TryStreamExt;
use hookline_core::WebhookId;
use hookline_core::dlq_admin::{self, Entry, Filter};
use hookline_core::event::{Event, RawEvent};
use hookline_core::names::{CRM_EVENTS, Names};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// Why there is no trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Not an `evt_<UUIDv7>` id, so no time says where to look.
    #[error("{0:?} is not a hookline event id (evt_ followed by a UUIDv7)")]
    NotAnEventId(String),
    /// Nothing anywhere mentions the id.
    #[error(
        "no trace of event {0} near its time in any stream, the attempt log or processed_events"
    )]
    NotFound(String),
}

/// Why one database of a trace cannot be read (the trace shows the other
/// half and names this one in `blind_spots`).
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// The configured URL does not parse.
    #[error("{0} is not a valid URL")]
    BadUrl(&'static str),
    /// Connecting failed.
    #[error("{key} {url} unreachable: {source}")]
    Connect {
        /// The config key of the URL.
        key: &'static str,
        /// The URL, password redacted.
        url: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
}

/// What a trace reads from.
pub struct Sources<'a> {
    /// JetStream.
    pub js: &'a jetstream::Context,
    /// This stack's names.
    pub names: &'a Names,
    /// The `rc` database (attempt log), when reachable.
    pub rc: Result<&'a PgPool, &'a Unreachable>,
    /// The `crm` database (`processed_events`), when reachable.
    pub crm: Result<&'a PgPool, &'a Unreachable>,
}

/// One event's journey.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trace {
    /// The event id.
    pub id: String,
    /// `page_view`, `form_submission`, or null when no message was found.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// When the edge's id was minted (the UUIDv7 time).
    pub minted_at: DateTime<Utc>,
    /// Its raw message in `RC_RAW`, if still there.
    pub edge: Option<Stored>,
    /// What dedupe decided.
    pub dedupe: Dedupe,
    /// Its message in `RC_EVENTS`, if forwarded.
    pub rc_events: Option<Stored>,
    /// One per webhook that has attempts or is subscribed.
    pub deliveries: Vec<Delivery>,
    /// The CRM side.
    pub crm: Crm,
    /// Dead letters of this event, in either stream.
    pub dead_letters: Vec<Entry>,
    /// What the trace could not see, and why.
    pub blind_spots: Vec<String>,
}

/// A message found in a stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stored {
    /// Stream sequence.
    pub seq: u64,
    /// When the stream stored it.
    pub at: DateTime<Utc>,
    /// Its subject.
    pub subject: String,
}

impl From<&Found> for Stored {
    fn from(f: &Found) -> Self {
        Self {
            seq: f.seq,
            at: f.at,
            subject: f.subject.clone(),
        }
    }
}

/// Dedupe's verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dedupe {
    /// `unique`, `duplicate`, `bot` or `pending`.
    pub verdict: String,
    /// For a duplicate: the event id that owns its key.
    pub duplicate_of: Option<String>,
    /// What else is worth knowing.
    pub note: Option<String>,
}

/// One webhook's deliveries of the event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// Webhook id.
    #[schema(value_type = String)]
    pub webhook: WebhookId,
    /// `delivered`, `retrying`, `dead` or `pending`.
    pub status: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptOut>,
}

/// The CRM side of the journey.
#[derive(Debug, Serialize, ToSchema)]
pub struct Crm {
    /// Its message in `CRM_EVENTS`, if ingested.
    pub ingested: Option<Stored>,
    /// Every CRM consumer, with when it applied the event (null: not yet).
    pub consumers: Vec<ConsumerState>,
}

/// One consumer's progress on the event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsumerState {
    /// Consumer name.
    pub name: String,
    /// When its effect committed.
    pub processed_at: Option<DateTime<Utc>>,
}

/// Traces `id`.
pub async fn trace(src: &Sources<'_>, id: &str) -> Result<Trace, TraceError> {
    let minted = minted_at(id).ok_or_else(|| TraceError::NotAnEventId(id.to_string()))?;
    let mut blind = Vec::new();
    let raw = stages::edge(src, id, minted, &mut blind).await;
    let (mut rc_blind, mut dlq_blind, mut crm_blind) = (Vec::new(), Vec::new(), Vec::new());
    let (forwarded, dead_letters, consumers) = tokio::join!(
        stages::forwarded(src, id, minted, raw.as_ref(), &mut rc_blind),
        dead_letters(src, id, minted - Duration::seconds(2), &mut dlq_blind),
        consumers(src, id, &mut crm_blind),
    );
    blind.extend(rc_blind.into_iter().chain(dlq_blind));
    let kind = kind_of(raw.as_ref(), forwarded.as_ref());
    let dedupe = rc::dedupe(src.js, src.names, id, raw.as_ref(), forwarded.is_some()).await;
    // Duplicates and bots never reach a webhook: no subscriber waits for them.
    let expected = kind
        .as_deref()
        .filter(|_| matches!(dedupe.verdict.as_str(), "unique" | "pending"));
    let deliveries = deliveries(src, id, expected, minted, &dead_letters, &mut blind).await;
    let ingested = stages::ingested(src, id, minted, &deliveries, &mut blind).await;
    blind.extend(crm_blind);
    let kind = kind.or_else(|| ingested.as_ref().and_then(|f| event_kind(&f.payload)));
    let found_anything = raw.is_some()
        || forwarded.is_some()
        || ingested.is_some()
        || !dead_letters.is_empty()
        || deliveries.iter().any(|d| !d.attempts.is_empty())
        || consumers.iter().any(|c| c.processed_at.is_some());
    if !found_anything && blind.is_empty() {
        return Err(TraceError::NotFound(id.to_string()));
    }
    Ok(Trace {
        id: id.to_string(),
        kind,
        minted_at: minted,
        edge: raw.as_ref().map(Stored::from),
        dedupe,
        rc_events: forwarded.as_ref().map(Stored::from),
        deliveries,
        crm: Crm {
            ingested: ingested.as_ref().map(Stored::from),
            consumers,
        },
        dead_letters,
        blind_spots: blind,
    })
}

/// Each subscribed webhook's deliveries, from the attempt log.
async fn deliveries(
    src: &Sources<'_>,
    id: &str,
    expected: Option<&str>,
    minted: DateTime<Utc>,
    dead_letters: &[Entry],
    blind: &mut Vec<String>,
) -> Vec<Delivery> {
    match &src.rc {
        Ok(pool) => rc::deliveries(pool, id, expected, minted, dead_letters)
            .await
            .unwrap_or_else(|e| {
                blind.push(format!("deliveries (rc database): {e}"));
                Vec::new()
            }),
        Err(e) => {
            blind.push(format!("deliveries: cannot see the RC side: {e}"));
            Vec::new()
        }
    }
}

fn event_kind(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<Event>(payload)
        .ok()
        .map(|e| e.event_type().as_str().to_string())
}

fn kind_of(raw: Option<&Found>, forwarded: Option<&Found>) -> Option<String> {
    raw.and_then(|r| serde_json::from_slice::<RawEvent>(&r.payload).ok())
        .map(|r| r.event.event_type().as_str().to_string())
        .or_else(|| forwarded.and_then(|f| event_kind(&f.payload)))
}

async fn dead_letters(
    src: &Sources<'_>,
    id: &str,
    since: DateTime<Utc>,
    blind: &mut Vec<String>,
) -> Vec<Entry> {
    let filter = Filter {
        since: Some(since),
        ..Default::default()
    };
    match dlq_admin::list(src.js, src.names, &filter).await {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| e.event_id.as_deref() == Some(id))
            .collect(),
        Err(e) => {
            blind.push(format!("dead letters: {e}"));
            Vec::new()
        }
    }
}

/// Every durable consumer of `CRM_EVENTS` and when it applied the event.
async fn consumers(src: &Sources<'_>, id: &str, blind: &mut Vec<String>) -> Vec<ConsumerState> {
    // Durable consumers only: traces and listings leave short-lived
    // ephemeral ones behind for a few seconds.
    let stream = src.js.get_stream(src.names.stream(CRM_EVENTS)).await;
    let infos: Result<Vec<_>, async_nats::Error> = match stream {
        Ok(stream) => stream.consumers().try_collect().await.map_err(Into::into),
        Err(e) => Err(e.into()),
    };
    let names: Vec<String> = match infos {
        Ok(infos) => infos
            .into_iter()
            .filter(|i| i.config.durable_name.is_some())
            .map(|i| i.name)
            .collect(),
        Err(e) => {
            blind.push(format!("CRM consumers: {e}"));
            return Vec::new();
        }
    };
    let pool = match &src.crm {
        Ok(pool) => pool,
        Err(e) => {
            blind.push(format!("CRM consumers: cannot see the CRM side: {e}"));
            return Vec::new();
        }
    };
    let rows: Result<Vec<(String, DateTime<Utc>)>, _> = sqlx::query_as(
        "SELECT consumer, processed_at FROM processed_events \
         WHERE consumer = ANY($1) AND event_id = $2",
    )
    .bind(&names)
    .bind(id)
    .fetch_all(*pool)
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            blind.push(format!("CRM consumers (crm database): {e}"));
            return Vec::new();
        }
    };
    let mut out: Vec<ConsumerState> = names
        .into_iter()
        .map(|name| ConsumerState {
            processed_at: rows.iter().find(|(c, _)| *c == name).map(|(_, t)| *t),
            name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
