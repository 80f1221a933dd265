//! `/v1/webhooks/{id}/deliveries`, `/test` and `/replay`.

use super::webhooks::{event_types, load};
use super::{ApiError, AppState};
use crate::delivery::send::Outcome;
use crate::delivery::{Ctx, request, send};
use crate::replay;
use crate::store::attempts::{self, StatusFilter};
use crate::store::{AttemptRow, WebhookId};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_core::EventId;
use hookline_core::wire::PING;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Largest page.
const MAX_LIMIT: i64 = 250;

/// Query of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `success`, `failure` or `exhausted`.
    #[serde(default)]
    pub status: Option<String>,
    /// Page size (1–250, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptOut {
    /// Attempt id (increasing).
    pub id: i64,
    /// The event delivered (also its `webhook-id` header).
    pub event_id: String,
    /// Its type (`ping` for test deliveries).
    pub event: String,
    /// 1 for the first try.
    pub attempt: i32,
    /// HTTP status, if the endpoint answered.
    pub status_code: Option<i32>,
    /// 2xx.
    pub success: bool,
    /// Request time.
    pub duration_ms: i32,
    /// What went wrong.
    pub error: Option<String>,
    /// The schedule ended here; the event went to RC_DLQ.
    pub exhausted: bool,
    /// When the request started.
    pub attempted_at: DateTime<Utc>,
}

impl From<AttemptRow> for AttemptOut {
    fn from(r: AttemptRow) -> Self {
        Self {
            id: r.id,
            event_id: r.event_id,
            event: r.event,
            attempt: r.attempt,
            status_code: r.status_code,
            success: r.success,
            duration_ms: r.duration_ms,
            error: r.error,
            exhausted: r.exhausted,
            attempted_at: r.attempted_at,
        }
    }
}

/// A page of attempts, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    /// The attempts.
    pub data: Vec<AttemptOut>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Lists a webhook's delivery attempts, newest first (keyset pagination).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "deliveries",
    params(("id" = String, Path, description = "webhook id (wh_…)"), DeliveriesQuery),
    responses((status = 200, body = DeliveryPage), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let Query(q) = query?;
    let status = match q.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some("success") => Some(StatusFilter::Success),
        Some("failure") | Some("failed") => Some(StatusFilter::Failure),
        Some("exhausted") => Some(StatusFilter::Exhausted),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown status {other:?} (expected success, failure or exhausted)"
            )));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid cursor {c:?}")))?,
        ),
    };
    let webhook = load(&state, &id).await?;
    let rows = attempts::page(&state.ctx.pool, &webhook.id, status, before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let data: Vec<AttemptOut> = rows
        .into_iter()
        .take(limit as usize)
        .map(AttemptOut::from)
        .collect();
    let next_cursor = more
        .then(|| data.last().map(|a| a.id.to_string()))
        .flatten();
    Ok(Json(DeliveryPage { data, next_cursor }))
}

/// Result of a test delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestResponse {
    /// Id of the ping (its `webhook-id`).
    pub event_id: String,
    /// 2xx.
    pub success: bool,
    /// HTTP status, if the endpoint answered.
    pub status_code: Option<u16>,
    /// Request time.
    pub duration_ms: u64,
    /// What went wrong.
    pub error: Option<String>,
}

/// Sends a signed `ping` event now (not retried) and reports what happened.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "deliveries",
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = TestResponse), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TestResponse>, ApiError> {
    let webhook = load(&state, &id).await?;
    let ctx = &state.ctx;
    let event_id = EventId::new().to_string();
    let now = Utc::now();
    let signed = request::for_ping(&webhook, &event_id, now)
        .map_err(|e| ApiError::invalid(format!("cannot sign with this webhook's secret: {e}")))?;
    let (http, policy) = ctx.route(&webhook);
    let outcome = send::send(http, &webhook.url, &signed, policy).await;
    Ok(Json(
        record_once(ctx, &webhook.id, event_id, PING, 1, outcome, now).await,
    ))
}

/// Logs a one-off delivery (a ping, a resend) as attempt `attempt` of
/// `event_id`, and the answer the admin API gives about it.
pub(super) async fn record_once(
    ctx: &Ctx,
    webhook_id: &WebhookId,
    event_id: String,
    event: &str,
    attempt: i32,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> TestResponse {
    ctx.writer
        .record(AttemptRow {
            id: 0,
            webhook_id: webhook_id.clone(),
            event_id: event_id.clone(),
            event: event.to_string(),
            attempt,
            status_code: outcome.status.map(i32::from),
            success: outcome.success(),
            duration_ms: outcome.duration.as_millis().min(i32::MAX as u128) as i32,
            error: outcome.error.clone(),
            exhausted: false,
            attempted_at: now,
        })
        .await;
    TestResponse {
        event_id,
        success: outcome.success(),
        status_code: outcome.status,
        duration_ms: outcome.duration.as_millis() as u64,
        error: outcome.error,
    }
}

/// `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Start of the window (RFC 3339).
    pub since: DateTime<Utc>,
    /// End of the window (default: now).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Only these types (default: all the webhook's).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

/// How many events will be delivered again.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// Events in the window that the webhook subscribes to.
    pub replayed: u64,
}

/// Delivers again the events of a window, read from `RC_EVENTS`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "deliveries", request_body = ReplayRequest,
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = ReplayResponse), (status = 400), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: super::ObjectBody<ReplayRequest>,
) -> Result<Json<ReplayResponse>, ApiError> {
    let webhook = load(&state, &id).await?;
    let super::ObjectBody(body) = body;
    if body.since > Utc::now() {
        return Err(ApiError::invalid("since is in the future"));
    }
    if body.until.is_some_and(|u| u < body.since) {
        return Err(ApiError::invalid("until is before since"));
    }
    let wanted = match &body.event_types {
        Some(types) => event_types(types)?,
        None => webhook.events.clone(),
    };
    let types: Vec<String> = wanted.into_iter().filter(|t| webhook.wants(t)).collect();
    if types.is_empty() {
        return Err(ApiError::invalid(
            "none of event_types is delivered to this webhook",
        ));
    }
    let replayed = replay::start(&state.ctx, &webhook, body.since, body.until, &types)
        .await
        .map_err(|e| {
            tracing::error!(webhook = %id, error = %e, "replay failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("replay failed: {e}"),
            )
        })?;
    Ok(Json(ReplayResponse { replayed }))
}
