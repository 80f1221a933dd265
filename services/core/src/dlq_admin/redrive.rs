//! Redrive: hand a dead letter back to the one consumer or webhook that
//! gave up on it, and to nobody else.
//!
//! | entry | republished to | read by |
//! |---|---|---|
//! | `rc.dlq.<webhook id>` | `rc.events.redrive.<webhook id>` (`RC_EVENTS`) | that webhook's delivery worker; every other webhook acks it unseen |
//! | `rc.dlq.dedupe` | its original `rc.raw.<type>` subject (`RC_RAW`) | dedupe, the only reader of `RC_RAW` |
//! | `crm.dlq.<consumer>` | `crm.events.redrive.<consumer>` (`CRM_EVENTS`) | that consumer; every other consumer skips it |
//!
//! The copy carries `Nats-Msg-Id: redrive:<DLQ stream>:<seq>`, and the entry
//! is deleted only after the copy's PubAck: a redrive interrupted between
//! the two and run again is dropped by the target stream's duplicate
//! window, so the entry is never lost and never queued twice. Effects stay
//! exactly-once downstream: the CRM consumers skip an event already in
//! `processed_events`, and webhook receivers dedupe by `webhook-id`.

use super::{DlqError, Entry, Side, check_consumer, fetch};
use crate::WebhookId;
use crate::dlq;
use crate::names::Names;
use crate::publish::{self, Outgoing};
use async_nats::HeaderMap;
use async_nats::jetstream;
use serde::Serialize;
use std::collections::HashSet;

/// Header on a redriven copy naming the entry it came from (`RC_DLQ:12`).
pub const REDRIVEN_FROM: &str = "Hookline-Redriven-From";

/// The unprefixed subject prefix of webhook redrives in `RC_EVENTS`.
pub const RC_REDRIVE: &str = "rc.events.redrive.";
/// The unprefixed subject prefix of consumer redrives in `CRM_EVENTS`.
pub const CRM_REDRIVE: &str = "crm.events.redrive.";

/// What happened to one entry.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Redriven {
    /// `rc:<seq>` or `crm:<seq>`.
    pub id: String,
    /// The consumer name or webhook id it went back to.
    pub consumer: String,
    /// The event id, when known.
    pub event_id: Option<String>,
    /// The subject the copy was (or would be) published to.
    pub target: Option<String>,
    /// `redriven`, `would_redrive` (dry run) or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// Who a webhook dead letter may go back to: the webhooks that still exist.
/// `None` when the caller cannot tell (no `rc` database configured).
pub type KnownWebhooks = Option<HashSet<WebhookId>>;

