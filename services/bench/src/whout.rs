//! webhook-out deliveries per second: N webhooks (created through the admin
//! API, profile `standard`) pointing at a local receiver that answers 200 at
//! once; M page views published straight to RC_EVENTS; the time until the
//! receiver has all M × N deliveries.
//!
//! The receiver is `hookline-bench receiver` in its own process when
//! `--receiver` names it (what `scripts/bench` does, so the raw HTTP loop it
//! is compared with posts to the very same server), else one in this process.

use crate::servers;
use hookline_core::event::{ContentType, PageView};
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish_batch};
use hookline_core::{Config, Event, EventData, EventType, lag, names};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a webhook-out run measured.
#[derive(Debug, Serialize)]
pub struct WhResult {
    /// `webhook-out`.
    pub target: String,
    /// Webhooks subscribed.
    pub webhooks: usize,
    /// Events published to RC_EVENTS.
    pub events: usize,
    /// Deliveries the receiver answered.
    pub delivered: u64,
    /// Deliveries per second, first to last delivery.
    pub deliveries_per_sec: f64,
    /// Seconds from the first publish to the last delivery.
    pub seconds: f64,
    /// Publishing the events took this long (seconds).
    pub publish_seconds: f64,
}

/// Where deliveries are counted.
enum Counter {
    /// A receiver in this process.
    Local(Arc<servers::Received>),
    /// `hookline-bench receiver` at this address.
    Remote(reqwest::Client, SocketAddr),
}

impl Counter {
    async fn open(receiver: Option<SocketAddr>) -> anyhow::Result<(SocketAddr, Self)> {
        match receiver {
            None => {
                let (addr, received) = servers::receiver("127.0.0.1:0".parse()?).await?;
                Ok((addr, Self::Local(received)))
            }
            Some(addr) => {
                let http = reqwest::Client::new();
                http.post(format!("http://{addr}/reset"))
                    .send()
                    .await?
                    .error_for_status()?;
                Ok((addr, Self::Remote(http, addr)))
            }
        }
    }

    /// Deliveries so far, and seconds from the first to the latest.
    async fn stats(&self) -> anyhow::Result<(u64, f64)> {
        match self {
            Self::Local(r) => Ok((r.count.load(Ordering::Relaxed), r.span_seconds())),
            Self::Remote(http, addr) => {
                let v: serde_json::Value = http
                    .get(format!("http://{addr}/stats"))
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok((
                    v["count"].as_u64().unwrap_or(0),
                    v["span_s"].as_f64().unwrap_or(0.0),
                ))
            }
        }
    }
}

/// What to measure.
pub struct WhSpec {
    /// webhook-out's admin API.
    pub admin: SocketAddr,
    /// Its bearer token.
    pub token: String,
    /// Webhooks to create.
    pub webhooks: usize,
    /// Events to publish.
    pub events: usize,
    /// Longest wait for the deliveries.
    pub timeout: Duration,
    /// An external receiver; `None`: one in this process.
    pub receiver: Option<SocketAddr>,
}

/// Creates the webhooks, publishes, waits, deletes the webhooks.
pub async fn run(config: &Config, spec: WhSpec) -> anyhow::Result<WhResult> {
    let WhSpec {
        admin,
        ref token,
        webhooks,
        events,
        timeout,
        receiver,
    } = spec;
    let (recv_addr, counter) = Counter::open(receiver).await?;
    let http = reqwest::Client::new();
    let base = format!("http://{admin}/v1/webhooks");
    let mut ids = Vec::new();
    for i in 0..webhooks {
        let resp = http
            .post(&base)
            .bearer_auth(token)
            .json(&serde_json::json!({
                "url": format!("http://{recv_addr}/hook/{i}"),
                "events": ["page_view"],
                "profile": "standard",
                "description": "hookline-bench",
            }))
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        let Some(id) = body["id"].as_str() else {
            anyhow::bail!("creating a webhook answered {status}: {body}");
        };
        ids.push(id.to_string());
    }
    let result = measure(config, &ids, events, timeout, &counter).await;
    for id in &ids {
        let _ = http
            .delete(format!("{base}/{id}"))
            .bearer_auth(token)
            .send()
            .await;
    }
    let (delivered, seconds, publish_seconds) = result?;
    let (_, span) = counter.stats().await?;
    Ok(WhResult {
        target: "webhook-out".into(),
        webhooks,
        events,
        delivered,
        deliveries_per_sec: crate::report::round2(delivered as f64 / span.max(1e-9)),
        seconds: crate::report::round2(seconds),
        publish_seconds: crate::report::round2(publish_seconds),
    })
}

async fn measure(
    config: &Config,
    ids: &[String],
    events: usize,
    timeout: Duration,
    counter: &Counter,
) -> anyhow::Result<(u64, f64, f64)> {
    let nats = Nats::connect(&config.nats).await?;
    let stream = nats.names.stream(names::RC_EVENTS);
    // Each webhook's durable must exist before we publish, or its consumer
    // (which starts at the webhook's creation time) could miss nothing but
    // we would time its start-up instead of its deliveries.
    let want: Vec<String> = ids.iter().map(|id| format!("webhook-out-{id}")).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let streams = lag::collect(&nats).await?;
        let have = streams
            .iter()
            .filter(|s| s.stream == stream)
            .flat_map(|s| &s.consumers)
            .filter(|c| want.contains(&c.consumer))
            .count();
        if have == want.len() {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "webhook-out did not open its consumers within 30 s ({have}/{})",
                want.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subject = nats.names.rc_event_subject(EventType::PageView);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let started = Instant::now();
    for chunk in (0..events).collect::<Vec<_>>().chunks(1000) {
        let msgs: Vec<Outgoing> = chunk
            .iter()
            .map(|n| {
                let event = Event::new(EventData::PageView(PageView {
                    content_type: ContentType::Resource,
                    content_id: format!("r-{run}-{n}"),
                    slug: format!("bench-resource-{n}"),
                    title: Some(format!("Benchmark resource {n}")),
                    community: Some("bench".into()),
                    contact_id: Some(format!("c-{}", n % 10_000)),
                    url: Some(format!(
                        "https://rc.example.org/resources/bench-resource-{n}"
                    )),
                    content_checksum: None,
                    utm_campaign: None,
                    utm_source: None,
                    utm_medium: None,
                }));
                let body = serde_json::to_vec(&event).unwrap_or_default();
                Outgoing::new(subject.clone(), event.id.as_str(), body.into())
            })
            .collect();
        for r in publish_batch(&nats.js, &msgs).await {
            r?;
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let target = (events * ids.len()) as u64;
    let deadline = Instant::now() + timeout;
    let mut delivered = counter.stats().await?.0;
    while delivered < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        delivered = counter.stats().await?.0;
    }
    if delivered < target {
        eprintln!("webhooks: only {delivered} of {target} deliveries within the time-out");
    }
    Ok((delivered, started.elapsed().as_secs_f64(), publish_seconds))
}
