//! Applying a batch of events in one Postgres transaction.
//!
//! The fast path runs the whole batch in one transaction with no savepoints:
//! one `BEGIN`, one bulk `INSERT INTO processed_events`, one call of the
//! consumer's [`Consumer::handle_batch`] with every new event (a few bulk
//! statements where the consumer implements it), one `COMMIT`. Only when that
//! fails is the batch redone in careful mode, event by event with
//! [`Consumer::handle`] and a savepoint around each, so the failing event is
//! rolled back alone and the others still commit. Failures are rare, so the
//! common case pays no per-event round trips.

use super::consumer::{Consumer, HandlerError};
use super::metrics as m;
use async_trait::async_trait;
use futures::FutureExt;
use hookline_core::event::Event;
use hookline_core::other_event::OtherEvent;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

/// What a batch holds: typed events, or events of types hookline does not
/// model. Both are claimed in `processed_events` by id and applied the same
/// way; only the consumer method differs.
#[async_trait]
pub(super) trait Item: Send + Sync + Sized {
    /// The event id (`processed_events.event_id`).
    fn id(&self) -> &str;
    /// Applies one item with the consumer's per-event handler.
    async fn handle(
        &self,
        consumer: &dyn Consumer,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError>;
    /// Applies several with the consumer's batch handler; where the consumer
    /// has none, one after another with [`Item::handle`].
    async fn handle_batch(
        items: &[&Self],
        consumer: &dyn Consumer,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        for item in items {
            item.handle(consumer, tx).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Item for Event {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    async fn handle(
        &self,
        consumer: &dyn Consumer,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        consumer.handle(self, tx).await
    }
    async fn handle_batch(
        items: &[&Self],
        consumer: &dyn Consumer,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        consumer.handle_batch(items, tx).await
    }
}

#[async_trait]
impl Item for OtherEvent {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    async fn handle(
        &self,
        consumer: &dyn Consumer,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        consumer.handle_other(self, tx).await
    }
}

/// What happened to one event of a committed batch.
#[derive(Debug)]
pub(super) enum Status {
    /// The handler ran and its effect committed.
    Done,
    /// `processed_events` already had it (or it came twice in this batch).
    Duplicate,
    /// The handler failed; its writes were rolled back.
    Failed(HandlerError),
}

/// Why a batch could not commit as a whole.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchError {
    /// Postgres is unreachable or the connection broke: hold the batch and
    /// try again; the events are not to blame.
    #[error("Postgres unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// A system the consumer needs is away ([`HandlerError::Unavailable`]):
    /// hold the batch like [`BatchError::Unavailable`].
    #[error(transparent)]
    Dependency(super::consumer::Cause),
    /// A deadlock or serialization failure with another instance: try again
    /// at once.
    #[error("conflict with a concurrent transaction: {0}")]
    Conflict(sqlx::Error),
    /// Anything else at the batch level (e.g. `COMMIT` refused).
    #[error("{0}")]
    Other(sqlx::Error),
    /// A handler failed on the fast path: redo the batch in careful mode.
    #[error("a handler failed")]
    HandlerFailed,
}

impl BatchError {
    fn from_sqlx(err: sqlx::Error) -> Self {
        match kind(&err) {
            ErrorKind::Unavailable => Self::Unavailable(err),
            ErrorKind::Conflict => Self::Conflict(err),
            ErrorKind::Query => Self::Other(err),
        }
    }
}

enum ErrorKind {
    Unavailable,
    Conflict,
    Query,
}

/// Sorts a Postgres error into "the database is away", "lost a race" and
/// "this query is wrong".
fn kind(err: &sqlx::Error) -> ErrorKind {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Deadlock, serialization failure.
            Some("40P01" | "40001") => ErrorKind::Conflict,
            // Connection exceptions, shutting down, too many connections,
            // read-only (a failover in progress).
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "25006" =>
            {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Query,
        },
        _ => ErrorKind::Query,
    }
}

/// Separates handler errors that are really the batch's (connection lost,
/// deadlock) from the event's own: blaming the event would dead-letter a good
/// event during an outage.
fn blame(err: HandlerError) -> Result<HandlerError, BatchError> {
    match err {
        HandlerError::Database(e) => match kind(&e) {
            ErrorKind::Query => Ok(HandlerError::Database(e)),
            ErrorKind::Unavailable => Err(BatchError::Unavailable(e)),
            ErrorKind::Conflict => Err(BatchError::Conflict(e)),
        },
        HandlerError::Unavailable(why) => Err(BatchError::Dependency(why)),
        other => Ok(other),
    }
}

/// Applies `events` for `consumer`; the result is in input order.
pub(super) async fn apply<T: Item>(
    pool: &PgPool,
    consumer: &dyn Consumer,
    events: &[&T],
) -> Result<Vec<Status>, BatchError> {
    match attempt(pool, consumer, events, false).await {
        Err(BatchError::HandlerFailed) => attempt(pool, consumer, events, true).await,
        other => other,
    }
}

async fn attempt<T: Item>(
    pool: &PgPool,
    consumer: &dyn Consumer,
    events: &[&T],
    careful: bool,
) -> Result<Vec<Status>, BatchError> {
    let name = consumer.name();
    let mut tx = pool.begin().await.map_err(BatchError::from_sqlx)?;
    let fresh = claim(&mut tx, name, events).await?;
    let mut seen = HashSet::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    if !careful {
        let mut new = Vec::with_capacity(events.len());
        for event in events {
            let id = event.id();
            if fresh.contains(id) && seen.insert(id) {
                new.push(*event);
                statuses.push(Status::Done);
            } else {
                statuses.push(Status::Duplicate);
            }
        }
        if !new.is_empty()
            && let Err(e) = call_batch(consumer, &new, &mut tx).await
        {
            // Dropping `tx` rolls the whole attempt back.
            let e = blame(e)?;
            m::count(m::FAILED, name, 1);
            tracing::debug!(consumer = name, events = new.len(), error = %e, "batch handler failed on the fast path; redoing the batch event by event with savepoints");
            return Err(BatchError::HandlerFailed);
        }
        tx.commit().await.map_err(BatchError::from_sqlx)?;
        return Ok(statuses);
    }
    for event in events {
        let id = event.id();
        if !fresh.contains(id) || !seen.insert(id) {
            statuses.push(Status::Duplicate);
            continue;
        }
        let mut savepoint = Connection::begin(&mut *tx)
            .await
            .map_err(BatchError::from_sqlx)?;
        match call(consumer, *event, &mut savepoint).await {
            Ok(()) => {
                savepoint.commit().await.map_err(BatchError::from_sqlx)?;
                statuses.push(Status::Done);
            }
            Err(e) => {
                let e = blame(e)?;
                m::count(m::FAILED, name, 1);
                savepoint.rollback().await.map_err(BatchError::from_sqlx)?;
                // Not done after all: a redelivery must run the handler again.
                sqlx::query("DELETE FROM processed_events WHERE consumer = $1 AND event_id = $2")
                    .bind(name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(BatchError::from_sqlx)?;
                statuses.push(Status::Failed(e));
            }
        }
    }
    tx.commit().await.map_err(BatchError::from_sqlx)?;
    Ok(statuses)
}

/// Inserts the `processed_events` rows of the batch in one statement and
/// returns the ids that were new. Ids are inserted in sorted order so two
/// instances claiming overlapping batches take row locks in the same order
/// and cannot deadlock on them; an id another instance holds uncommitted
/// makes this wait for its outcome, so exactly one of them applies it.
async fn claim<T: Item>(
    tx: &mut PgConnection,
    consumer: &str,
    events: &[&T],
) -> Result<HashSet<String>, BatchError> {
    let mut ids: Vec<&str> = events.iter().map(|e| e.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    let fresh: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (consumer, event_id) \
         SELECT $1, id FROM unnest($2::text[]) WITH ORDINALITY AS t(id, n) ORDER BY n \
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(consumer)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(BatchError::from_sqlx)?;
    Ok(fresh.into_iter().collect())
}

/// Runs the handler, turning a panic into an error so one bad event cannot
/// take the process down.
async fn call<T: Item>(
    consumer: &dyn Consumer,
    event: &T,
    tx: &mut PgConnection,
) -> Result<(), HandlerError> {
    caught(
        AssertUnwindSafe(event.handle(consumer, tx))
            .catch_unwind()
            .await,
    )
}

/// Runs the batch handler, a panic being an error like in [`call`].
async fn call_batch<T: Item>(
    consumer: &dyn Consumer,
    events: &[&T],
    tx: &mut PgConnection,
) -> Result<(), HandlerError> {
    caught(
        AssertUnwindSafe(T::handle_batch(events, consumer, tx))
            .catch_unwind()
            .await,
    )
}

fn caught(
    outcome: Result<Result<(), HandlerError>, Box<dyn std::any::Any + Send>>,
) -> Result<(), HandlerError> {
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            Err(HandlerError::Panicked(message))
        }
    }
}
