//! `sdr-alerts`: the worked example of docs/adding-a-consumer.md.
//!
//! Tells the SDR team when a known contact reads content of a community they
//! watch. Run it on its own, next to the built-in consumers:
//!
//! ```text
//! cargo run -p crm-consumers --example sdr_alerts
//! ```
//!
//! The test in tests/it/example.rs runs the same code against real NATS and
//! Postgres.

use async_trait::async_trait;
use crm_consumers::runner::{Consumer, HandlerError};
use hookline_core::{Event, EventData, EventType};
use sqlx::PgConnection;

/// Alerts on page views of known contacts in watched communities.
pub struct SdrAlerts {
    communities: Vec<String>,
}

impl SdrAlerts {
    /// Watches these communities.
    pub fn new<S: Into<String>>(communities: impl IntoIterator<Item = S>) -> Self {
        Self {
            communities: communities.into_iter().map(Into::into).collect(),
        }
    }
}

#[async_trait]
impl Consumer for SdrAlerts {
    fn name(&self) -> &'static str {
        "sdr-alerts"
    }

    fn event_types(&self) -> &[EventType] {
        &[EventType::PageView]
    }

    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        let EventData::PageView(view) = &event.data else {
            return Ok(());
        };
        let (Some(contact_id), Some(community)) = (&view.contact_id, &view.community) else {
            return Ok(()); // anonymous, or no community: nothing to tell
        };
        if !self.communities.contains(community) {
            return Ok(());
        }
        // An upsert whose end state does not depend on event order.
        sqlx::query(
            "INSERT INTO sdr_alerts AS a \
             (contact_id, community, first_event_id, first_seen_at, last_seen_at, views) \
             VALUES ($1, $2, $3, $4, $4, 1) \
             ON CONFLICT (contact_id, community) DO UPDATE SET \
               first_event_id = CASE WHEN EXCLUDED.first_seen_at < a.first_seen_at \
                                     THEN EXCLUDED.first_event_id ELSE a.first_event_id END, \
               first_seen_at  = LEAST(a.first_seen_at, EXCLUDED.first_seen_at), \
               last_seen_at   = GREATEST(a.last_seen_at, EXCLUDED.last_seen_at), \
               views          = a.views + 1",
        )
        .bind(contact_id)
        .bind(community)
        .bind(event.id.as_str())
        .bind(event.occurred_at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// The table this consumer writes (in-tree, this would be a migration in
/// services/crm-consumers/migrations/).
pub const SCHEMA: &str = include_str!("sdr_alerts.sql");

/// A binary of your own: your consumers, hookline's runner, config and
/// ops endpoints (`/healthz`, `/readyz`, `/metrics` on `ops.listen`).
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use hookline_core::db;
    use hookline_core::{Config, Shutdown, telemetry};
    use std::sync::Arc;

    let config = Config::load(None)?;
    telemetry::init_logging(&config.log);
    // Out of tree, create your tables yourself (idempotently) at start-up.
    let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 1).await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    pool.close().await;

    let consumers: Vec<Arc<dyn Consumer>> = vec![Arc::new(SdrAlerts::new(["finance"]))];
    crm_consumers::run_with(config, consumers, Shutdown::on_signals()).await?;
    Ok(())
}
