//! The task lifecycle in Postgres: claim with a lease, record the outcome,
//! list and retry (for `hookline tasks`).
//!
//! Every outcome is written with `WHERE claimed_by = <this worker> AND
//! status = 'sending'`: a worker whose lease ran out and whose task was
//! claimed again by another worker records nothing, so the newer claim's
//! result always stands.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;

/// A task claimed by this worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// `automation_tasks.id`; also the source of the email's `Message-ID`.
    pub id: i64,
    /// The automation rule that created it (selects the email template).
    pub rule: String,
    /// `thank_you_email`, `sdr_task`, …
    pub kind: String,
    /// The contact's identity on the CRM side.
    pub contact_key: String,
    /// The event that fired the rule.
    pub event_id: String,
    /// What the rule recorded for the worker.
    pub payload: sqlx::types::Json<serde_json::Value>,
    /// Claims so far, this one included.
    pub attempts: i32,
}

/// One row as `hookline tasks list` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    /// Task id.
    pub id: i64,
    /// Rule name.
    pub rule: String,
    /// Task kind.
    pub kind: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Claims so far.
    pub attempts: i32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Contact identity.
    pub contact_key: String,
    /// Event that fired the rule.
    pub event_id: String,
    /// When the rule fired.
    pub created_at: DateTime<Utc>,
    /// When a task that failed before is due again (none: due at once).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Worker holding (or last holding) the claim.
    pub claimed_by: Option<String>,
}

/// Claims up to `limit` due tasks of `kinds` for `worker`: pending ones
/// whose `next_attempt_at` has come, and `sending` ones whose lease has
/// passed (their worker died). `SKIP LOCKED` lets concurrent workers claim
/// disjoint sets without waiting on each other.
pub async fn claim(
    pool: &PgPool,
    kinds: &[String],
    worker: &str,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS ( \
           SELECT id FROM automation_tasks \
           WHERE kind = ANY($1) AND ( \
             (status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())) OR \
             (status = 'sending' AND lease_until < now())) \
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE automation_tasks t SET status = 'sending', claimed_by = $3, \
           lease_until = now() + make_interval(secs => $4), \
           attempts = t.attempts + 1, updated_at = now() \
         FROM due WHERE t.id = due.id \
         RETURNING t.id, t.rule, t.kind, t.contact_key, t.event_id, t.payload, t.attempts",
    )
    .bind(kinds)
    .bind(limit)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Records a success. `false` when the claim was no longer this worker's.
pub async fn mark_sent(pool: &PgPool, id: i64, worker: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE automation_tasks SET status = 'sent', sent_at = now(), lease_until = NULL, \
           last_error = NULL, updated_at = now() \
         WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
    )
    .bind(id)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failure: back to `pending`, due after `retry_in`, or `failed`
/// for good when `retry_in` is `None`.
pub async fn mark_failed(
    pool: &PgPool,
    id: i64,
    worker: &str,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE automation_tasks SET \
           status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END, \
           next_attempt_at = now() + make_interval(secs => COALESCE($4, 0)), \
           lease_until = NULL, last_error = $3, updated_at = now() \
         WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The newest `limit` tasks, optionally of one status.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<TaskRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, rule, kind, status, attempts, last_error, contact_key, event_id, \
           created_at, next_attempt_at, sent_at, claimed_by \
         FROM automation_tasks WHERE $1::text IS NULL OR status = $1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What `retry` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The task is `pending` again, due now, with a fresh attempt count.
    Requeued,
    /// No task has that id.
    NotFound,
    /// The task is `sent` or being sent: retrying it could send twice.
    Refused(&'static str),
}

/// Puts a `failed` (or `pending`) task back to `pending`, due now, with its
/// attempts reset. A `sent` task is refused (it would be a second email),
/// and so is one held by a live claim.
pub async fn retry(pool: &PgPool, id: i64) -> Result<Retry, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT status, COALESCE(lease_until > now(), false) \
         FROM automation_tasks WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let outcome = match row {
        None => Retry::NotFound,
        Some((status, _)) if status == "sent" => Retry::Refused("sent"),
        Some((status, true)) if status == "sending" => Retry::Refused("sending"),
        Some(_) => {
            sqlx::query(
                "UPDATE automation_tasks SET status = 'pending', attempts = 0, \
                   next_attempt_at = now(), lease_until = NULL, updated_at = now() \
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Retry::Requeued
        }
    };
    tx.commit().await?;
    Ok(outcome)
}
