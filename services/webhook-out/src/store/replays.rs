//! The `webhook_replays` table: replays still being delivered.

use chrono::{DateTime, Utc};
use hookline_core::WebhookId;
use sqlx::PgPool;

/// One replay.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Replay {
    /// Row id (part of its consumer's name).
    pub id: i64,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// First `RC_EVENTS` sequence in the window.
    pub start_seq: i64,
    /// Last `RC_EVENTS` sequence in the window.
    pub end_seq: i64,
    /// Types replayed (already intersected with the webhook's).
    pub event_types: Vec<String>,
    /// How many events the window held.
    pub replayed: i64,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
}

impl Replay {
    /// The durable consumer that reads its window.
    pub fn consumer_name(&self) -> String {
        format!("webhook-out-{}-replay-{}", self.webhook_id, self.id)
    }
}

const COLUMNS: &str = "id, webhook_id, start_seq, end_seq, event_types, replayed, created_at";

/// Records a replay.
pub async fn insert(
    pool: &PgPool,
    webhook_id: &WebhookId,
    start_seq: u64,
    end_seq: u64,
    event_types: &[String],
    replayed: u64,
) -> Result<Replay, sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhook_replays (webhook_id, start_seq, end_seq, event_types, replayed) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(webhook_id)
        .bind(start_seq as i64)
        .bind(end_seq as i64)
        .bind(event_types)
        .bind(replayed as i64)
        .fetch_one(pool)
        .await
}

/// Replays not finished yet.
pub async fn open(pool: &PgPool) -> Result<Vec<Replay>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM webhook_replays WHERE finished_at IS NULL ORDER BY id");
    sqlx::query_as(&sql).fetch_all(pool).await
}

/// Marks a replay finished.
pub async fn finish(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_replays SET finished_at = now() WHERE id = $1 AND finished_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}
