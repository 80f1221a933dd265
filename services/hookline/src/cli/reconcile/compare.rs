//! One comparison: the RC's summary of `[from, to)` against the CRM's own
//! record, then the ids of only the hours whose digests differ, so the
//! traffic grows with the differences, not with the total.
//!
//! The CRM's record is `content_events` (the event store): one row per
//! event it has, whatever other consumers did. Rows are picked by `ts` (the
//! event's `occurred_at`, the same millisecond the id was minted in) with a
//! minute of slack, then bucketed exactly by the id's embedded time, as the
//! RC does.

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use hookline_core::EventType;
use hookline_core::health_sync::{Buckets, HourIds, HourSummary, Summary};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// What one comparison found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Start of the compared range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the compared range (exclusive).
    pub to: DateTime<Utc>,
    /// Hour × type buckets compared.
    pub buckets: usize,
    /// Buckets whose digests differed (their ids were fetched).
    pub differing: Vec<HourSummary>,
    /// Ids the RC has and the CRM does not.
    pub missing: Vec<String>,
    /// Ids the CRM has and the RC does not know.
    pub extra: Vec<String>,
    /// With `--repair`: the missing ids resent through the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<Vec<String>>,
    /// With `--repair`: missing ids still absent from the CRM after the wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_missing: Option<Vec<String>>,
}

/// The RC's health-sync API.
pub struct Rc {
    /// HTTP client.
    pub http: reqwest::Client,
    /// `reconcile.rc_url` without a trailing slash.
    pub base: String,
    /// `reconcile.api_key`.
    pub key: String,
}

impl Rc {
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .query(query)
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let msg = v["message"].as_str().unwrap_or(text.as_str());
            match status.as_u16() {
                401 => bail!("the RC refused reconcile.api_key (401): {msg}"),
                422 => bail!("the RC cannot answer for this range (422): {msg}"),
                _ => bail!("{url}: {status}: {msg}"),
            }
        }
        serde_json::from_str(&text).with_context(|| format!("{url} answered {text:?}"))
    }

    async fn summary(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Summary> {
        let q = [("from", from.to_rfc3339()), ("to", to.to_rfc3339())];
        self.get("/api/health-sync", &q).await
    }

    async fn ids(&self, hour: DateTime<Utc>, kind: &str) -> anyhow::Result<HourIds> {
        let q = [("hour", hour.to_rfc3339()), ("type", kind.to_string())];
        self.get("/api/health-sync/ids", &q).await
    }
}

/// The CRM's events of `[from, to)`, bucketed like the RC's.
pub async fn crm_buckets(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Buckets> {
    let slack = TimeDelta::minutes(1);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_id, event_name FROM content_events WHERE ts >= $1 AND ts < $2",
    )
    .bind(from - slack)
    .bind(to + slack)
    .fetch_all(pool)
    .await
    .context("reading content_events")?;
    let mut buckets = Buckets::new(from, to);
    for (id, name) in rows {
        if let Some(kind) = EventType::parse(&name) {
            buckets.add(kind, &id);
        }
    }
    Ok(buckets)
}

/// Compares `[from, to)`.
pub async fn compare(
    rc: &Rc,
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let theirs = rc.summary(from, to).await?;
    let ours = crm_buckets(pool, from, to).await?;
    let mine = ours.summary();
    let mut report = Report {
        from,
        to,
        buckets: theirs.hours.len(),
        ..Default::default()
    };
    for rc_hour in theirs.hours {
        let same = mine.hours.iter().any(|h| {
            h.hour == rc_hour.hour
                && h.event_type == rc_hour.event_type
                && h.digest == rc_hour.digest
        });
        if same {
            continue;
        }
        let Some(kind) = EventType::parse(&rc_hour.event_type) else {
            continue;
        };
        // The RC lists the whole hour; keep what lies inside the range.
        let mut rc_ids = Buckets::new(from, to);
        for id in rc.ids(rc_hour.hour, kind.as_str()).await?.ids {
            rc_ids.add(kind, &id);
        }
        let rc_set: BTreeSet<String> = rc_ids.ids(rc_hour.hour, kind).into_iter().collect();
        let crm_set: BTreeSet<String> = ours.ids(rc_hour.hour, kind).into_iter().collect();
        report.missing.extend(rc_set.difference(&crm_set).cloned());
        report.extra.extend(crm_set.difference(&rc_set).cloned());
        report.differing.push(rc_hour);
    }
    Ok(report)
}
