//! The stack's streams and KV buckets: their configurations and the
//! create-or-update that every service runs at start-up.

use super::{Nats, NatsError};
use crate::config::Config;
use crate::event::EventType;
use crate::names;
use async_nats::jetstream::{kv, stream};
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
