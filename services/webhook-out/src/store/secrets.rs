//! Bringing stored secrets under the current key: sealing rows written
//! before encryption (at every start-up) and re-sealing rows sealed with an
//! older key (`hookline webhooks reencrypt`, after a new key was put first
//! in `webhook_out.encryption_keys`).
//!
//! Each pass runs in one transaction that locks the rows it reads, so it is
//! safe beside running instances and idempotent: a row already under the
//! current key is left alone.

use super::keyring::{Keyring, SealError};
use super::webhooks::{COLUMNS, Webhook, unseal};
use hookline_core::config::ConfigError;
use sqlx::PgPool;

/// Seals every row still in plaintext; returns how many.
pub async fn seal_plaintext_rows(pool: &PgPool, keys: &Keyring) -> Result<u64, sqlx::Error> {
    reseal(pool, keys, "NOT secrets_sealed").await
}

/// Re-seals every row not entirely under the current key (plaintext rows
/// included); returns how many were rewritten.
pub async fn reencrypt(pool: &PgPool, keys: &Keyring) -> Result<u64, sqlx::Error> {
    reseal(pool, keys, "true").await
}

async fn reseal(pool: &PgPool, keys: &Keyring, filter: &str) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE {filter} ORDER BY id FOR UPDATE");
    let rows: Vec<Webhook> = sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
    let mut rewritten = 0;
    for row in rows {
        let current = row.secrets_sealed
            && keys.is_current(&row.secret)
            && row
                .previous_secret
                .as_deref()
                .is_none_or(|v| keys.is_current(v))
            && row.api_key.as_deref().is_none_or(|v| keys.is_current(v));
        if current {
            continue;
        }
        let open = unseal(keys, row)?;
        sqlx::query(
            "UPDATE webhooks SET secret = $2, previous_secret = $3, api_key = $4, \
               secrets_sealed = true WHERE id = $1",
        )
        .bind(&open.id)
        .bind(keys.seal("secret", &open.secret))
        .bind(
            open.previous_secret
                .as_deref()
                .map(|v| keys.seal("previous_secret", v)),
        )
        .bind(open.api_key.as_deref().map(|v| keys.seal("api_key", v)))
        .execute(&mut *tx)
        .await?;
        rewritten += 1;
    }
    tx.commit().await?;
    Ok(rewritten)
}

/// Why the stored secrets cannot be used with the configured keys.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A row was sealed with a key that is not configured (any more).
    #[error("stored webhook secrets: {0}")]
    Config(#[from] ConfigError),
    /// Postgres failed, or a value does not authenticate.
    #[error("stored webhook secrets: {0}")]
    Db(#[from] sqlx::Error),
}

/// Opens every stored secret once, at start-up, so a key removed too early
/// stops the service with one line naming `webhook_out.encryption_keys`
/// instead of failing every delivery and API call later.
pub async fn check_keys(pool: &PgPool, keys: &Keyring) -> Result<(), KeysError> {
    match super::webhooks::list(pool, keys).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Decode(inner)) => match inner.downcast_ref::<SealError>() {
            Some(SealError::UnknownKey { key_id, .. }) => Err(ConfigError::Invalid {
                key: "webhook_out.encryption_keys",
                message: format!(
                    "does not hold key {key_id}, which sealed stored webhook secrets: keep it \
                     after the new first key until `hookline webhooks reencrypt` has run"
                ),
            }
            .into()),
            _ => Err(sqlx::Error::Decode(inner).into()),
        },
        Err(e) => Err(e.into()),
    }
}
