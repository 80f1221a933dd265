//! The `webhooks` table.
//!
//! `secret`, `previous_secret` and `api_key` are sealed with the [`Keyring`]
//! on every write and opened on every read, so rows in Postgres (and its
//! backups) hold no usable secret; in memory a [`Webhook`] holds them open,
//! and its `Debug` hides them. Rows written before encryption carry
//! `secrets_sealed = false` until start-up seals them
//! ([`super::secrets::seal_plaintext_rows`]).

pub use super::config_webhook::{ConfigWebhook, upsert_config};
use super::keyring::Keyring;
use chrono::{DateTime, Utc};
use hookline_core::WebhookId;
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
    /// The legacy Node app's scheme: body `{api_key, event, data}`, `X-Timestamp`,
    /// `X-Signature` keyed with the secret string as-is.
    #[serde(rename = "rc-legacy")]
    RcLegacy,
    /// OptimoCMS's scheme: body `{id, type, created_at, data}` (forms as
    /// `form.submitted`), `x-optimocms-timestamp` in milliseconds and
    /// `x-optimocms-signature` (hex) keyed with the secret string as shown,
    /// `whsec_` included.
    #[serde(rename = "optimocms")]
    OptimoCms,
}

impl Profile {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::RcLegacy => "rc-legacy",
            Profile::OptimoCms => "optimocms",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Profile::Standard),
            "rc-legacy" => Some(Profile::RcLegacy),
            "optimocms" => Some(Profile::OptimoCms),
            _ => None,
        }
    }
}

/// One row of `webhooks`, secrets open.
#[derive(Clone, sqlx::FromRow)]
pub struct Webhook {
    /// `wh_…`.
    pub id: WebhookId,
    /// Target URL.
    pub url: String,
    /// Event types delivered (`page_view`, `form_submission`).
    pub events: Vec<String>,
    /// `standard`, `rc-legacy` or `optimocms` (checked by the table).
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
    /// Whether the secret columns are sealed (false only for rows written
    /// before encryption, until start-up seals them).
    pub secrets_sealed: bool,
}

crate::redacted_debug!(Webhook {
    id, url, events, profile, description, previous_secret_expires_at, active,
    disabled_reason, source, created_at, updated_at, fail_count, failing_since,
    last_delivered_at, secrets_sealed
} hides { secret, previous_secret, api_key });

/// Opens the sealed columns of a row just read.
pub(super) fn unseal(keys: &Keyring, mut w: Webhook) -> Result<Webhook, sqlx::Error> {
    if !w.secrets_sealed {
        return Ok(w);
    }
    let open = |column, v: &str| {
        keys.open(column, v)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    w.secret = open("secret", &w.secret)?;
    w.previous_secret = w
        .previous_secret
        .as_deref()
        .map(|v| open("previous_secret", v))
        .transpose()?;
    w.api_key = w
        .api_key
        .as_deref()
        .map(|v| open("api_key", v))
        .transpose()?;
    Ok(w)
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
#[derive(Clone)]
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

crate::redacted_debug!(NewWebhook { url, events, profile, description } hides { secret, api_key });

/// A partial update (already validated); `None` leaves a field alone.
#[derive(Clone, Default)]
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

crate::redacted_debug!(WebhookPatch { url, events, profile, description, active } hides { api_key });

pub(super) const COLUMNS: &str = "id, url, events, profile, description, secret, previous_secret, \
    previous_secret_expires_at, api_key, active, disabled_reason, source, created_at, \
    updated_at, fail_count, failing_since, last_delivered_at, secrets_sealed";

/// Inserts a webhook, its secret and API key sealed.
pub async fn insert(
    pool: &PgPool,
    keys: &Keyring,
    new: &NewWebhook,
) -> Result<Webhook, sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhooks (id, url, events, profile, description, secret, api_key, secrets_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, true) RETURNING {COLUMNS}"
    );
    let row = sqlx::query_as(&sql)
        .bind(WebhookId::new())
        .bind(&new.url)
        .bind(&new.events)
        .bind(new.profile.as_str())
        .bind(&new.description)
        .bind(keys.seal("secret", &new.secret))
        .bind(new.api_key.as_deref().map(|k| keys.seal("api_key", k)))
        .fetch_one(pool)
        .await?;
    unseal(keys, row)
}

