//! The row of the webhook made from `crm_webhook.*`, kept in line with the
//! config at every start-up.

use super::keyring::Keyring;
use super::webhooks::{COLUMNS, Webhook, unseal};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The config webhook's settings (`crm_webhook.*`).
#[derive(Clone)]
pub struct ConfigWebhook {
    /// `crm_webhook.url`.
    pub url: String,
    /// `crm_webhook.secret`, used as-is.
    pub secret: String,
    /// `crm_webhook.api_key`.
    pub api_key: Option<String>,
    /// Every event type.
    pub events: Vec<String>,
}

crate::redacted_debug!(ConfigWebhook { url, events } hides { secret, api_key });

/// Creates the config webhook if absent, or brings its URL, secret and key
/// in line with the config. The insert is one statement on a unique index,
/// so concurrent start-ups create it once; a change is read, compared open
/// (sealed values never compare equal) and written under a row lock. A
/// changed secret rotates: the old one keeps signing until `keep_until`.
/// Returns the row and whether it was created.
pub async fn upsert_config(
    pool: &PgPool,
    keys: &Keyring,
    cfg: &ConfigWebhook,
    keep_until: DateTime<Utc>,
) -> Result<(Webhook, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "INSERT INTO webhooks (id, url, events, profile, description, secret, api_key, source, secrets_sealed) \
         VALUES ($1, $2, $3, 'rc-legacy', 'from config (crm_webhook.*)', $4, $5, 'config', true) \
         ON CONFLICT (source) WHERE source = 'config' DO NOTHING RETURNING {COLUMNS}"
    );
    let inserted: Option<Webhook> = sqlx::query_as(&sql)
        .bind(hookline_core::WebhookId::new())
        .bind(&cfg.url)
        .bind(&cfg.events)
        .bind(keys.seal("secret", &cfg.secret))
        .bind(cfg.api_key.as_deref().map(|k| keys.seal("api_key", k)))
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(w) = inserted {
        tx.commit().await?;
        return Ok((unseal(keys, w)?, true));
    }
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE source = 'config' FOR UPDATE");
    let current = unseal(keys, sqlx::query_as(&sql).fetch_one(&mut *tx).await?)?;
    if current.url == cfg.url && current.secret == cfg.secret && current.api_key == cfg.api_key {
        tx.commit().await?;
        return Ok((current, false));
    }
    let rotated = current.secret != cfg.secret;
    let (previous, previous_until) = if rotated {
        (Some(current.secret.clone()), Some(keep_until))
    } else {
        (
            current.previous_secret.clone(),
            current.previous_secret_expires_at,
        )
    };
    let sql = format!(
        "UPDATE webhooks SET url = $2, secret = $3, api_key = $4, previous_secret = $5, \
           previous_secret_expires_at = $6, secrets_sealed = true, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = sqlx::query_as(&sql)
        .bind(&current.id)
        .bind(&cfg.url)
        .bind(keys.seal("secret", &cfg.secret))
        .bind(cfg.api_key.as_deref().map(|k| keys.seal("api_key", k)))
        .bind(previous.as_deref().map(|p| keys.seal("previous_secret", p)))
        .bind(previous_until)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((unseal(keys, row)?, false))
}
