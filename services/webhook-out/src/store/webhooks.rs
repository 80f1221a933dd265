//! The `webhooks` table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

/// How a delivery is shaped and signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Profile {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`; the body is the event envelope.
    #[serde(rename = "standard")]
    Standard,
    /// The seed's scheme: body `{api_key, event, data}`, `X-Timestamp`,
    /// `X-Signature` keyed with the secret string as-is.
    #[serde(rename = "rc-legacy")]
    RcLegacy,
}

impl Profile {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::RcLegacy => "rc-legacy",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Profile::Standard),
            "rc-legacy" => Some(Profile::RcLegacy),
            _ => None,
        }
    }
}

/// One row of `webhooks`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Event types delivered (`page_view`, `form_submission`).
    pub events: Vec<String>,
    /// `standard` or `rc-legacy` (checked by the table).
    pub profile: String,
    /// Free text.
    pub description: Option<String>,
    /// Current signing secret.
    pub secret: String,
    /// The secret before the last rotation, still signing until it expires.
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Put in the rc-legacy body.
    pub api_key: Option<String>,
    /// Deliveries run only while active.
    pub active: bool,
    /// Why the webhook was disabled (410 Gone, failing too long).
    pub disabled_reason: Option<String>,
    /// `api` or `config`.
    pub source: String,
    /// Creation time; also where its consumer starts reading `RC_EVENTS`.
    pub created_at: DateTime<Utc>,
    /// Last change of the row's settings.
    pub updated_at: DateTime<Utc>,
    /// Failed attempts since the last success.
    pub fail_count: i64,
    /// Start of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

impl Webhook {
    /// The parsed profile (the table only holds valid names).
    pub fn profile(&self) -> Profile {
        Profile::parse(&self.profile).unwrap_or(Profile::Standard)
    }

    /// Whether deliveries of `event_type` go to this webhook.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == event_type)
    }

    /// The previous secret, if it still signs at `now`.
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&str> {
        match (&self.previous_secret, self.previous_secret_expires_at) {
            (Some(s), Some(until)) if until > now => Some(s),
            _ => None,
        }
    }
}

/// What creating a webhook needs (already validated).
#[derive(Clone, Debug)]
pub struct NewWebhook {
    /// Target URL.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
    /// Profile.
    pub profile: Profile,
    /// Free text.
    pub description: Option<String>,
    /// Signing secret.
    pub secret: String,
    /// rc-legacy body key.
    pub api_key: Option<String>,
}

/// A partial update (already validated); `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// New profile.
    pub profile: Option<Profile>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New API key (`Some(None)` clears it).
    pub api_key: Option<Option<String>>,
    /// Enable (clears the failure state) or disable by hand.
    pub active: Option<bool>,
}

const COLUMNS: &str = "id, url, events, profile, description, secret, previous_secret, \
    previous_secret_expires_at, api_key, active, disabled_reason, source, created_at, \
    updated_at, fail_count, failing_since, last_delivered_at";

/// Inserts a webhook.
pub async fn insert(pool: &PgPool, new: &NewWebhook) -> Result<Webhook, sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhooks (id, url, events, profile, description, secret, api_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(super::new_webhook_id())
        .bind(&new.url)
        .bind(&new.events)
        .bind(new.profile.as_str())
        .bind(&new.description)
        .bind(&new.secret)
        .bind(&new.api_key)
        .fetch_one(pool)
        .await
}

/// One webhook.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<Webhook>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// Every webhook, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Webhook>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id");
    sqlx::query_as(&sql).fetch_all(pool).await
}

/// The ids of every webhook (active or not).
pub async fn ids(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM webhooks")
        .fetch_all(pool)
        .await
}

