//! Declaring streams, buckets and durables at start-up against the real
//! local NATS: concurrent declarers all succeed, an unchanged declaration
//! writes nothing, and a setting the server refuses names its key at once.

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream;
use hookline_core::config::ConfigError;
use hookline_core::event::EventType;
use hookline_core::names;
use hookline_core::nats::{self, Existing, Nats, NatsError};
use hookline_core::testing;
use std::error::Error as _;
use std::time::{Duration, Instant};

/// Declarers racing per round, each on its own connection like a process.
/// With this many, a plain update-else-create declaration failed in each of
/// three runs of ten rounds ("subjects overlap", or a time-out).
const RACERS: usize = 32;
const ROUNDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_declarers_at_once_all_succeed() {
    for round in 0..ROUNDS {
        let config = testing::isolated_config();
        let mut connections = Vec::new();
        for _ in 0..RACERS {
            connections.push(Nats::connect(&config.nats).await.expect("NATS up"));
        }
        // Start them together: every task waits at the barrier first.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let racers: Vec<_> = connections
            .into_iter()
            .map(|n| {
                let (config, barrier) = (config.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    nats::declare(&n, &config).await?;
                    let want = durable("racer");
                    let stream = n.names.stream(names::CRM_EVENTS);
                    let limit = config.nats.connect_timeout;
                    nats::ensure_consumer(&n.js, &stream, &want, Existing::Refuse, limit).await?;
                    Ok::<_, NatsError>(())
                })
            })
            .collect();
        for (i, racer) in racers.into_iter().enumerate() {
            if let Err(e) = racer.await.expect("task") {
                panic!("round {round}, declarer {i} failed: {e}");
            }
        }

        // What they made matches what they asked for: a later start finds
        // nothing to write (so it needs no permission beyond reading info).
        let n = Nats::connect(&config.nats).await.expect("NATS up");
        let mut wanted = nats::stream_configs(&config);
        wanted.extend(EventType::ALL.map(|k| nats::dedupe_bucket_config(&config, k)));
        wanted.push(nats::crm_form_bucket_config(&config));
        for want in &wanted {
            let mut s = n.js.get_stream(&want.name).await.expect("declared");
            let have = s.info().await.expect("info").config.clone();
            let differences = nats::stream_differences(&have, want);
            assert!(differences.is_empty(), "{}: {differences:?}", want.name);
        }
        testing::cleanup(&config).await;
    }
}

fn durable(name: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(name.into()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_secs(7),
        max_deliver: 9,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_changed_durable_is_updated_and_a_refused_change_names_a_key() {
    let config = testing::isolated_config();
    let n = Nats::connect_and_declare(&config).await.expect("NATS up");
    let stream = n.names.stream(names::CRM_EVENTS);
    let limit = Duration::from_secs(5);
    nats::ensure_consumer(&n.js, &stream, &durable("d"), Existing::Refuse, limit)
        .await
        .expect("created");
    let mut changed = durable("d");
    changed.ack_wait = Duration::from_secs(11);
    let mut c = nats::ensure_consumer(&n.js, &stream, &changed, Existing::Refuse, limit)
        .await
        .expect("updated in place");
    assert_eq!(c.info().await.unwrap().config.ack_wait, changed.ack_wait);

    // A deliver policy cannot change on an existing durable.
    let mut refused = changed.clone();
    refused.deliver_policy = async_nats::jetstream::consumer::DeliverPolicy::New;
    let started = Instant::now();
    let err = nats::ensure_consumer(&n.js, &stream, &refused, Existing::Refuse, limit)
        .await
        .expect_err("the server refuses");
    assert!(started.elapsed() < limit, "a refusal is not waited on");
    assert_eq!(config_key(&err), Some("nats.prefix"), "{err}");
    // …unless the caller keeps the durable as it is.
    let mut kept = nats::ensure_consumer(&n.js, &stream, &refused, Existing::Use, limit)
        .await
        .expect("kept");
    let info = kept.info().await.unwrap();
    assert_eq!(info.config.ack_wait, changed.ack_wait);
    testing::cleanup(&config).await;
}

#[tokio::test]
async fn replicas_a_single_server_cannot_have_name_the_key_at_once() {
    let mut config = testing::isolated_config();
    config.nats.replicas = 3;
    let n = Nats::connect(&config.nats).await.expect("NATS up");
    let started = Instant::now();
    let err = nats::declare(&n, &config).await.expect_err("refused");
    assert!(
        started.elapsed() < config.nats.connect_timeout,
        "a refusal is not waited on"
    );
    assert_eq!(config_key(&err), Some("nats.replicas"), "{err}");
    assert!(err.to_string().contains(&names_rc_raw(&config)), "{err}");
    testing::cleanup(&config).await;
}

#[tokio::test]
async fn a_stream_holding_the_subjects_under_another_name_names_the_prefix() {
    let config = testing::isolated_config();
    let n = Nats::connect(&config.nats).await.expect("NATS up");
    let squatter = format!("{}SQUATTER", config.nats.prefix);
    n.js.create_stream(stream::Config {
        name: squatter.clone(),
        subjects: vec![config.names().subject("rc.raw.>")],
        ..Default::default()
    })
    .await
    .expect("squatter created");
    let err = nats::declare(&n, &config).await.expect_err("overlap");
    assert_eq!(config_key(&err), Some("nats.prefix"), "{err}");
    let _ = n.js.delete_stream(&squatter).await;
    testing::cleanup(&config).await;
}

fn names_rc_raw(config: &hookline_core::Config) -> String {
    config.names().stream(names::RC_RAW)
}

/// The key of the `ConfigError` in an error's chain, as the binary finds it.
fn config_key(err: &NatsError) -> Option<&'static str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(c) = cause {
        if let Some(ConfigError::Invalid { key, .. }) = c.downcast_ref::<ConfigError>() {
            return Some(key);
        }
        cause = c.source();
    }
    None
}