/// One webhook.
pub async fn get(
    pool: &PgPool,
    keys: &Keyring,
    id: &WebhookId,
) -> Result<Option<Webhook>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
    let row = sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
    row.map(|w| unseal(keys, w)).transpose()
}

/// Every webhook, oldest first.
pub async fn list(pool: &PgPool, keys: &Keyring) -> Result<Vec<Webhook>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id");
    let rows: Vec<Webhook> = sqlx::query_as(&sql).fetch_all(pool).await?;
    rows.into_iter().map(|w| unseal(keys, w)).collect()
}

/// What a webhook subscribes to, without its secrets (for readers that hold
/// no encryption key, such as `hookline trace`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    /// `wh_…`.
    pub id: WebhookId,
    /// Event types it receives.
    pub events: Vec<String>,
    /// Whether it is delivered to.
    pub active: bool,
    /// When it was created (events minted earlier were never its).
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    /// Whether it receives events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == event_type)
    }
}

/// Every webhook's subscription, oldest first.
pub async fn subscriptions(pool: &PgPool) -> Result<Vec<Subscription>, sqlx::Error> {
    sqlx::query_as("SELECT id, events, active, created_at FROM webhooks ORDER BY created_at, id")
        .fetch_all(pool)
        .await
}

/// The ids of every webhook (active or not).
pub async fn ids(pool: &PgPool) -> Result<Vec<WebhookId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM webhooks")
        .fetch_all(pool)
        .await
}

/// Applies a patch; `None` when the id is unknown.
pub async fn update(
    pool: &PgPool,
    keys: &Keyring,
    id: &WebhookId,
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
    let api_key = patch.api_key.clone().flatten();
    let row = sqlx::query_as(&sql)
        .bind(id)
        .bind(&patch.url)
        .bind(&patch.events)
        .bind(patch.profile.map(Profile::as_str))
        .bind(patch.description.is_some())
        .bind(patch.description.clone().flatten())
        .bind(patch.api_key.is_some())
        .bind(api_key.as_deref().map(|k| keys.seal("api_key", k)))
        .bind(patch.active)
        .fetch_optional(pool)
        .await?;
    row.map(|w| unseal(keys, w)).transpose()
}

/// Deletes a webhook; whether it existed.
pub async fn delete(pool: &PgPool, id: &WebhookId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Installs `secret`; the current one keeps signing until `keep_until`.
/// Reads, re-seals and writes in one transaction, so the previous secret is
/// sealed for its own column.
pub async fn rotate_secret(
    pool: &PgPool,
    keys: &Keyring,
    id: &WebhookId,
    secret: &str,
    keep_until: DateTime<Utc>,
) -> Result<Option<Webhook>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 FOR UPDATE");
    let Some(current) = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let current = unseal(keys, current)?;
    let sql = format!(
        "UPDATE webhooks SET previous_secret = $3, previous_secret_expires_at = $4, \
           secret = $2, api_key = $5, secrets_sealed = true, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = sqlx::query_as(&sql)
        .bind(id)
        .bind(keys.seal("secret", secret))
        .bind(keys.seal("previous_secret", &current.secret))
        .bind(keep_until)
        .bind(current.api_key.as_deref().map(|k| keys.seal("api_key", k)))
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    unseal(keys, row).map(Some)
}

/// Disables a webhook (410 Gone, failing too long); whether it was active.
pub async fn disable(pool: &PgPool, id: &WebhookId, reason: &str) -> Result<bool, sqlx::Error> {
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

/// Rows of webhooks failing without a success since before `cutoff` are
/// disabled; returns their ids. `ids` are webhook ids as text (the attempt
/// writer collects them so from its batch).
pub async fn disable_failing_since(
    pool: &PgPool,
    ids: &[String],
    cutoff: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<WebhookId>, sqlx::Error> {
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
