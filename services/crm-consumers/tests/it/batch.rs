//! Each consumer has one SQL path (`handle` is `handle_batch` over one
//! event), so what is checked here is the batching itself: events applied
//! one at a time (as the runner does when it isolates a failing event) and
//! in batches of any size must leave exactly the same rows: same scores,
//! touches, contacts, stored events, and the same tasks with the same
//! payloads.

use crate::consumers::{configure, script};
use crate::support::*;
use hookline_core::db;
use hookline_core::event::ContentType::{Event as EventPage, News, Resource};
use hookline_core::testing::isolated_config;
use hookline_core::{Config, Event};
use sqlx::PgPool;

const TABLES: [&str; 6] = [
    "content_events",
    "contacts",
    "engagement_scores",
    "campaign_touches",
    "automation_tasks",
    "automation_contact_scores",
];

/// Every row of every consumer table, minus surrogate ids and wall-clock
/// columns, as sorted JSON text.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let mut rows = Vec::new();
    for table in TABLES {
        let mut t: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT '{table} ' || (to_jsonb(t) - 'id' - 'stored_at' - 'created_at' - 'updated_at')::text \
             FROM {table} t ORDER BY 1"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        rows.append(&mut t);
    }
    rows
}

async fn truncate(pool: &PgPool) {
    sqlx::query(&format!("TRUNCATE {}", TABLES.join(", ")))
        .execute(pool)
        .await
        .unwrap();
}

/// A long mixed run over a few contacts, so threshold rules fire in the
/// middle of batches and identities change along the way.
fn long_run() -> Vec<Event> {
    let mut events = script();
    let contacts = [Some("cnt_X"), Some("cnt_Y"), None];
    for n in 0..120i64 {
        let contact = contacts[(n % 3) as usize];
        let event = match n % 7 {
            0 => form(
                "frm_demo",
                contact,
                Some(&format!("user{}@example.com", n % 4)),
                Some(Resource),
                &[
                    ("first_name", if n % 2 == 0 { "Ann" } else { "" }),
                    ("utm_campaign", "Q1"),
                ],
            ),
            3 => form(
                "frm_newsletter",
                None,
                Some("Solo@Example.com"),
                None,
                &[("company", "Solo")],
            ),
            _ => page_view(
                contact,
                [Resource, EventPage, News][(n % 3) as usize],
                &format!("c{}", n % 11),
                (n % 2 == 0).then_some("Q1"),
            ),
        };
        events.push(timed(event, 100 - n % 50));
    }
    events
}

async fn apply_single(config: &Config, pool: &PgPool, events: &[Event]) {
    for consumer in crm_consumers::registered(config) {
        let mut tx = pool.begin().await.unwrap();
        for e in events {
            consumer.handle(e, &mut tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

async fn apply_batched(config: &Config, pool: &PgPool, events: &[Event], size: usize) {
    for consumer in crm_consumers::registered(config) {
        for chunk in events.chunks(size) {
            let refs: Vec<&Event> = chunk.iter().collect();
            let mut tx = pool.begin().await.unwrap();
            consumer.handle_batch(&refs, &mut tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

#[tokio::test]
async fn batches_write_exactly_what_single_events_write() {
    let mut config = isolated_config();
    configure(&mut config);
    let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 2)
        .await
        .unwrap();
    let events = long_run();

    apply_single(&config, &pool, &events).await;
    let single = snapshot(&pool).await;
    assert!(single.iter().any(|r| r.starts_with("automation_tasks ")));

    for size in [1, 5, 64, events.len()] {
        truncate(&pool).await;
        apply_batched(&config, &pool, &events, size).await;
        let batched = snapshot(&pool).await;
        assert_eq!(single.len(), batched.len(), "batches of {size}");
        for (a, b) in single.iter().zip(&batched) {
            assert_eq!(a, b, "batches of {size}");
        }
    }
    pool.close().await;
    hookline_core::testing::cleanup(&config).await;
}
