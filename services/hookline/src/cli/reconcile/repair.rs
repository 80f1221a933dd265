//! `--repair`: re-deliver exactly the missing events through the webhook
//! that delivers to this CRM (`POST /v1/webhooks/{id}/resend/{event_id}` of
//! webhook-out's admin API), then wait until they are back in the CRM.
//!
//! Redelivery is safe: crm-ingest and every consumer dedupe by event id
//! (`processed_events`), so a consumer that already applied an event skips
//! it, and only what is really missing is written again.

use super::super::client::Client;
use anyhow::Context;
use hookline_core::WebhookId;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Resends `ids` through `webhook`; returns those the CRM accepted.
pub async fn resend(
    client: &Client,
    webhook: &WebhookId,
    ids: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut sent = Vec::new();
    for id in ids {
        let path = format!("/v1/webhooks/{webhook}/resend/{id}");
        let answer = client
            .call(reqwest::Method::POST, &path, None)
            .await
            .with_context(|| format!("resending {id} through {webhook}"))?;
        if answer["success"] == true {
            sent.push(id.clone());
        } else {
            tracing::warn!(event_id = %id, answer = %answer, "the CRM did not accept a resent event");
        }
    }
    Ok(sent)
}

/// Waits up to `limit` until every id of `ids` is in `content_events`;
/// returns those still absent.
pub async fn wait_back(
    pool: &PgPool,
    ids: &[String],
    limit: Duration,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + limit;
    loop {
        let present: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM content_events WHERE event_id = ANY($1)")
                .bind(ids)
                .fetch_all(pool)
                .await
                .context("reading content_events")?;
        let present: BTreeSet<String> = present.into_iter().collect();
        let absent: Vec<String> = ids
            .iter()
            .filter(|i| !present.contains(*i))
            .cloned()
            .collect();
        if absent.is_empty() || Instant::now() >= deadline {
            return Ok(absent);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
