//! The delivery-attempt log: written in batches, read newest first with a
//! keyset cursor, trimmed in small batches.
//!
//! Delivery tasks never wait for Postgres: they hand rows to an
//! [`AttemptWriter`], whose task inserts everything queued in one `UNNEST`
//! statement and folds the batch into each webhook's failure counters with a
//! second. At thousands of deliveries a second that is two statements per
//! batch instead of two per delivery.

use super::webhooks;
use crate::ops_events::OpsEvents;
use chrono::{DateTime, Utc};
use hookline_core::WebhookId;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One attempt, as logged.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttemptRow {
    /// Cursor (0 until inserted).
    pub id: i64,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// The event delivered.
    pub event_id: String,
    /// Its type (`page_view`, `form_submission`, `ping`).
    pub event: String,
    /// 1 for the first try.
    pub attempt: i32,
    /// HTTP status, if a response came.
    pub status_code: Option<i32>,
    /// 2xx.
    pub success: bool,
    /// Wall time of the request.
    pub duration_ms: i32,
    /// What went wrong.
    pub error: Option<String>,
    /// The retry schedule ended with this attempt; the event went to RC_DLQ.
    pub exhausted: bool,
    /// When the request started.
    pub attempted_at: DateTime<Utc>,
}

/// Most rows one statement inserts.
const BATCH: usize = 500;

/// Queues attempt rows for the writer task.
#[derive(Clone, Debug)]
pub struct AttemptWriter {
    tx: mpsc::Sender<AttemptRow>,
}

impl AttemptWriter {
    /// Starts the writer task. It runs until `stop` fires (after the
    /// deliveries have finished), then flushes what is queued and ends.
    pub fn spawn(
        pool: PgPool,
        disable_after: Duration,
        ops: Option<Arc<OpsEvents>>,
        stop: hookline_core::Shutdown,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(16 * BATCH);
        let task = tokio::spawn(write_loop(pool, rx, disable_after, ops, stop));
        (Self { tx }, task)
    }

    /// Queues a row (waits only if the writer is far behind).
    pub async fn record(&self, row: AttemptRow) {
        if self.tx.send(row).await.is_err() {
            tracing::warn!("attempt log writer has stopped; attempt not logged");
        }
    }
}

async fn write_loop(
    pool: PgPool,
    mut rx: mpsc::Receiver<AttemptRow>,
    disable_after: Duration,
    ops: Option<Arc<OpsEvents>>,
    stop: hookline_core::Shutdown,
) {
    let mut buf = Vec::with_capacity(BATCH);
    let mut closed = false;
    loop {
        tokio::select! {
            n = rx.recv_many(&mut buf, BATCH) => if n == 0 { break },
            _ = stop.wait(), if !closed => {
                // Refuse new rows; the queued ones are still received.
                rx.close();
                closed = true;
                continue;
            }
        }
        let mut tries = 0;
        loop {
            match write_batch(&pool, &buf, disable_after, ops.as_ref()).await {
                Ok(()) => break,
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e, rows = buf.len(), "writing delivery attempts failed, retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, rows = buf.len(), "delivery attempts dropped from the log");
                    break;
                }
            }
        }
        buf.clear();
    }
}

/// What a batch says about one webhook's health.
#[derive(Default)]
struct Health {
    last_success: Option<DateTime<Utc>>,
    /// Failures after the last success in the batch.
    failures: i64,
    first_failure: Option<DateTime<Utc>>,
}

/// Writes one batch: the rows and the webhooks' health in one transaction,
/// then disables the webhooks failing for too long.
async fn write_batch(
    pool: &PgPool,
    rows: &[AttemptRow],
    disable_after: Duration,
    ops: Option<&Arc<OpsEvents>>,
) -> Result<(), sqlx::Error> {
    let health = fold_health(rows);
    let mut tx = pool.begin().await?;
    insert_rows(&mut tx, rows).await?;
    update_health(&mut tx, &health).await?;
    tx.commit().await?;
    let failing: Vec<String> = health
        .iter()
        .filter(|(_, h)| h.failures > 0)
        .map(|(id, _)| id.to_string())
        .collect();
    if !failing.is_empty() {
        disable_failing(pool, &failing, disable_after, ops).await?;
    }
    Ok(())
}

/// Inserts the rows in one `UNNEST` statement.
async fn insert_rows(tx: &mut sqlx::PgConnection, rows: &[AttemptRow]) -> Result<(), sqlx::Error> {
    fn column<'a, T>(rows: &'a [AttemptRow], f: impl Fn(&'a AttemptRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO delivery_attempts (webhook_id, event_id, event, attempt, status_code, \
           success, duration_ms, error, exhausted, attempted_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], \
           $6::bool[], $7::int[], $8::text[], $9::bool[], $10::timestamptz[])",
    )
    .bind(column(rows, |r| r.webhook_id.as_str()))
    .bind(column(rows, |r| r.event_id.as_str()))
    .bind(column(rows, |r| r.event.as_str()))
    .bind(column(rows, |r| r.attempt))
    .bind(column(rows, |r| r.status_code))
    .bind(column(rows, |r| r.success))
    .bind(column(rows, |r| r.duration_ms))
    .bind(column(rows, |r| r.error.as_deref()))
    .bind(column(rows, |r| r.exhausted))
    .bind(column(rows, |r| r.attempted_at))
    .execute(tx)
    .await?;
    Ok(())
}

