//! Delivery: one durable JetStream consumer per webhook, each driven by its
//! own task, so a slow or dead endpoint never holds up another.
//!
//! Retries wait inside JetStream, not in memory: a failed attempt is
//! nak'd with the next delay of the schedule, and the message's delivery
//! count says which attempt the next one is. A crash, a restart or a
//! rebalancing between instances therefore loses nothing and keeps the
//! schedule. The [`supervisor`] keeps the set of running consumers in line
//! with the `webhooks` table.

mod dead_letter;
pub mod request;
pub mod retry;
pub mod send;
pub mod supervisor;
pub mod worker;

use crate::ssrf::Policy;
use crate::store::{AttemptWriter, Webhook, WebhookId};
use hookline_core::nats::Nats;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Messages one consumer may have delivered and not yet acknowledged,
/// including those waiting in JetStream for their retry. A dead endpoint
/// holds at most this many events in retry; newer ones wait in the stream.
pub const MAX_ACK_PENDING: i64 = 10_000;

/// What every delivery task shares.
pub struct Ctx {
    /// The `rc` database.
    pub pool: PgPool,
    /// NATS.
    pub nats: Nats,
    /// The pooled HTTP client of API-created webhooks, guarded by `policy`.
    pub http: reqwest::Client,
    /// The pooled HTTP client of the config webhook (any address).
    pub http_config: reqwest::Client,
    /// Seals and opens the secrets stored in `webhooks`.
    pub keys: Arc<crate::store::Keyring>,
    /// The attempt log.
    pub writer: AttemptWriter,
    /// Operational events (`webhook_out.ops_webhook_url`), when configured.
    pub ops: Option<Arc<crate::ops_events::OpsEvents>>,
    /// `webhook_out.retry_schedule`.
    pub schedule: Vec<Duration>,
    /// `webhook_out.max_in_flight`.
    pub max_in_flight: usize,
    /// `webhook_out.request_timeout`.
    pub request_timeout: Duration,
    /// What API-created webhooks may reach (`webhook_out.allowed_networks`).
    pub policy: Arc<Policy>,
    /// `crm_webhook.url`: the config webhook is trusted only while its URL
    /// is still the one in config (an API change cannot borrow its trust).
    pub config_url: Option<String>,
    /// `webhook_out.site_id`: the `siteId` of `optimocms` form bodies.
    pub site_id: Option<String>,
    /// `ops.shutdown_grace`: how long in-flight deliveries may finish.
    pub grace: Duration,
    /// Wakes the supervisor after a change made through this instance's API.
    pub poke: Notify,
    /// Number of supervisor passes started.
    pub sync_started: AtomicU64,
    /// Number of the last supervisor pass finished.
    pub sync_done: watch::Sender<u64>,
}

impl Ctx {
    /// The client and policy a delivery to `webhook` goes through: open for
    /// the config webhook at the configured URL, closed otherwise.
    pub fn route(&self, webhook: &Webhook) -> (&reqwest::Client, &Policy) {
        static OPEN: Policy = Policy::open();
        let trusted =
            webhook.source == "config" && self.config_url.as_deref() == Some(webhook.url.as_str());
        if trusted {
            (&self.http_config, &OPEN)
        } else {
            (&self.http, &self.policy)
        }
    }

    /// Wakes the supervisor and waits (briefly) until a pass that began
    /// after this call has finished, so a change made through this
    /// instance's API is in force here when the API answers (other
    /// instances follow within [`supervisor::POLL`]).
    pub async fn apply_now(&self) {
        let target = self.sync_started.load(Ordering::SeqCst) + 1;
        let mut done = self.sync_done.subscribe();
        self.poke.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(3), done.wait_for(|n| *n >= target)).await;
    }

    /// How long JetStream waits for an ack before redelivering: well above
    /// the longest request, so a slow but alive endpoint is never delivered
    /// to twice at once.
    pub fn ack_wait(&self) -> Duration {
        self.request_timeout + Duration::from_secs(30)
    }

    /// `max_deliver` of every consumer: the worker dead-letters after
    /// `schedule.len() + 1` attempts itself; the shared margin keeps the
    /// server from dropping an event whose deliveries were interrupted.
    pub fn max_deliver(&self) -> i64 {
        self.schedule.len() as i64 + 1 + hookline_core::dlq::MAX_DELIVER_MARGIN
    }
}

/// Registers the `# HELP` text of the delivery metrics (harmless to call
/// more than once).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "hookline_webhook_deliveries_total",
        "Webhook delivery attempts, by webhook and outcome (success, failure)"
    );
    describe_histogram!(
        "hookline_webhook_delivery_seconds",
        Unit::Seconds,
        "Time of one webhook delivery attempt, request to response"
    );
    describe_gauge!(
        "hookline_webhook_in_flight",
        "Webhook requests in flight, by webhook"
    );
    describe_counter!(
        "hookline_webhook_retries_total",
        "Failed webhook attempts that will be retried"
    );
    describe_counter!(
        "hookline_webhook_exhausted_total",
        "Webhook attempts that ended the retry schedule"
    );
    describe_counter!(
        "hookline_webhook_dead_lettered_total",
        "Events a webhook's retries gave up on, published to RC_DLQ"
    );
}

/// The durable consumer of a webhook.
pub fn consumer_name(webhook_id: &WebhookId) -> String {
    format!("webhook-out-{webhook_id}")
}

/// The webhook id in a consumer name of ours (`webhook-out-<id>` or
/// `webhook-out-<id>-replay-<n>`), if it is one.
pub fn webhook_of_consumer(name: &str) -> Option<WebhookId> {
    let rest = name.strip_prefix("webhook-out-")?;
    WebhookId::parse(rest.split('-').next()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_round_trip() {
        let id = WebhookId::parse("wh_ABC").unwrap();
        assert_eq!(consumer_name(&id), "webhook-out-wh_ABC");
        assert_eq!(webhook_of_consumer("webhook-out-wh_ABC"), Some(id.clone()));
        assert_eq!(webhook_of_consumer("webhook-out-wh_ABC-replay-7"), Some(id));
        assert_eq!(webhook_of_consumer("dedupe"), None);
    }
}