/// Applies a patch; `None` when the id is unknown.
pub async fn update(
    pool: &PgPool,
    id: &str,
    patch: &WebhookPatch,
) -> Result<Option<Webhook>, sqlx::Error> {
    // Re-enabling starts a fresh failure count so the disable-after clock
    // does not fire again at once.
    let sql = format!(
        "UPDATE webhooks SET \
           url = COALESCE($2, url), \
           events = COALESCE($3, events), \
           profile = COALESCE($4, profile), \
           description = CASE WHEN $5 THEN $6 ELSE description END, \
           api_key = CASE WHEN $7 THEN $8 ELSE api_key END, \
           active = COALESCE($9, active), \
           disabled_reason = CASE WHEN $9 IS NULL THEN disabled_reason \
                                  WHEN $9 THEN NULL ELSE 'disabled by an operator' END, \
           fail_count = CASE WHEN $9 AND NOT active THEN 0 ELSE fail_count END, \
           failing_since = CASE WHEN $9 AND NOT active THEN NULL ELSE failing_since END, \
           updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(id)
        .bind(&patch.url)
        .bind(&patch.events)
        .bind(patch.profile.map(Profile::as_str))
        .bind(patch.description.is_some())
        .bind(patch.description.clone().flatten())
        .bind(patch.api_key.is_some())
        .bind(patch.api_key.clone().flatten())
        .bind(patch.active)
        .fetch_optional(pool)
        .await
}

/// Deletes a webhook; whether it existed.
pub async fn delete(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Installs `secret`; the current one keeps signing until `keep_until`.
pub async fn rotate_secret(
    pool: &PgPool,
    id: &str,
    secret: &str,
    keep_until: DateTime<Utc>,
) -> Result<Option<Webhook>, sqlx::Error> {
    let sql = format!(
        "UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $3, \
           secret = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(id)
        .bind(secret)
        .bind(keep_until)
        .fetch_optional(pool)
        .await
}

/// Disables a webhook (410 Gone, failing too long); whether it was active.
pub async fn disable(pool: &PgPool, id: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhooks SET active = false, disabled_reason = $2, updated_at = now() \
         WHERE id = $1 AND active",
    )
    .bind(id)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The config webhook's settings (`crm_webhook.*`).
#[derive(Clone, Debug)]
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

/// Creates the config webhook if absent, or brings its URL, secret and key
/// in line with the config. One statement on a unique index, so concurrent
/// start-ups create it once. A changed secret rotates: the old one keeps
/// signing until `keep_until`. Returns the row and whether it was created.
pub async fn upsert_config(
    pool: &PgPool,
    cfg: &ConfigWebhook,
    keep_until: DateTime<Utc>,
) -> Result<(Webhook, bool), sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhooks AS w (id, url, events, profile, description, secret, api_key, source) \
         VALUES ($1, $2, $3, 'rc-legacy', 'from config (crm_webhook.*)', $4, $5, 'config') \
         ON CONFLICT (source) WHERE source = 'config' DO UPDATE SET \
           url = EXCLUDED.url, \
           api_key = EXCLUDED.api_key, \
           secret = EXCLUDED.secret, \
           previous_secret = CASE WHEN w.secret <> EXCLUDED.secret THEN w.secret ELSE w.previous_secret END, \
           previous_secret_expires_at = CASE WHEN w.secret <> EXCLUDED.secret THEN $6 \
                                             ELSE w.previous_secret_expires_at END, \
           updated_at = now() \
         WHERE w.url IS DISTINCT FROM EXCLUDED.url OR w.secret IS DISTINCT FROM EXCLUDED.secret \
            OR w.api_key IS DISTINCT FROM EXCLUDED.api_key \
         RETURNING {COLUMNS}, (xmax = 0) AS inserted"
    );
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        webhook: Webhook,
        inserted: bool,
    }
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(super::new_webhook_id())
        .bind(&cfg.url)
        .bind(&cfg.events)
        .bind(&cfg.secret)
        .bind(&cfg.api_key)
        .bind(keep_until)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => Ok((r.webhook, r.inserted)),
        // Nothing changed: the WHERE of DO UPDATE skipped the row.
        None => {
            let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE source = 'config'");
            let w = sqlx::query_as(&sql).fetch_one(pool).await?;
            Ok((w, false))
        }
    }
}

/// Rows of webhooks failing without a success since before `cutoff` are
/// disabled; returns their ids.
pub async fn disable_failing_since(
    pool: &PgPool,
    ids: &[String],
    cutoff: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE webhooks SET active = false, disabled_reason = $3, updated_at = now() \
         WHERE id = ANY($1) AND active AND failing_since < $2 RETURNING id",
    )
    .bind(ids)
    .bind(cutoff)
    .bind(reason)
    .fetch_all(pool)
    .await
}
