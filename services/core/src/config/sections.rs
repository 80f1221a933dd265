//! The configuration sections and their defaults; `nats.*` is in `nats.rs`,
//! the public listeners' `edge.*` and `ingest.*` in `public.rs`.

use super::{serde_duration, serde_durations};
use crate::event::EventType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("default address is valid")
}

/// `rc.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Postgres URL; the database is created by `hookline migrate` if absent.
    pub database_url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/hookline_rc".into(),
        }
    }
}

/// `crm.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// Postgres URL of the CRM side.
    pub database_url: String,
    /// Engagement points.
    pub scoring: ScoringConfig,
    /// Automation rules.
    pub automation: Vec<AutomationRule>,
    /// How long a form submission that reaches crm-ingest by a second path
    /// (the Resources Centre through hookline, and its own direct sender)
    /// still counts as the first one: same form, identity and fields. It is
    /// the max age of the `crm_form_dedupe` KV bucket.
    #[serde(with = "serde_duration")]
    pub form_dedupe_window: Duration,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/hookline_crm".into(),
            scoring: ScoringConfig::default(),
            form_dedupe_window: Duration::from_secs(600),
            automation: vec![
                AutomationRule {
                    name: "thank-you".into(),
                    task: "thank_you_email".into(),
                    event_type: Some(EventType::FormSubmission),
                    form_id: None,
                    score_threshold: None,
                },
                AutomationRule {
                    name: "sdr-hot-lead".into(),
                    task: "sdr_task".into(),
                    event_type: None,
                    form_id: None,
                    score_threshold: Some(50),
                },
            ],
        }
    }
}

/// `crm.scoring.*`: points an event adds to its contact's score.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// Points per page view.
    pub page_view: i64,
    /// Points per form submission.
    pub form_submission: i64,
    /// Extra points by content type (`event`, `resource`, `news`).
    pub content_type: BTreeMap<String, i64>,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            page_view: 1,
            form_submission: 10,
            content_type: [("event", 2), ("resource", 3), ("news", 0)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// One automation rule: on an event type (optionally one form), or on a
/// contact's score crossing a threshold, create a task.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutomationRule {
    /// Unique rule name (part of the once-only key).
    pub name: String,
    /// Task kind to create, e.g. `thank_you_email`, `sdr_task`.
    pub task: String,
    /// Fire on every event of this type…
    #[serde(default)]
    pub event_type: Option<EventType>,
    /// …optionally only for this form.
    #[serde(default)]
    pub form_id: Option<String>,
    /// Or fire once per contact when the score reaches this value.
    #[serde(default)]
    pub score_threshold: Option<i64>,
}

/// `dedupe.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupeConfig {
    /// Window of page-view duplicates, from the first view.
    #[serde(with = "serde_duration")]
    pub page_view_window: Duration,
    /// Window of form-submission duplicates.
    #[serde(with = "serde_duration")]
    pub form_window: Duration,
    /// How long the latest checksum of each content item is remembered: a
    /// `content_published` repeating it inside this time is dropped; a
    /// changed checksum always passes.
    #[serde(with = "serde_duration")]
    pub content_window: Duration,
    /// Keys the in-memory cache holds. moka spends about 330 bytes on each
    /// entry, so the default 400,000 costs ~130 MiB when full and keeps
    /// dedupe under 200 MiB with a million keys in the window; keys beyond
    /// it are still found in the KV bucket, at the cost of a round trip.
    pub cache_capacity: u64,
    /// Messages fetched and processed together.
    pub batch_size: usize,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        Self {
            page_view_window: Duration::from_secs(24 * 3600),
            form_window: Duration::from_secs(600),
            content_window: Duration::from_secs(24 * 3600),
            cache_capacity: 400_000,
            batch_size: 256,
        }
    }
}