/// Each webhook's health as the batch leaves it, in attempt order.
fn fold_health(rows: &[AttemptRow]) -> HashMap<&str, Health> {
    let mut health: HashMap<&str, Health> = HashMap::new();
    for r in rows {
        let h = health.entry(r.webhook_id.as_str()).or_default();
        if r.success {
            h.last_success = Some(
                h.last_success
                    .map_or(r.attempted_at, |t| t.max(r.attempted_at)),
            );
            h.failures = 0;
            h.first_failure = None;
        } else {
            h.failures += 1;
            h.first_failure.get_or_insert(r.attempted_at);
        }
    }
    health
}

/// Folds the batch into each webhook's counters in one statement. A
/// success resets the run of failures; failures after it start a new run.
async fn update_health(
    tx: &mut sqlx::PgConnection,
    health: &HashMap<&str, Health>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = health.keys().copied().collect();
    let successes: Vec<Option<DateTime<Utc>>> = health.values().map(|h| h.last_success).collect();
    let failures: Vec<i64> = health.values().map(|h| h.failures).collect();
    let first_failures: Vec<Option<DateTime<Utc>>> =
        health.values().map(|h| h.first_failure).collect();
    sqlx::query(
        "UPDATE webhooks w SET \
           last_delivered_at = CASE WHEN b.success IS NULL THEN w.last_delivered_at \
                                    ELSE GREATEST(w.last_delivered_at, b.success) END, \
           fail_count = CASE WHEN b.success IS NULL THEN w.fail_count + b.failures ELSE b.failures END, \
           failing_since = CASE WHEN b.success IS NULL THEN COALESCE(w.failing_since, b.first_failure) \
                                ELSE b.first_failure END \
         FROM UNNEST($1::text[], $2::timestamptz[], $3::bigint[], $4::timestamptz[]) \
           AS b(id, success, failures, first_failure) \
         WHERE w.id = b.id",
    )
    .bind(&ids)
    .bind(&successes)
    .bind(&failures)
    .bind(&first_failures)
    .execute(tx)
    .await?;
    Ok(())
}

/// Disables the webhooks among `failing` that have failed without a
/// success for longer than `disable_after`, and says so.
async fn disable_failing(
    pool: &PgPool,
    failing: &[String],
    disable_after: Duration,
    ops: Option<&Arc<OpsEvents>>,
) -> Result<(), sqlx::Error> {
    let cutoff = ago(disable_after);
    let reason = format!(
        "failing without a success for over {}",
        humanize(disable_after)
    );
    for id in webhooks::disable_failing_since(pool, failing, cutoff, &reason).await? {
        tracing::warn!(webhook = %id, %reason, "webhook disabled");
        if let Some(ops) = ops {
            let data = serde_json::json!({"webhook_id": id, "reason": reason});
            ops.emit(crate::ops_events::ENDPOINT_DISABLED, data);
        }
    }
    Ok(())
}

/// `now - d`, saturating at the earliest representable time.
pub fn ago(d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s >= 1 => format!("{s}s"),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// Which attempts a page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// 2xx.
    Success,
    /// Anything else.
    Failure,
    /// The last attempt of a dead-lettered event.
    Exhausted,
}

/// A page of one webhook's attempts, newest first, strictly older than the
/// `before` cursor. Uses the `(webhook_id, id)` index, so page N costs the
/// same as page 1.
pub async fn page(
    pool: &PgPool,
    webhook_id: &WebhookId,
    status: Option<StatusFilter>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    let filter = match status {
        None => "",
        Some(StatusFilter::Success) => "AND success",
        Some(StatusFilter::Failure) => "AND NOT success",
        Some(StatusFilter::Exhausted) => "AND exhausted",
    };
    let sql = format!(
        "SELECT id, webhook_id, event_id, event, attempt, status_code, success, duration_ms, \
           error, exhausted, attempted_at FROM delivery_attempts \
         WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) {filter} \
         ORDER BY id DESC LIMIT $3"
    );
    sqlx::query_as(&sql)
        .bind(webhook_id)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// When delivering `event_id` to `webhook_id` first failed, if the log has
/// it (the `(event_id, webhook_id)` index makes this one lookup).
pub async fn first_failure(
    pool: &PgPool,
    webhook_id: &WebhookId,
    event_id: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(attempted_at) FROM delivery_attempts \
         WHERE event_id = $1 AND webhook_id = $2 AND NOT success",
    )
    .bind(event_id)
    .bind(webhook_id)
    .fetch_one(pool)
    .await
}

/// Every attempt logged for one event, across webhooks, oldest first.
pub async fn for_event(pool: &PgPool, event_id: &str) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, webhook_id, event_id, event, attempt, status_code, success, duration_ms, \
           error, exhausted, attempted_at FROM delivery_attempts \
         WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
}

/// Deletes up to `batch` attempts older than `cutoff`; returns how many.
/// Small batches keep each statement short, so retention never holds long
/// locks or runs for an hour like one giant `DELETE` (Hook0 #47).
pub async fn delete_older_than(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM delivery_attempts WHERE id IN \
           (SELECT id FROM delivery_attempts WHERE attempted_at < $1 \
            ORDER BY attempted_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Runs retention every `every` until `shutdown`: batches until nothing old
/// is left, pausing between batches so live traffic keeps the table.
pub async fn retention_loop(
    pool: PgPool,
    keep: Duration,
    every: Duration,
    shutdown: hookline_core::Shutdown,
) {
    loop {
        let cutoff = ago(keep);
        let mut total = 0;
        loop {
            if shutdown.is_triggered() {
                return;
            }
            match delete_older_than(&pool, cutoff, 5_000).await {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "attempt retention failed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(deleted = total, "old delivery attempts removed");
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
