//! The RC half of a trace: dedupe's verdict and each webhook's deliveries.

use super::{Dedupe, Delivery, find::Found};
use crate::api::AttemptOut;
use crate::store::attempts::{self, AttemptRow};
use crate::store::{WebhookId, webhooks};
use async_nats::jetstream::{self, consumer::pull, kv};
use chrono::{DateTime, Utc};
use dedupe::key::{Class, classify};
use hookline_core::dlq_admin::Entry;
use hookline_core::event::RawEvent;
use hookline_core::names::{Names, RC_RAW};
use sqlx::PgPool;
use std::collections::BTreeMap;

fn verdict(v: &str, duplicate_of: Option<String>, note: Option<&str>) -> Dedupe {
    Dedupe {
        verdict: v.to_string(),
        duplicate_of,
        note: note.map(str::to_string),
    }
}

/// Dedupe's verdict on the raw message `raw` of event `id`: from where the
/// event went (`RC_EVENTS`), the raw event itself (a bot), the owner of its
/// key in the dedupe bucket, and whether dedupe has settled it yet.
pub async fn dedupe(
    js: &jetstream::Context,
    names: &Names,
    id: &str,
    raw: Option<&Found>,
    forwarded: bool,
) -> Dedupe {
    if forwarded {
        return verdict("unique", None, None);
    }
    let Some(raw) = raw else {
        return verdict("pending", None, Some("not found in RC_RAW or RC_EVENTS"));
    };
    let Ok(event) = serde_json::from_slice::<RawEvent>(&raw.payload) else {
        return verdict(
            "pending",
            None,
            Some("the raw message is not a raw event; see dead_letters"),
        );
    };
    let kind = event.event.event_type();
    let keys = match classify(&event) {
        Class::Bot => return verdict("bot", None, None),
        Class::Unidentified => None,
        Class::Keyed(keys) => Some(keys),
        Class::Latest { key, checksum } => {
            if let Some(v) = latest(js, names, kind, &key, &checksum, id).await {
                return v;
            }
            None
        }
    };
    if let Some(keys) = keys
        && let Ok(store) = js.get_key_value(names.dedupe_bucket(kind)).await
    {
        for key in std::iter::once(&keys.current).chain(keys.previous.as_ref()) {
            if let Some(owner) = owner(&store, key).await
                && owner != id
            {
                return verdict("duplicate", Some(owner), None);
            }
        }
        if owner(&store, &keys.current).await.as_deref() == Some(id) {
            return verdict(
                "unique",
                None,
                Some("claimed its key; not found on RC_EVENTS yet"),
            );
        }
    }
    if settled(js, names, raw.seq).await {
        verdict(
            "pending",
            None,
            Some(
                "settled by dedupe, but its key has expired and RC_EVENTS does not hold it near its time",
            ),
        )
    } else {
        verdict("pending", None, None)
    }
}

/// A `content_published`'s verdict from its item's latest entry
/// (`<checksum> <event id>`): its own id is unique, another id with the same
/// checksum is what it repeated; anything else cannot be told from the KV.
async fn latest(
    js: &jetstream::Context,
    names: &Names,
    kind: hookline_core::EventType,
    key: &str,
    checksum: &str,
    id: &str,
) -> Option<Dedupe> {
    let store = js.get_key_value(names.dedupe_bucket(kind)).await.ok()?;
    let value = owner(&store, key).await?;
    let (sum, owner) = value.split_once(' ')?;
    if owner == id {
        Some(verdict(
            "unique",
            None,
            Some("claimed its key; not found on RC_EVENTS yet"),
        ))
    } else if sum == checksum {
        Some(verdict("duplicate", Some(owner.to_string()), None))
    } else {
        None
    }
}

async fn owner(store: &kv::Store, key: &str) -> Option<String> {
    match store.entry(key).await {
        Ok(Some(e)) if e.operation == kv::Operation::Put => {
            Some(String::from_utf8_lossy(&e.value).into_owned())
        }
        _ => None,
    }
}

/// Whether dedupe's ack floor has passed `seq`.
async fn settled(js: &jetstream::Context, names: &Names, seq: u64) -> bool {
    let Ok(stream) = js.get_stream(names.stream(RC_RAW)).await else {
        return false;
    };
    let Ok(mut consumer) = stream
        .get_consumer::<pull::Config>(dedupe::CONSUMER_NAME)
        .await
    else {
        return false;
    };
    consumer
        .info()
        .await
        .is_ok_and(|i| i.ack_floor.stream_sequence >= seq)
}

/// Each webhook's deliveries of the event: every webhook with an attempt,
/// and — for an event that is (or will be) forwarded, `kind` known — every
/// active one subscribed to its type when it was minted.
pub async fn deliveries(
    pool: &PgPool,
    id: &str,
    kind: Option<&str>,
    minted: DateTime<Utc>,
    dead: &[Entry],
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = attempts::for_event(pool, id).await?;
    let mut by_webhook: BTreeMap<WebhookId, Vec<AttemptRow>> = BTreeMap::new();
    let subscribers = match kind {
        Some(_) => webhooks::subscriptions(pool).await?,
        None => Vec::new(),
    };
    for w in subscribers {
        let subscribed = kind.is_some_and(|k| w.wants(k)) && w.active && w.created_at <= minted;
        if subscribed {
            by_webhook.entry(w.id.clone()).or_default();
        }
    }
    for r in rows {
        by_webhook.entry(r.webhook_id.clone()).or_default().push(r);
    }
    Ok(by_webhook
        .into_iter()
        .map(|(webhook, rows)| {
            let dead_lettered = dead
                .iter()
                .any(|e| e.webhook.as_deref() == Some(webhook.as_str()));
            let status = if rows.iter().any(|r| r.success) {
                "delivered"
            } else if dead_lettered || rows.iter().any(|r| r.exhausted) {
                "dead"
            } else if rows.is_empty() {
                "pending"
            } else {
                "retrying"
            };
            Delivery {
                webhook,
                status: status.to_string(),
                attempts: rows.into_iter().map(AttemptOut::from).collect(),
            }
        })
        .collect())
}
