//! The stack's streams, KV buckets and durable consumers: their
//! configurations and the compare-first create-or-update that every service
//! runs at start-up (and again when a consumer has to be re-opened).

mod answer;
mod compare;
mod ensure;

pub use compare::{consumer_differences, stream_differences};
pub use ensure::Existing;

use super::{Nats, NatsError};
use crate::config::Config;
use crate::event::EventType;
use crate::names;
use async_nats::jetstream::consumer::{PullConsumer, pull};
use async_nats::jetstream::{self, kv, stream};
use ensure::{Patience, Stop};
use std::time::Duration;

/// The stack's stream configurations under this stack's names.
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
/// the first event id (for `content_published`, the latest checksum and its
/// event id, keyed by content item).
pub fn dedupe_bucket_config(config: &Config, kind: EventType) -> stream::Config {
    let window = match kind {
        EventType::PageView => config.dedupe.page_view_window,
        EventType::FormSubmission => config.dedupe.form_window,
        EventType::ContentPublished => config.dedupe.content_window,
    };
    let bucket = config.names().dedupe_bucket(kind);
    let description = format!("hookline dedupe keys of {kind} (value: first event id)");
    bucket_config(config, &bucket, description, window)
}

/// crm-ingest's form fingerprints (value: the first event id), kept for
/// `crm.form_dedupe_window` from the first sender's copy.
pub fn crm_form_bucket_config(config: &Config) -> stream::Config {
    let bucket = config.names().crm_form_bucket();
    let description = "hookline CRM form fingerprints (value: first event id)".to_string();
    bucket_config(config, &bucket, description, config.crm.form_dedupe_window)
}

/// A first-writer-wins KV bucket whose entries live `window`.
///
/// Declared as the KV's backing stream (`KV_<bucket>`, the layout async-nats
/// and the server agree on) rather than through `create_key_value`, whose
/// account-info query does not parse against nats-server 2.9.
fn bucket_config(
    config: &Config,
    bucket: &str,
    description: String,
    window: Duration,
) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description),
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

/// Makes every stream and KV bucket exist with this stack's settings.
///
/// Compare-first: each one's info is read and it is created or updated only
/// when missing or different, so any number of processes may declare at the
/// same moment, and a user that may only read stream info can start once an
/// administrator (`hookline migrate`) has declared them. While JetStream is
/// not ready (no answer, no leader, a cluster still forming) it waits and
/// asks again, for up to `nats.connect_timeout` in all; a setting the
/// server refuses stops it at once with a
/// [`ConfigError`](crate::config::ConfigError) naming the key.
pub async fn declare(nats: &Nats, config: &Config) -> Result<(), NatsError> {
    let mut patience = Patience::new(config.nats.connect_timeout);
    for cfg in stream_configs(config) {
        let what = format!("stream {}", cfg.name);
        ensure::stream(&nats.js, &cfg, &mut patience)
            .await
            .map_err(|stop| stopped(what, stop))?;
    }
    let buckets = EventType::ALL
        .map(|kind| dedupe_bucket_config(config, kind))
        .into_iter()
        .chain([crm_form_bucket_config(config)]);
    for cfg in buckets {
        let what = format!("KV bucket {}", &cfg.name["KV_".len()..]);
        ensure::stream(&nats.js, &cfg, &mut patience)
            .await
            .map_err(|stop| stopped(what, stop))?;
    }
    Ok(())
}

/// Makes the durable pull consumer `want` exist on the stream `stream` (a
/// full name) with `want`'s settings, the same way [`declare`] does streams,
/// waiting up to `limit` (`nats.connect_timeout`) while JetStream is not
/// ready; `existing` says what to do when the server will not update a
/// durable that differs.
pub async fn ensure_consumer(
    js: &jetstream::Context,
    stream: &str,
    want: &pull::Config,
    existing: Existing,
    limit: Duration,
) -> Result<PullConsumer, NatsError> {
    let mut patience = Patience::new(limit);
    let name = want.durable_name.clone().unwrap_or_default();
    ensure::consumer(js, stream, want, existing, &mut patience)
        .await
        .map_err(|stop| stopped(format!("consumer {name} on stream {stream}"), stop))
}

fn stopped(what: String, stop: Stop) -> NatsError {
    match stop {
        Stop::Waited { waited, last } => NatsError::NotReady {
            what,
            waited,
            last: last.into(),
        },
        Stop::Setting(source) => NatsError::Setting { what, source },
        Stop::Refused(source) => NatsError::Refused { what, source },
    }
}

/// Opens the dedupe bucket of one event type (declared by [`declare`]),
/// waiting up to `nats.connect_timeout` while JetStream does not answer.
pub async fn dedupe_bucket(
    nats: &Nats,
    config: &Config,
    kind: EventType,
) -> Result<kv::Store, NatsError> {
    open_bucket(nats, config, nats.names.dedupe_bucket(kind)).await
}

/// Opens crm-ingest's form-fingerprint bucket (declared by [`declare`]).
pub async fn crm_form_bucket(nats: &Nats, config: &Config) -> Result<kv::Store, NatsError> {
    open_bucket(nats, config, nats.names.crm_form_bucket()).await
}

async fn open_bucket(nats: &Nats, config: &Config, name: String) -> Result<kv::Store, NatsError> {
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match nats.js.get_key_value(name.clone()).await {
            Ok(store) => return Ok(store),
            Err(e) if started.elapsed() >= config.nats.connect_timeout => {
                return Err(NatsError::Bucket {
                    name,
                    message: e.to_string(),
                });
            }
            Err(e) => {
                tracing::info!(bucket = %name, error = %e, "KV bucket not readable yet; waiting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Deletes every stream and bucket of a prefix (tests clean up with it).
pub async fn delete_all(nats: &Nats, config: &Config) {
    for cfg in stream_configs(config) {
        let _ = nats.js.delete_stream(&cfg.name).await;
    }
    for bucket in config.names().buckets() {
        let _ = nats.js.delete_key_value(bucket).await;
    }
}
