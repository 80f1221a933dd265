//! The webhook described by `crm_webhook.*` (the legacy Node app's `CRM_WEBHOOK_URL`,
//! `CRM_SHARED_SECRET`, `CRM_WEBHOOK_KEY`), so the legacy Node app's one-CRM set-up
//! needs no API call.
//!
//! It is upserted on a unique index at every start-up: created once however
//! many instances start at the same time, and brought in line when the
//! config's URL, secret or key change (a changed secret rotates: the old one
//! keeps signing for 24 h). An operator's other changes (events, active)
//! are kept.

use crate::ssrf;
use crate::store::webhooks::{self, ConfigWebhook};
use crate::store::{Keyring, Webhook};
use chrono::Utc;
use hookline_core::{Config, EventType};
use sqlx::PgPool;

/// Ensures the config webhook exists when `crm_webhook.url` is set.
pub async fn ensure(
    pool: &PgPool,
    keys: &Keyring,
    config: &Config,
) -> Result<Option<Webhook>, sqlx::Error> {
    let c = &config.crm_webhook;
    let (Some(url), Some(secret)) = (&c.url, &c.secret) else {
        return Ok(None);
    };
    // The operator wrote this URL, so it may be private (the ingest on the
    // same network); only its shape is checked.
    if let Err(e) = ssrf::parse_url(url) {
        tracing::warn!(error = %e, "crm_webhook.url will fail at delivery time");
    }
    let wanted = ConfigWebhook {
        url: url.clone(),
        secret: secret.clone(),
        api_key: c.api_key.clone().filter(|k| !k.is_empty()),
        events: EventType::ALL
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
    };
    let keep_until = Utc::now() + crate::api::ROTATION_OVERLAP;
    let (webhook, created) = webhooks::upsert_config(pool, keys, &wanted, keep_until).await?;
    if created {
        tracing::info!(webhook = %webhook.id, url = %crate::redact::url(&webhook.url), "created the webhook from crm_webhook.* (profile rc-legacy)");
    }
    Ok(Some(webhook))
}
