//! Stream, bucket and database set-up against the real local NATS and Postgres.

use hookline_core::db::{self, Schema};
use hookline_core::event::EventType;
use hookline_core::names;
use hookline_core::nats::{self, Nats};
use hookline_core::testing;
use sqlx::migrate::Migrator;
use std::time::Duration;

/// A migration set of core's own (`tests/migrations`), on the CRM URL of an
/// isolated config: core's set-up code is the same whatever the schema.
static PROBE_MIGRATOR: Migrator = sqlx::migrate!("./tests/migrations");
static PROBE: Schema = Schema {
    key: "crm.database_url",
    migrator: &PROBE_MIGRATOR,
};

#[tokio::test]
async fn declaring_twice_is_idempotent_and_isolated_by_prefix() {
    let mut config = testing::isolated_config();
    config.dedupe.form_window = Duration::from_secs(90);
    let n = Nats::connect_and_declare(&config).await.expect("NATS up");
    nats::declare(&n, &config)
        .await
        .expect("second declare changes nothing");

    let names = config.names();
    for base in [
        names::RC_RAW,
        names::RC_EVENTS,
        names::RC_DLQ,
        names::CRM_EVENTS,
        names::CRM_DLQ,
    ] {
        let mut stream =
            n.js.get_stream(names.stream(base))
                .await
                .expect("stream exists");
        let info = stream.info().await.unwrap();
        assert_eq!(info.config.num_replicas, 1);
        assert!(info.config.subjects[0].starts_with(names.prefix()));
    }
    let kv =
        n.js.get_key_value(names.dedupe_bucket(EventType::FormSubmission))
            .await
            .unwrap();
    let status = kv.status().await.unwrap();
    assert_eq!(status.max_age(), Duration::from_secs(90));
    assert_eq!(status.history(), 1);

    // A changed window updates the bucket in place.
    config.dedupe.form_window = Duration::from_secs(120);
    nats::declare(&n, &config).await.unwrap();
    let kv = nats::dedupe_bucket(&n, &config, EventType::FormSubmission)
        .await
        .unwrap();
    let status = kv.status().await.unwrap();
    assert_eq!(status.max_age(), Duration::from_secs(120));

    // Another prefix sees none of it.
    let other = testing::isolated_config();
    assert!(
        n.js.get_stream(other.names().stream(names::RC_RAW))
            .await
            .is_err()
    );

    testing::cleanup(&config).await;
    assert!(n.js.get_stream(names.stream(names::RC_RAW)).await.is_err());
}

#[tokio::test]
async fn databases_are_created_and_migrated_once() {
    let config = testing::isolated_config();
    let pool = db::connect(&config.crm.database_url, PROBE, 2)
        .await
        .expect("Postgres up");
    db::migrate(&pool, PROBE.migrator)
        .await
        .expect("second migration is a no-op");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM probe")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let rc = db::connect(&config.rc.database_url, PROBE, 2)
        .await
        .unwrap();
    rc.close().await;
    pool.close().await;
    testing::cleanup(&config).await;
    let gone = db::connect(&config.crm.database_url.replace("_crm", "_nope"), PROBE, 1).await;
    // connect creates databases, so create-then-drop proves the clean-up path works.
    assert!(gone.is_ok());
    db::drop_database(&config.crm.database_url.replace("_crm", "_nope"))
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_nats_is_a_clear_error() {
    let mut config = testing::isolated_config();
    config.nats.url = "nats://127.0.0.1:1".into();
    config.nats.connect_timeout = Duration::from_millis(300);
    let err = Nats::connect(&config.nats).await.unwrap_err().to_string();
    assert!(
        err.contains("NATS unreachable at nats://127.0.0.1:1"),
        "{err}"
    );
}

#[tokio::test]
async fn services_starting_together_all_get_the_database() {
    // A fresh stack starts every consumer at once: each finds the database
    // absent and creates it; the losers of the race must carry on.
    for _ in 0..3 {
        let config = testing::isolated_config();
        let url = config.crm.database_url.clone();
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { db::connect(&url, PROBE, 2).await })
            })
            .collect();
        for r in racers {
            let pool = r.await.unwrap().expect("every racer connects");
            pool.close().await;
        }
        testing::cleanup(&config).await;
    }
}
