//! A stack per test on the real NATS and Postgres: isolated names, a fresh
//! CRM database, helpers to publish envelopes to CRM_EVENTS and to wait.

use bytes::Bytes;
use chrono::{DateTime, Duration as Minutes, TimeZone, Utc};
use crm_consumers::runner::{Consumer, Runner};
use hookline_core::config::Config;
use hookline_core::db;
use hookline_core::event::{ContentType, FormSubmission, PageView};
use hookline_core::names;
use hookline_core::nats::Nats;
use hookline_core::publish::{self, Outgoing};
use hookline_core::{
    Event, EventData, EventId, EventType, OtherEvent, Shutdown, telemetry, testing,
};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One isolated stack.
pub struct Stack {
    pub config: Config,
    pub nats: Nats,
    pub pool: PgPool,
}

impl Stack {
    /// Short back-offs and ack waits, so retries happen in milliseconds.
    pub async fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        telemetry::prometheus();
        let mut config = testing::isolated_config();
        config.consumers.backoff = vec![Duration::from_millis(50)];
        config.consumers.ack_wait = Duration::from_secs(2);
        config.consumers.max_deliver = 3;
        config.consumers.batch_size = 50;
        config.ops.shutdown_grace = Duration::from_secs(5);
        tweak(&mut config);
        let nats = Nats::connect_and_declare(&config).await.expect("NATS up");
        let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 4)
            .await
            .expect("Postgres up");
        Self { config, nats, pool }
    }

    /// Starts a runner with `consumers` (call twice for two instances).
    pub fn start(&self, consumers: Vec<Arc<dyn Consumer>>) -> Running {
        let shutdown = Shutdown::new();
        let runner = Runner::new(&self.nats, self.pool.clone(), &self.config);
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move { runner.run(consumers, stop).await });
        Running { shutdown, handle }
    }

    /// Publishes an event as crm-ingest does (`Nats-Msg-Id` = event id).
    pub async fn publish(&self, event: &Event) {
        self.publish_as(event, event.id.as_str()).await;
    }

    /// Publishes an event under another `Nats-Msg-Id` (a copy arriving after
    /// the duplicate window).
    pub async fn publish_as(&self, event: &Event, msg_id: &str) {
        let body = serde_json::to_vec(event).expect("serialises");
        self.publish_raw(event.event_type(), body.into(), msg_id)
            .await;
    }

    /// Publishes arbitrary bytes on `crm.events.<kind>`.
    pub async fn publish_raw(&self, kind: EventType, body: Bytes, msg_id: &str) {
        let subject = self.nats.names.crm_event_subject(kind);
        publish::publish(&self.nats.js, &Outgoing::new(subject, msg_id, body))
            .await
            .expect("published");
    }

    /// Publishes an other-type event as crm-ingest does
    /// (`crm.events.other.<type>`, `Nats-Msg-Id` = its id).
    pub async fn publish_other(&self, event: &OtherEvent) {
        let subject = self.nats.names.crm_other_subject(&event.kind);
        let body = serde_json::to_vec(event).expect("serialises");
        publish::publish(
            &self.nats.js,
            &Outgoing::new(subject, event.id.as_str(), body.into()),
        )
        .await
        .expect("published");
    }

    /// Every message in CRM_DLQ, in order.
    pub async fn dead_letters(&self) -> Vec<async_nats::jetstream::message::StreamMessage> {
        hookline_core::testing::stored(&self.nats, names::CRM_DLQ).await
    }

    /// Pending and ack-pending of a durable: (0, 0) once all is settled;
    /// `u64::MAX` pending while the durable does not exist yet.
    pub async fn backlog(&self, consumer: &str) -> (u64, usize) {
        let stream = self
            .nats
            .js
            .get_stream(self.nats.names.stream(names::CRM_EVENTS))
            .await
            .expect("stream");
        let durable: Result<async_nats::jetstream::consumer::PullConsumer, _> =
            stream.get_consumer(consumer).await;
        let Ok(mut durable) = durable else {
            return (u64::MAX, 0);
        };
        match durable.info().await {
            Ok(info) => (info.num_pending, info.num_ack_pending),
            Err(_) => (u64::MAX, 0),
        }
    }

    /// `SELECT count(*)` of a query.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count query")
    }

    /// Every row of a query, in its order.
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        sqlx::query_as(sql)
            .fetch_all(&self.pool)
            .await
            .expect("rows query")
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        testing::cleanup(&self.config).await;
    }
}

/// A running runner.
pub struct Running {
    pub shutdown: Shutdown,
    handle: JoinHandle<Result<(), crm_consumers::runner::RunnerError>>,
}

impl Running {
    /// Triggers shutdown and checks the runner drains cleanly.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let out = tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("the runner returns after shutdown")
            .expect("runner task did not panic");
        out.expect("runner ended without error");
    }

    /// Waits for a runner that is expected to end by itself.
    pub async fn join(self) -> Result<(), crm_consumers::runner::RunnerError> {
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("the runner returns")
            .expect("runner task did not panic")
    }
}

/// Polls `check` until it holds, failing the test after 30 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The value of a counter in /metrics (0 when absent).
pub fn metric(name: &str, consumer: &str) -> f64 {
    let text = telemetry::prometheus().render();
    let prefix = format!("{name}{{consumer=\"{consumer}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A fixed clock for scripted events: minute `n` after a fixed instant.
pub fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 13, 8, 0, 0).unwrap() + Minutes::minutes(n)
}

/// A page view.
pub fn page_view(
    contact_id: Option<&str>,
    content_type: ContentType,
    content_id: &str,
    utm_campaign: Option<&str>,
) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at(0),
        data: EventData::PageView(PageView {
            content_type,
            content_id: content_id.into(),
            slug: format!("{content_id}-slug"),
            title: Some(format!("Title of {content_id}")),
            community: Some("finance".into()),
            contact_id: contact_id.map(Into::into),
            url: Some(format!(
                "https://rc.example/{}/{content_id}-slug",
                content_type.as_str()
            )),
            content_checksum: None,
            utm_campaign: utm_campaign.map(Into::into),
            utm_source: None,
            utm_medium: None,
        }),
    }
}

/// A form submission.
pub fn form(
    form_id: &str,
    contact_id: Option<&str>,
    email: Option<&str>,
    content_type: Option<ContentType>,
    fields: &[(&str, &str)],
) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at(0),
        data: EventData::FormSubmission(FormSubmission {
            content_type,
            content_id: content_type.map(|_| "c1".to_string()),
            slug: content_type.map(|_| "c1-slug".to_string()),
            ..FormSubmission::new(form_id, contact_id, email, fields)
        }),
    }
}

/// The event at minute `n`.
pub fn timed(mut event: Event, n: i64) -> Event {
    event.occurred_at = at(n);
    event
}

/// An other-type event `kind` with id `id` and `data`, received from
/// OptimoCMS now.
pub fn other(kind: &str, id: &str, data: serde_json::Value) -> OtherEvent {
    let payload = serde_json::json!({"id": id, "type": kind, "data": data});
    OtherEvent {
        id: EventId::parse(id).expect("an id"),
        kind: kind.into(),
        source: "optimocms".into(),
        received_at: Utc::now(),
        payload: payload.as_object().cloned().unwrap_or_default(),
    }
}
