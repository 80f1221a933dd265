//! The one trait a CRM consumer implements, and the error its handler returns.

use async_trait::async_trait;
use hookline_core::event::{Event, EventType};
use hookline_core::other_event::OtherEvent;
use sqlx::PgConnection;

/// A CRM consumer: a name, the event types it wants, and a handler.
///
/// The runner gives every event to [`Consumer::handle`] together with a
/// Postgres connection that is *inside the batch's transaction*: write your
/// effect through it and nothing else. The runner commits your writes together
/// with the `processed_events` row that marks the event done, so an event is
/// applied exactly once however often JetStream delivers it.
///
/// Rules for handlers:
/// - Write only through `tx`. Do not commit, and do not call other systems
///   (HTTP, email, NATS): those calls would repeat on every redelivery.
///   Record a row instead (a task, an outbox) and let a worker act on it.
/// - Return an error to have the event retried with back-off; after
///   `consumers.max_deliver` deliveries it goes to `CRM_DLQ`. Return
///   [`HandlerError::permanent`] when retrying cannot help (bad data).
/// - Events of one consumer arrive roughly in stream order, but redeliveries
///   and several instances reorder them: make the effect's end state not
///   depend on order (upserts with `GREATEST`, sums, `COALESCE`).
///
/// ```ignore
/// struct PageViewCounter;
///
/// #[async_trait::async_trait]
/// impl Consumer for PageViewCounter {
///     fn name(&self) -> &'static str { "page-view-counter" }
///     fn event_types(&self) -> &[EventType] { &[EventType::PageView] }
///     async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
///         sqlx::query("UPDATE counters SET n = n + 1 WHERE name = 'views'")
///             .execute(&mut *tx)
///             .await?;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// The durable name: the JetStream consumer's name, the `processed_events`
    /// key, the `CRM_DLQ` subject suffix (`crm.dlq.<name>`) and the metrics
    /// label. Letters, digits, `-` and `_`. Never rename a running consumer:
    /// a new name starts again from the oldest event in `CRM_EVENTS`.
    fn name(&self) -> &'static str;

    /// The event types this consumer wants. Others are acknowledged and
    /// skipped without touching Postgres.
    fn event_types(&self) -> &[EventType];

    /// Applies one event inside the batch's transaction.
    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError>;

    /// Applies several events (each new to this consumer, in stream order)
    /// inside the batch's transaction. The default calls [`Consumer::handle`]
    /// for each.
    ///
    /// Override it to write a whole batch in a few statements (`UNNEST`
    /// arrays, one upsert per table) instead of a round trip per event: on a
    /// busy database that is the difference between hundreds and thousands
    /// of events a second. The end state must be the one `handle` gives
    /// applied to each event in order. If it fails, the runner rolls the
    /// batch back and redoes it event by event with `handle`, so one bad
    /// event is still isolated and retried alone.
    async fn handle_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        for event in events {
            self.handle(event, tx).await?;
        }
        Ok(())
    }

    /// The types of events hookline does not model (e.g. `order.created`)
    /// this consumer wants, `"*"` for all. None by default: such events are
    /// then acknowledged and skipped without being decoded.
    fn other_event_types(&self) -> &[&str] {
        &[]
    }

    /// Applies one event of a type hookline does not model, inside the
    /// batch's transaction, exactly once like [`Consumer::handle`]. Called
    /// only for the types of [`Consumer::other_event_types`].
    async fn handle_other(
        &self,
        event: &OtherEvent,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let _ = (event, tx);
        Ok(())
    }
}

/// Why a handler could not apply an event.
///
/// `?` converts a [`sqlx::Error`]; [`HandlerError::retry`] and
/// [`HandlerError::permanent`] wrap anything else.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A query failed. Lost connections and deadlocks are the batch's problem
    /// (the runner retries the whole batch without blaming the event); other
    /// database errors are retried like [`HandlerError::Retry`].
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Something that may work next time: retried with back-off, then
    /// dead-lettered after `consumers.max_deliver` deliveries.
    #[error(transparent)]
    Retry(Cause),
    /// Something that will never work (e.g. data the consumer cannot accept):
    /// dead-lettered at once.
    #[error(transparent)]
    Permanent(Cause),
    /// A system the consumer needs is away or refuses for now (an external
    /// API down, rate-limiting or rejecting its credentials): not the
    /// event's fault. The runner holds the whole batch and tries it again
    /// later, as during a Postgres outage, without counting a delivery or
    /// dead-lettering anything. The consumer logs the cause itself (once),
    /// the runner only at debug level.
    #[error(transparent)]
    Unavailable(Cause),
    /// The handler panicked; treated like [`HandlerError::Retry`].
    #[error("handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    /// An error worth retrying.
    pub fn retry(err: impl Into<Cause>) -> Self {
        Self::Retry(err.into())
    }

    /// An error retrying cannot fix: the event goes straight to `CRM_DLQ`.
    pub fn permanent(err: impl Into<Cause>) -> Self {
        Self::Permanent(err.into())
    }

    /// A dependency is away: hold the batch and try again later.
    pub fn unavailable(err: impl Into<Cause>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Whether the event should skip its remaining retries.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }
}

impl From<serde_json::Error> for HandlerError {
    /// A payload the handler cannot read will not read better next time.
    fn from(err: serde_json::Error) -> Self {
        Self::Permanent(Box::new(Unreadable(err)))
    }
}

/// What a handler's error wraps: a message (`&str` and `String` convert) or
/// the error that caused it, kept for its chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A payload that does not deserialize.
#[derive(Debug, thiserror::Error)]
#[error("JSON: {0}")]
struct Unreadable(#[source] serde_json::Error);
