//! Dedupe workers on an isolated prefix, raw events published straight to
//! RC_RAW, and ways to count what reached RC_EVENTS.

use async_nats::jetstream::consumer::pull;
use chrono::{DateTime, Utc};
use hookline_core::event::{
    ContentType, Event, EventData, EventId, FormSubmission, PageView, RawEvent, Visitor,
};
use hookline_core::names::{RC_EVENTS, RC_RAW};
use hookline_core::nats::Nats;
use hookline_core::ops::Readiness;
use hookline_core::publish::{Outgoing, publish_batch};
use hookline_core::{Config, Shutdown, testing};
use std::time::{Duration, Instant};

pub struct Stack {
    pub config: Config,
    pub nats: Nats,
    workers: Vec<(Shutdown, tokio::task::JoinHandle<Result<(), dedupe::Error>>)>,
}

impl Stack {
    pub async fn start(config: Config) -> Stack {
        let nats = Nats::connect_and_declare(&config).await.expect("NATS up");
        Stack {
            config,
            nats,
            workers: Vec::new(),
        }
    }

    /// Starts one more dedupe instance (same durable consumer, same KV).
    pub fn spawn_worker(&mut self) {
        let shutdown = Shutdown::new();
        let task = tokio::spawn(dedupe::work(
            self.config.clone(),
            Readiness::new(),
            shutdown.clone(),
        ));
        self.workers.push((shutdown, task));
    }

    /// Publishes raw events to RC_RAW with `Nats-Msg-Id` = event id.
    pub async fn publish(&self, raws: &[RawEvent]) {
        let msgs: Vec<Outgoing> = raws
            .iter()
            .map(|r| {
                Outgoing::new(
                    self.nats.names.raw_subject(r.event.event_type()),
                    r.event.id.as_str(),
                    serde_json::to_vec(r).unwrap().into(),
                )
            })
            .collect();
        for result in publish_batch(&self.nats.js, &msgs).await {
            result.expect("raw event stored");
        }
    }

    /// Publishes one raw event under another `Nats-Msg-Id`: the stream keeps
    /// it, as if the same event were delivered again.
    pub async fn publish_again(&self, raw: &RawEvent, msg_id: &str) {
        let msg = Outgoing::new(
            self.nats.names.raw_subject(raw.event.event_type()),
            msg_id,
            serde_json::to_vec(raw).unwrap().into(),
        );
        publish_batch(&self.nats.js, &[msg])
            .await
            .remove(0)
            .unwrap();
    }

    /// Waits until the dedupe consumer has settled everything on RC_RAW.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.settled().await {
                return;
            }
            assert!(Instant::now() < deadline, "dedupe never caught up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn settled(&self) -> bool {
        let names = self.config.names();
        let Ok(mut raw) = self.nats.js.get_stream(names.stream(RC_RAW)).await else {
            return false;
        };
        let Ok(info) = raw.info().await else {
            return false;
        };
        let last = info.state.last_sequence;
        let Ok(mut consumer) = raw
            .get_consumer::<pull::Config>(dedupe::CONSUMER_NAME)
            .await
        else {
            return false;
        };
        match consumer.info().await {
            Ok(c) => {
                c.num_pending == 0 && c.num_ack_pending == 0 && c.ack_floor.stream_sequence >= last
            }
            Err(_) => false,
        }
    }

    /// Every event on RC_EVENTS, in order, as raw JSON.
    pub async fn forwarded(&self) -> Vec<serde_json::Value> {
        hookline_core::testing::stored(&self.nats, RC_EVENTS)
            .await
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    /// How many messages RC_EVENTS holds.
    pub async fn forwarded_count(&self) -> u64 {
        let mut stream = self
            .nats
            .js
            .get_stream(self.config.names().stream(RC_EVENTS))
            .await
            .unwrap();
        stream.info().await.unwrap().state.messages
    }

    /// Stops every worker (each must return Ok) and removes the prefix.
    pub async fn stop(mut self) {
        self.stop_workers().await;
        testing::cleanup(&self.config).await;
    }

    /// Stops every worker; each must return Ok within its grace period.
    pub async fn stop_workers(&mut self) {
        for (shutdown, _) in &self.workers {
            shutdown.trigger();
        }
        for (_, task) in self.workers.drain(..) {
            let result = tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("dedupe stops within its grace period")
                .unwrap();
            result.expect("dedupe stops cleanly");
        }
    }
}

/// A page view at `at`, by a contact or a fingerprint.
pub fn view_at(
    at: DateTime<Utc>,
    content_id: &str,
    contact: Option<&str>,
    fingerprint: Option<&str>,
) -> RawEvent {
    let mut event = Event::new(EventData::PageView(PageView::new(
        ContentType::Resource,
        content_id,
        &format!("slug-{content_id}"),
        contact,
    )));
    event.occurred_at = at;
    RawEvent {
        event,
        visitor: Visitor {
            fingerprint: fingerprint.map(Into::into),
            bot: false,
        },
    }
}

/// A page view now.
pub fn view(content_id: &str, contact: Option<&str>, fingerprint: Option<&str>) -> RawEvent {
    view_at(Utc::now(), content_id, contact, fingerprint)
}

/// A form submission now.
pub fn form(contact: Option<&str>, email: Option<&str>, fields: &[(&str, &str)]) -> RawEvent {
    RawEvent {
        event: Event::new(EventData::FormSubmission(FormSubmission::new(
            "frm_demo", contact, email, fields,
        ))),
        visitor: Visitor::default(),
    }
}

/// The ids of forwarded events.
pub fn ids(events: &[serde_json::Value]) -> Vec<EventId> {
    events
        .iter()
        .map(|e| EventId::parse(e["id"].as_str().unwrap()).unwrap())
        .collect()
}