/// `webhook_out.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookOutConfig {
    /// Admin API listen address.
    pub listen: SocketAddr,
    /// Bearer token of the admin API; required, at least 16 bytes.
    pub admin_token: Option<String>,
    /// Let every internal target through: development and tests only.
    pub allow_private_networks: bool,
    /// Internal ranges (CIDRs) API-created webhooks may target; none by default.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Base64 32-byte keys sealing secrets at rest; the first seals, all open.
    pub encryption_keys: Vec<String>,
    /// Delays between attempts; after the last the event is dead-lettered.
    #[serde(with = "serde_durations")]
    pub retry_schedule: Vec<Duration>,
    /// Deliveries in flight per endpoint. Each delivery waits a whole round
    /// trip (the receiver's work included), so this bounds one endpoint's
    /// rate at about `max_in_flight / latency`: 64 at 10–20 ms on a busy
    /// host is 3–6k deliveries/s (BENCHMARKS.md).
    pub max_in_flight: usize,
    /// TCP connect time-out.
    #[serde(with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Whole-request time-out.
    #[serde(with = "serde_duration")]
    pub request_timeout: Duration,
    /// Disable an endpoint that has failed without a success for this long.
    #[serde(with = "serde_duration")]
    pub disable_after: Duration,
    /// Keep delivery attempts this long.
    #[serde(with = "serde_duration")]
    pub attempt_retention: Duration,
    /// Where operational events go, signed (unset: none are sent).
    pub ops_webhook_url: Option<String>,
    /// The `whsec_` secret signing them; required with `ops_webhook_url`.
    pub ops_webhook_secret: Option<String>,
    /// The `siteId` of form submissions sent with the `optimocms` profile
    /// (OptimoCMS receivers read it as the site the form was on).
    pub site_id: Option<String>,
}

impl Default for WebhookOutConfig {
    fn default() -> Self {
        Self {
            listen: addr("0.0.0.0:8081"),
            admin_token: None,
            allow_private_networks: false,
            allowed_networks: Vec::new(),
            encryption_keys: Vec::new(),
            retry_schedule: [5, 30, 120, 600, 3600, 21600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_in_flight: 64,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            attempt_retention: Duration::from_secs(30 * 24 * 3600),
            ops_webhook_url: None,
            ops_webhook_secret: None,
            site_id: None,
        }
    }
}

/// `crm_webhook.*`: the webhook created from config at start-up.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmWebhookConfig {
    /// Target URL (`CRM_WEBHOOK_URL`).
    pub url: Option<String>,
    /// Shared secret (`CRM_SHARED_SECRET`), used as-is by `rc-legacy`.
    pub secret: Option<String>,
    /// API key put in the legacy body (`CRM_WEBHOOK_KEY`).
    pub api_key: Option<String>,
}

/// `consumers.*`: the CRM consumer runner.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumersConfig {
    /// Events per batch (one transaction where safe).
    pub batch_size: usize,
    /// Deliveries before an event goes to CRM_DLQ.
    pub max_deliver: i64,
    /// How long a delivered event may stay unacknowledged.
    #[serde(with = "serde_duration")]
    pub ack_wait: Duration,
    /// Delays of the naks after failures, by attempt.
    #[serde(with = "serde_durations")]
    pub backoff: Vec<Duration>,
}

impl Default for ConsumersConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            backoff: [1, 5, 30, 120]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

/// `hubspot.*`: the `hubspot-sync` consumer, which upserts the contacts of
/// form submissions into HubSpot. It runs only when `access_token` is set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubspotConfig {
    /// A HubSpot private-app access token with the `crm.objects.contacts.write`
    /// scope. A secret: never logged; unset or empty disables the consumer,
    /// set but shorter than 16 bytes stops it at start-up.
    pub access_token: Option<String>,
    /// The API host (a fake of it in tests).
    pub base_url: String,
}

impl Default for HubspotConfig {
    fn default() -> Self {
        Self {
            access_token: None,
            base_url: "https://api.hubapi.com".into(),
        }
    }
}

impl HubspotConfig {
    /// The token when the consumer is enabled (set and not blank).
    pub fn token(&self) -> Option<&str> {
        self.access_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// `ops.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Health and metrics listener.
    pub listen: SocketAddr,
    /// Longest drain after SIGTERM before in-flight work is abandoned (and
    /// left unacknowledged, so it is redelivered).
    #[serde(with = "serde_duration")]
    pub shutdown_grace: Duration,
    /// Whether this process refreshes the stack-wide lag gauges
    /// (`hookline_consumer_*`, `hookline_stream_*`). They describe the whole
    /// stack, so one process exporting them is enough and several would
    /// double every sum: unset, only `hookline webhook-out` and `hookline
    /// all` export them. Set it to move the job elsewhere.
    pub export_lag: Option<bool>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            listen: addr("0.0.0.0:9090"),
            shutdown_grace: Duration::from_secs(10),
            export_lag: None,
        }
    }
}

/// `telemetry.*`: span export. Logs and metrics need no settings here.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP receiver, e.g.
    /// `http://otel-collector:4318` (spans go to `/v1/traces` under it, as
    /// protobuf). Unset or empty: no spans are exported and nothing else
    /// changes.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// The endpoint, when one is set (an empty value counts as unset, so a
    /// compose file can pass `${OTLP_ENDPOINT:-}`).
    pub fn endpoint(&self) -> Option<&str> {
        self.otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,hookline_core=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info,async_nats=warn,sqlx=warn".into(),
        }
    }
}