/// Why one entry cannot go back (it stays where it is).
#[derive(Debug, thiserror::Error)]
pub enum NoTarget {
    /// The consumer header cannot be a subject token.
    #[error(transparent)]
    Consumer(#[from] DlqError),
    /// A dedupe entry without its `RC_RAW` subject (or another stack's).
    #[error("the entry does not say which RC_RAW subject it came from")]
    NoRawSubject,
    /// The webhook was deleted since.
    #[error("webhook {0} no longer exists; purge the entry instead")]
    WebhookGone(String),
    /// An `RC_DLQ` entry of neither dedupe nor a webhook.
    #[error("{0:?} is neither dedupe nor a webhook id")]
    UnknownReader(String),
}

/// The subject a dead letter goes back to, or why it cannot.
pub fn target(
    names: &Names,
    side: Side,
    entry: &Entry,
    known: &KnownWebhooks,
) -> Result<String, NoTarget> {
    let consumer = entry.consumer.as_str();
    check_consumer(consumer)?;
    match side {
        Side::Rc if consumer == dlq::DEDUPE_CONSUMER => {
            let raw_root = names.subject("rc.raw.");
            match &entry.source_subject {
                Some(s) if s.starts_with(&raw_root) => Ok(s.clone()),
                _ => Err(NoTarget::NoRawSubject),
            }
        }
        Side::Rc if consumer.starts_with("wh_") => match known {
            Some(ids) if !ids.contains(consumer) => Err(NoTarget::WebhookGone(consumer.into())),
            _ => Ok(names.subject(&format!("{RC_REDRIVE}{consumer}"))),
        },
        Side::Rc => Err(NoTarget::UnknownReader(consumer.into())),
        Side::Crm => Ok(names.subject(&format!("{CRM_REDRIVE}{consumer}"))),
    }
}

/// Redrives the given entries (see the module docs), one by one; a failure
/// leaves that entry in place and goes on with the next.
pub async fn redrive(
    js: &jetstream::Context,
    names: &Names,
    refs: &[(Option<Side>, u64)],
    known: &KnownWebhooks,
    dry_run: bool,
) -> Vec<Redriven> {
    let mut out = Vec::with_capacity(refs.len());
    for &(side, seq) in refs {
        out.push(match one(js, names, side, seq, known, dry_run).await {
            Ok(r) => r,
            Err(e) => Redriven {
                id: match side {
                    Some(s) => format!("{}:{seq}", s.as_str()),
                    None => seq.to_string(),
                },
                consumer: String::new(),
                event_id: None,
                target: None,
                status: "failed".into(),
                error: Some(e.to_string()),
            },
        });
    }
    out
}

async fn one(
    js: &jetstream::Context,
    names: &Names,
    side: Option<Side>,
    seq: u64,
    known: &KnownWebhooks,
    dry_run: bool,
) -> Result<Redriven, DlqError> {
    let (side, msg) = fetch(js, names, side, seq).await?;
    let entry = super::entry(
        side,
        seq,
        &msg.subject,
        Some(&msg.headers),
        Default::default(),
        None,
    );
    let mut result = Redriven {
        id: entry.id.clone(),
        consumer: entry.consumer.clone(),
        event_id: entry.event_id.clone(),
        target: None,
        status: "failed".into(),
        error: None,
    };
    let subject = match target(names, side, &entry, known) {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(e.to_string());
            return Ok(result);
        }
    };
    result.target = Some(subject.clone());
    if dry_run {
        result.status = "would_redrive".into();
        return Ok(result);
    }
    let stream_name = names.stream(side.stream());
    let mut headers = HeaderMap::new();
    headers.insert(REDRIVEN_FROM, format!("{stream_name}:{seq}").as_str());
    if let Some(id) = &entry.event_id {
        headers.insert(dlq::EVENT_ID, id.as_str());
    }
    let copy = Outgoing {
        subject,
        msg_id: format!("redrive:{stream_name}:{seq}"),
        headers: Some(headers),
        payload: msg.payload.clone(),
    };
    if let Err(e) = publish::publish(js, &copy).await {
        result.error = Some(format!("not redriven (the entry stays): {e}"));
        return Ok(result);
    }
    let deleted: Result<_, async_nats::Error> = match js.get_stream(&stream_name).await {
        Ok(stream) => stream.delete_message(seq).await.map_err(Into::into),
        Err(e) => Err(e.into()),
    };
    match deleted {
        Ok(_) => {
            tracing::info!(entry = %entry.id, consumer = %entry.consumer, event_id = ?entry.event_id, "dead letter redriven");
            result.status = "redriven".into();
        }
        Err(e) => {
            result.error = Some(format!(
                "redriven, but the entry could not be removed ({e}); redriving it again soon is harmless"
            ));
        }
    }
    Ok(result)
}

/// Deletes the given entries; returns the ids removed.
pub async fn purge(
    js: &jetstream::Context,
    names: &Names,
    refs: &[(Option<Side>, u64)],
) -> Result<Vec<String>, DlqError> {
    let mut removed = Vec::new();
    for &(side, seq) in refs {
        let (side, _) = fetch(js, names, side, seq).await?;
        let stream = js
            .get_stream(names.stream(side.stream()))
            .await
            .map_err(super::nats_err)?;
        stream.delete_message(seq).await.map_err(super::nats_err)?;
        removed.push(format!("{}:{seq}", side.as_str()));
    }
    Ok(removed)
}

