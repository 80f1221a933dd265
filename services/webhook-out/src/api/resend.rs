//! `POST /v1/webhooks/{id}/resend/{event_id}`: deliver one event to one
//! endpoint now, outside its queue (Svix's "resend"). The event is read from
//! `RC_EVENTS` around its UUIDv7 time, signed with the webhook's current
//! secret and sent once; the attempt is logged like any other. The receiver
//! dedupes by `webhook-id`, so resending an event it has is harmless.

use super::deliveries::{TestResponse, record_once};
use super::webhooks::load;
use super::{ApiError, AppState};
use crate::delivery::{request, send};
use crate::store::attempts;
use crate::trace::find::{Search, Window, locate, minted_at};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use hookline_core::Event;
use hookline_core::names::RC_EVENTS;

/// How far out of id order a message can sit in `RC_EVENTS`.
const ORDER_SLACK: i64 = 1;

/// Delivers one event of `RC_EVENTS` to this webhook now, once.
#[utoipa::path(post, path = "/v1/webhooks/{id}/resend/{event_id}", tag = "deliveries",
    params(("id" = String, Path, description = "webhook id (wh_…)"),
        ("event_id" = String, Path, description = "event id (evt_…)")),
    responses((status = 200, body = TestResponse), (status = 400), (status = 401), (status = 404), (status = 503)),
    security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Json<TestResponse>, ApiError> {
    let webhook = load(&state, &id).await?;
    let ctx = &state.ctx;
    let minted = minted_at(&event_id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{event_id:?} is not a hookline event id (evt_ followed by a UUIDv7)"
        ))
    })?;
    // dedupe forwards in id order, however far it lags: see `trace::find`.
    let window = Window {
        from: minted - Duration::seconds(ORDER_SLACK),
        until: minted + Duration::seconds(ORDER_SLACK),
    };
    let names = &ctx.nats.names;
    let found = locate(
        &ctx.nats.js,
        &names.stream(RC_EVENTS),
        names.subject("rc.events.>"),
        Search::IdOrder(window),
        &event_id,
    )
    .await
    .map_err(|e| {
        let why = hookline_core::error_text(&e);
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("RC_EVENTS: {why}"))
    })?
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("event {event_id} is not in RC_EVENTS (a duplicate, a bot, or past retention)"),
        )
    })?;
    let event: Event = serde_json::from_slice(&found.payload)
        .map_err(|e| ApiError::invalid(format!("the stored event does not parse: {e}")))?;
    let now = Utc::now();
    let signed = request::for_event(&webhook, &event, ctx.site_id.as_deref(), now)
        .map_err(|e| ApiError::invalid(format!("cannot sign with this webhook's secret: {e}")))?;
    let (http, policy) = ctx.route(&webhook);
    let outcome = send::send(http, &webhook.url, &signed, policy).await;
    let previous = attempts::for_event(&ctx.pool, &event_id)
        .await?
        .iter()
        .filter(|a| a.webhook_id == webhook.id)
        .map(|a| a.attempt)
        .max()
        .unwrap_or(0);
    tracing::info!(webhook = %webhook.id, event_id = %event_id, success = outcome.success(), "event resent");
    let kind = event.event_type();
    let attempt = previous.saturating_add(1);
    Ok(Json(
        record_once(
            ctx,
            &webhook.id,
            event_id,
            kind.as_str(),
            attempt,
            outcome,
            now,
        )
        .await,
    ))
}
