//! Watching a running stack: lag, dead letters, the attempt log.

use crate::stack::{Service, Stack};
use crate::wait_for;
use hookline_core::lag;
use hookline_core::names::{CRM_DLQ, CRM_EVENTS, RC_DLQ, RC_EVENTS, RC_RAW};
use hookline_core::nats::Nats;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Consumers a full pipeline has, per stream.
const EXPECTED_CONSUMERS: [(&str, usize); 3] = [(RC_RAW, 1), (RC_EVENTS, 1), (CRM_EVENTS, 3)];

impl Stack {
    /// A NATS connection of the test itself.
    pub async fn nats(&self) -> Nats {
        Nats::connect(&self.config.nats).await.expect("NATS")
    }

    /// A pool on the RC database (webhook-out's state).
    pub async fn rc_pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.config.rc.database_url)
            .await
            .expect("RC database")
    }

    /// Waits until every consumer of RC_RAW, RC_EVENTS and CRM_EVENTS has
    /// nothing pending and nothing unacknowledged, twice in a row (a nak'ed
    /// or in-flight message counts as unacknowledged). Streams are read in
    /// pipeline order: each hop acknowledges only after the next hop has the
    /// event, so an idle reading means every event is at the end.
    pub async fn wait_idle(&self, limit: Duration) {
        let nats = self.nats().await;
        let deadline = Instant::now() + limit;
        let mut idle_in_a_row = 0;
        let mut last = String::new();
        loop {
            match self.busy(&nats).await {
                None => idle_in_a_row += 1,
                Some(why) => {
                    idle_in_a_row = 0;
                    last = why;
                }
            }
            if idle_in_a_row >= 2 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pipeline not idle after {limit:?}: {last}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What is still moving, or None when the pipeline is idle.
    async fn busy(&self, nats: &Nats) -> Option<String> {
        let streams = match lag::collect(nats).await {
            Ok(s) => s,
            Err(e) => return Some(e.to_string()),
        };
        for (base, wanted) in EXPECTED_CONSUMERS {
            let name = nats.names.stream(base);
            let Some(s) = streams.iter().find(|s| s.stream == name) else {
                return Some(format!("{name} missing"));
            };
            if s.consumers.len() < wanted {
                return Some(format!("{name} has {} consumers", s.consumers.len()));
            }
            if let Some(c) = s
                .consumers
                .iter()
                .find(|c| c.pending > 0 || c.ack_pending > 0)
            {
                return Some(format!(
                    "{name}/{}: pending {}, ack pending {}",
                    c.consumer, c.pending, c.ack_pending
                ));
            }
        }
        None
    }

    /// Messages delivered to `service`'s durable consumer and not yet
    /// acknowledged (read right after a kill: the work the kill
    /// interrupted). None for services without a consumer.
    pub async fn unacked(&self, service: Service) -> Option<u64> {
        let (base, name) = match service {
            Service::Dedupe => (RC_RAW, "dedupe"),
            Service::WebhookOut => (RC_EVENTS, "webhook-out-"),
            Service::Consumer(name) => (CRM_EVENTS, name),
            Service::Edge | Service::Ingest => return None,
        };
        let nats = self.nats().await;
        let stream_name = nats.names.stream(base);
        let streams = lag::collect(&nats).await.ok()?;
        let s = streams.iter().find(|s| s.stream == stream_name)?;
        Some(
            s.consumers
                .iter()
                .filter(|c| c.consumer.starts_with(name))
                .map(|c| c.ack_pending)
                .sum(),
        )
    }

    /// Messages in RC_DLQ and CRM_DLQ.
    pub async fn dead_letters(&self) -> (u64, u64) {
        let nats = self.nats().await;
        let mut out = [0u64; 2];
        for (i, base) in [RC_DLQ, CRM_DLQ].into_iter().enumerate() {
            let mut stream = nats
                .js
                .get_stream(nats.names.stream(base))
                .await
                .expect("DLQ stream");
            out[i] = stream.info().await.expect("stream info").state.messages;
        }
        (out[0], out[1])
    }

    /// Messages stored in one stream of the stack.
    pub async fn stream_messages(&self, base: &str) -> u64 {
        let nats = self.nats().await;
        let mut stream = nats
            .js
            .get_stream(nats.names.stream(base))
            .await
            .expect("stream");
        stream.info().await.expect("stream info").state.messages
    }
}

/// One row of webhook-out's attempt log.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Attempt {
    /// The event.
    pub event_id: String,
    /// 1 for the first try.
    pub attempt: i32,
    /// HTTP status, when a response came.
    pub status_code: Option<i32>,
    /// 2xx.
    pub success: bool,
    /// What went wrong.
    pub error: Option<String>,
}

/// Every attempt logged, oldest first.
pub async fn attempts(pool: &sqlx::PgPool) -> Vec<Attempt> {
    sqlx::query_as(
        "SELECT event_id, attempt, status_code, success, error \
         FROM delivery_attempts ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default()
}

/// The attempt log of the events in `ids`: each must show a failure
/// matching `failed`, and then exactly one success.
pub async fn assert_failures_then_one_success(
    stack: &Stack,
    ids: &BTreeSet<String>,
    failed: impl Fn(&Attempt) -> bool,
) -> usize {
    let rc = stack.rc_pool().await;
    // The attempt log is written in batches: wait for the successes.
    let log = wait_for("attempt log", Duration::from_secs(30), || {
        let rc = rc.clone();
        async move {
            let log = attempts(&rc).await;
            let ok = ids
                .iter()
                .all(|id| log.iter().any(|a| &a.event_id == id && a.success));
            ok.then_some(log)
        }
    })
    .await;
    let mut by_event: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for a in &log {
        by_event.entry(a.event_id.as_str()).or_default().push(a);
    }
    let mut failures = 0;
    for id in ids {
        let rows = &by_event[id.as_str()];
        let successes: Vec<_> = rows.iter().filter(|a| a.success).collect();
        assert_eq!(successes.len(), 1, "{id}: one success expected: {rows:?}");
        let failed_rows: Vec<_> = rows.iter().filter(|a| !a.success).collect();
        assert!(
            failed_rows.iter().any(|a| failed(a)),
            "{id}: the outage must show in the attempt log: {rows:?}"
        );
        assert!(
            failed_rows.iter().all(|a| a.attempt < successes[0].attempt),
            "{id}: failures come before the success: {rows:?}"
        );
        failures += failed_rows.len();
    }
    rc.close().await;
    failures
}

/// Waits until each group in `groups` (group -> the ids the edge accepted
/// for it) has a failed attempt logged for one of its ids. Exactly one id
/// of a group is delivered, and only once it has reached webhook-out through
/// the backlog does the outage show in its log: ending an outage earlier
/// would let a late event pass without ever meeting it.
pub async fn wait_each_failed(stack: &Stack, groups: &BTreeMap<usize, BTreeSet<String>>) {
    let rc = stack.rc_pool().await;
    wait_for(
        "a failed attempt of every event sent during the outage",
        Duration::from_secs(120),
        || {
            let rc = rc.clone();
            async move {
                let failed: BTreeSet<String> = attempts(&rc)
                    .await
                    .into_iter()
                    .filter(|a| !a.success)
                    .map(|a| a.event_id)
                    .collect();
                groups
                    .values()
                    .all(|ids| ids.iter().any(|id| failed.contains(id)))
                    .then_some(())
            }
        },
    )
    .await;
    rc.close().await;
}