/// Deletes every entry of one stream (or both), or of one consumer; returns
/// how many were removed.
pub async fn purge_all(
    js: &jetstream::Context,
    names: &Names,
    side: Option<Side>,
    consumer: Option<&str>,
) -> Result<u64, DlqError> {
    if let Some(c) = consumer {
        check_consumer(c)?;
    }
    let mut purged = 0;
    for s in Side::ALL {
        if side.is_some_and(|want| want != s) {
            continue;
        }
        let Ok(stream) = js.get_stream(names.stream(s.stream())).await else {
            continue;
        };
        let subject = match consumer {
            Some(c) => names.subject(&s.subject(c)),
            None => names.subject(&format!("{}.dlq.>", s.as_str())),
        };
        let res = stream
            .purge()
            .filter(subject)
            .await
            .map_err(super::nats_err)?;
        purged += res.purged;
    }
    Ok(purged)
}

/// The webhook a message on an `RC_EVENTS` subject is redriven to, if it is
/// a redrive (`rc.events.redrive.<webhook id>`).
pub fn rc_redrive_target<'a>(names: &Names, subject: &'a str) -> Option<&'a str> {
    names.unprefixed(subject).strip_prefix(RC_REDRIVE)
}

/// The consumer a message on a `CRM_EVENTS` subject is redriven to, if it is
/// a redrive (`crm.events.redrive.<consumer>`).
pub fn crm_redrive_target<'a>(names: &Names, subject: &'a str) -> Option<&'a str> {
    names.unprefixed(subject).strip_prefix(CRM_REDRIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(side: Side, consumer: &str, source: Option<&str>) -> Entry {
        super::super::entry(side, 1, "x", None, Default::default(), None).with(consumer, source)
    }

    impl Entry {
        fn with(mut self, consumer: &str, source: Option<&str>) -> Self {
            self.consumer = consumer.into();
            self.source_subject = source.map(Into::into);
            self
        }
    }

    #[test]
    fn each_entry_goes_back_to_its_own_reader_only() {
        let n = Names::new("P");
        let none: KnownWebhooks = None;
        let wh = entry(Side::Rc, "wh_A", Some("P.rc.events.page_view"));
        assert_eq!(
            target(&n, Side::Rc, &wh, &none).unwrap(),
            "P.rc.events.redrive.wh_A"
        );
        let crm = entry(Side::Crm, "event-store", None);
        assert_eq!(
            target(&n, Side::Crm, &crm, &none).unwrap(),
            "P.crm.events.redrive.event-store"
        );
        let raw = entry(Side::Rc, "dedupe", Some("P.rc.raw.page_view"));
        assert_eq!(
            target(&n, Side::Rc, &raw, &none).unwrap(),
            "P.rc.raw.page_view"
        );
        let elsewhere = entry(Side::Rc, "dedupe", Some("Q.rc.raw.page_view"));
        assert!(target(&n, Side::Rc, &elsewhere, &none).is_err());
        let gone: KnownWebhooks = Some(HashSet::from([WebhookId::parse("wh_B").unwrap()]));
        assert!(target(&n, Side::Rc, &wh, &gone).is_err());
        assert!(target(&n, Side::Rc, &entry(Side::Rc, "other", None), &none).is_err());
    }

    #[test]
    fn redrive_subjects_name_their_target() {
        let n = Names::new("P");
        assert_eq!(
            rc_redrive_target(&n, "P.rc.events.redrive.wh_A"),
            Some("wh_A")
        );
        assert_eq!(rc_redrive_target(&n, "P.rc.events.page_view"), None);
        assert_eq!(
            crm_redrive_target(&n, "P.crm.events.redrive.automation"),
            Some("automation")
        );
    }
}
