//! Connecting to NATS and declaring every stream and bucket of the stack.
//!
//! Logging in and TLS live in `connect`; declarations are create-or-update, so every service can run them at
//! start-up and running them twice changes nothing. Everything is named
//! through [`Names`], so `nats.prefix` isolates a stack.

pub mod by_time;
mod connect;
mod declare;
pub mod permissions;

pub use connect::redact_url;

pub use declare::{
    Existing, consumer_differences, crm_form_bucket, crm_form_bucket_config, declare,
    dedupe_bucket, dedupe_bucket_config, delete_all, ensure_consumer, stream_configs,
    stream_differences,
};

use crate::config::{Config, ConfigError, NatsConfig};
use crate::names::Names;
use async_nats::jetstream;
use connect::Plan;
use std::time::{Duration, Instant};

/// Why NATS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The server did not answer within `nats.connect_timeout`.
    #[error("NATS unreachable at {url} after {waited:?}: {source}")]
    Unreachable {
        /// The configured URL, credentials hidden.
        url: String,
        /// How long we tried.
        waited: Duration,
        /// The last connection error.
        source: async_nats::ConnectError,
    },
    /// The configuration cannot work: a file it names is unusable, or the
    /// server refused the login or the TLS handshake. Retrying cannot help;
    /// the cause names the key to fix.
    #[error("NATS at {url}: {source}")]
    ConnectRefused {
        /// The configured URL, credentials hidden.
        url: String,
        /// The key to fix and why.
        #[source]
        source: ConfigError,
    },
    /// A stream could not be created or updated.
    #[error("stream {name}: {message}")]
    Stream {
        /// The stream's name.
        name: String,
        /// What the server said.
        message: String,
    },
    /// A KV bucket could not be opened.
    #[error("KV bucket {name}: {message}")]
    Bucket {
        /// The bucket's name.
        name: String,
        /// What the server said.
        message: String,
    },
    /// JetStream did not become ready for a declaration within
    /// `nats.connect_timeout` (no answer, no leader, a cluster forming).
    #[error("{what}: JetStream not ready after {waited:?} (nats.connect_timeout): {last}")]
    NotReady {
        /// The stream, bucket or consumer being declared.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The last answer.
        #[source]
        last: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server refuses a declaration because of a setting the operator
    /// must change (exit 2 naming the key).
    #[error("{what}: {source}")]
    Setting {
        /// The stream, bucket or consumer being declared.
        what: String,
        /// The key at fault.
        #[source]
        source: ConfigError,
    },
    /// The server refuses a declaration for another reason.
    #[error("{what}: {source}")]
    Refused {
        /// The stream, bucket or consumer being declared.
        what: String,
        /// What the server or client said.
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// Connects without declaring anything. An unreachable server is
    /// retried until `nats.connect_timeout`; a refusal (login, TLS) returns
    /// at once, since waiting cannot fix it.
    pub async fn connect(config: &NatsConfig) -> Result<Self, NatsError> {
        let url = redact_url(&config.url);
        let refused = |source| NatsError::ConnectRefused {
            url: url.clone(),
            source,
        };
        let plan = Plan::new(config).await.map_err(refused)?;
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let client = loop {
            match plan.options.clone().connect(plan.servers.clone()).await {
                Ok(client) => break client,
                Err(err) => {
                    if let Some(fix) = plan.refusal(&err, config) {
                        return Err(refused(fix));
                    }
                    if started.elapsed() >= config.connect_timeout {
                        return Err(NatsError::Unreachable {
                            url,
                            waited: started.elapsed(),
                            source: err,
                        });
                    }
                    tracing::warn!(url = %url, error = %err, "NATS not reachable yet, retrying");
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
