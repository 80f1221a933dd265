//! Connecting to NATS and declaring every stream and bucket of DESIGN.md.
//!
//! Declarations are create-or-update, so every service can run them at
//! start-up and running them twice changes nothing. Everything is named
//! through [`Names`], so `nats.prefix` isolates a stack.

use crate::config::{Config, NatsConfig};
use crate::event::EventType;
use crate::names::{self, Names};
use async_nats::jetstream::{self, kv, stream};
use std::time::{Duration, Instant};

/// Why NATS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The server did not answer within `nats.connect_timeout`.
    #[error("NATS unreachable at {url} after {waited:?}: {source}")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// How long we tried.
        waited: Duration,
        /// The last connection error.
        source: async_nats::ConnectError,
    },
    /// A stream could not be created or updated.
    #[error("stream {name}: {message}")]
    Stream {
        /// The stream's name.
        name: String,
        /// What the server said.
        message: String,
    },
    /// A KV bucket could not be created or updated.
    #[error("KV bucket {name}: {message}")]
    Bucket {
        /// The bucket's name.
        name: String,
        /// What the server said.
        message: String,
    },
}

/// A connected client and its JetStream context.
#[derive(Clone, Debug)]
pub struct Nats {
    /// The core client (for health checks and plain requests).
    pub client: async_nats::Client,
    /// JetStream, with room for many PubAcks in flight.
    pub js: jetstream::Context,
    /// This stack's names.
    pub names: Names,
}

/// PubAcks that may be outstanding per connection: high enough that batches
/// and concurrent HTTP requests pipeline instead of waiting one by one.
const MAX_ACKS_IN_FLIGHT: usize = 8_192;

impl Nats {
    /// Connects (retrying until `nats.connect_timeout`) without declaring
    /// anything.
    pub async fn connect(config: &NatsConfig) -> Result<Self, NatsError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let client = loop {
            match async_nats::ConnectOptions::new()
                .name("hookline")
                .connection_timeout(Duration::from_secs(5))
                .max_reconnects(None)
                .connect(servers(&config.url))
                .await
            {
                Ok(client) => break client,
                Err(source) if started.elapsed() >= config.connect_timeout => {
                    return Err(NatsError::Unreachable {
                        url: config.url.clone(),
                        waited: started.elapsed(),
                        source,
                    });
                }
                Err(err) => {
                    tracing::warn!(url = %config.url, error = %err, "NATS not reachable yet, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        };
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .max_ack_inflight(MAX_ACKS_IN_FLIGHT)
            .build(client.clone());
        Ok(Self {
            client,
            js,
            names: Names::new(config.prefix.clone()),
        })
    }

    /// Connects and declares every stream and bucket.
    pub async fn connect_and_declare(config: &Config) -> Result<Self, NatsError> {
        let nats = Self::connect(&config.nats).await?;
        declare(&nats, config).await?;
        Ok(nats)
    }

    /// Whether the connection is up (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// `nats.url` may list several servers, comma-separated (a cluster's seeds):
/// async-nats takes them as a list, and a client that starts while one node
/// is down still connects to another.
fn servers(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The stream configurations of DESIGN.md under this stack's names.
pub fn stream_configs(config: &Config) -> Vec<stream::Config> {
    let n = config.names();
    let nc = &config.nats;
    let base = |name: &str, subjects: Vec<String>, max_age: Duration| stream::Config {
        name: n.stream(name),
        subjects,
        max_age,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: nc.replicas,
        duplicate_window: nc.duplicate_window,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    };
    vec![
        base(names::RC_RAW, vec![n.subject("rc.raw.>")], nc.max_age),
        base(
            names::RC_EVENTS,
            vec![n.subject("rc.events.>")],
            nc.replay_max_age,
        ),
        base(names::RC_DLQ, vec![n.subject("rc.dlq.>")], nc.dlq_max_age),
        base(
            names::CRM_EVENTS,
            vec![n.subject("crm.events.>")],
            nc.max_age,
        ),
        base(names::CRM_DLQ, vec![n.subject("crm.dlq.>")], nc.dlq_max_age),
    ]
}

/// The dedupe bucket of one event type: one bucket per window, because
/// nats-server 2.9 has no per-key TTL; at most one value per key keeps only
/// the first event id.
///
/// Declared as the KV's backing stream (`KV_<bucket>`, the layout async-nats
/// and the server agree on) rather than through `create_key_value`, whose
/// account-info query does not parse against nats-server 2.9.
pub fn dedupe_bucket_config(config: &Config, kind: EventType) -> stream::Config {
    let window = match kind {
        EventType::PageView => config.dedupe.page_view_window,
        EventType::FormSubmission => config.dedupe.form_window,
    };
    let bucket = config.names().dedupe_bucket(kind);
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(format!(
            "hookline dedupe keys of {kind} (value: first event id)"
        )),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: window,
        storage: stream::StorageType::File,
        num_replicas: config.nats.replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        duplicate_window: window.min(Duration::from_secs(120)),
        ..Default::default()
    }
}

/// Creates or updates every stream and KV bucket. Idempotent.
pub async fn declare(nats: &Nats, config: &Config) -> Result<(), NatsError> {
    for cfg in stream_configs(config) {
        let name = cfg.name.clone();
        nats.js
            .create_or_update_stream(cfg)
            .await
            .map_err(|e| NatsError::Stream {
                name,
                message: e.to_string(),
            })?;
    }
    for kind in EventType::ALL {
        let cfg = dedupe_bucket_config(config, kind);
        let name = config.names().dedupe_bucket(kind);
        nats.js
            .create_or_update_stream(cfg)
            .await
            .map_err(|e| NatsError::Bucket {
                name,
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// Opens the dedupe bucket of one event type (declared by [`declare`]).
pub async fn dedupe_bucket(nats: &Nats, kind: EventType) -> Result<kv::Store, NatsError> {
    let name = nats.names.dedupe_bucket(kind);
    nats.js
        .get_key_value(name.clone())
        .await
        .map_err(|e| NatsError::Bucket {
            name,
            message: e.to_string(),
        })
}

/// Deletes every stream and bucket of a prefix (tests clean up with it).
pub async fn delete_all(nats: &Nats, config: &Config) {
    for cfg in stream_configs(config) {
        let _ = nats.js.delete_stream(&cfg.name).await;
    }
    for kind in EventType::ALL {
        let _ = nats
            .js
            .delete_key_value(config.names().dedupe_bucket(kind))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::servers;

    #[test]
    fn a_cluster_url_list_is_split() {
        assert_eq!(
            servers("nats://a:4222, nats://b:4222,,nats://c:4222"),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        assert_eq!(servers("nats://127.0.0.1:4222"), ["nats://127.0.0.1:4222"]);
    }
}
