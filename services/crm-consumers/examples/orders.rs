//! A consumer of `order.created`, an event type hookline keeps but does not
//! model (docs/adding-a-consumer.md, "Events hookline does not model").
use async_trait::async_trait;
use crm_consumers::runner::{Consumer, HandlerError};
use hookline_core::{Event, EventType, OtherEvent};
use sqlx::PgConnection;

/// Records webshop orders from OptimoCMS's `order.created`.
pub struct Orders;

#[async_trait]
impl Consumer for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn event_types(&self) -> &[EventType] {
        &[] // no page views or forms
    }

    fn other_event_types(&self) -> &[&str] {
        &["order.created"]
    }

    async fn handle(&self, _: &Event, _: &mut PgConnection) -> Result<(), HandlerError> {
        Ok(()) // never called: no event types
    }

    async fn handle_other(
        &self,
        event: &OtherEvent,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        // The body as the sender posted it: {"id","type","created_at","data"}.
        let data = event.payload.get("data").cloned().unwrap_or_default();
        let (Some(order_id), Some(total_cents)) =
            (data["orderId"].as_str(), data["totalCents"].as_i64())
        else {
            return Err(HandlerError::permanent(
                "order.created without orderId/totalCents",
            ));
        };
        sqlx::query(
            "INSERT INTO orders (order_id, email, total_cents, event_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(data["customer"]["email"].as_str())
        .bind(total_cents)
        .bind(event.id.as_str())
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// The table it writes (in-tree, a migration in services/crm-consumers/migrations/).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orders (\
    order_id TEXT PRIMARY KEY, email TEXT, total_cents BIGINT NOT NULL, event_id TEXT NOT NULL)";

/// Run it like sdr_alerts' `main`, with `crm_consumers::run_with`.
fn main() {}
