//! `GET /api/health-sync` and `GET /api/health-sync/ids`: the RC's record of
//! unique events, hour by hour, for the CRM's `hookline reconcile`.
//!
//! They are served on the edge's own listener, not on `ops.listen`: the
//! caller is the CRM, another organisation's system, which reaches the RC
//! through its public front door; the ops listener stays internal
//! (`/metrics`, probes). Every request needs `Authorization: Bearer
//! <edge.health_sync_api_key>`, compared in constant time. With no key
//! configured the routes answer 404 and read nothing: health-sync is never
//! open. A key that is set but shorter than 16 bytes stops the edge at
//! start-up (exit 2).
//!
//! What is counted, the hour an event belongs to and the digest are defined
//! in [`hookline_core::health_sync`]. The routes sit outside the per-IP rate
//! limit of the collection API but answer one request at a time per edge
//! process, since each reads a stretch of `RC_EVENTS`.

mod read;

use crate::bearer::{BearerKey, Unauthorized};
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use hookline_core::EventType;
use hookline_core::health_sync::{HourIds, MAX_RANGE, Summary, TYPES, hour_start};
use hookline_core::nats::Nats;
use read::ReadError;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The routes' state: NATS, the key's digest, the one-read-at-a-time gate.
#[derive(Clone)]
pub struct HealthSync {
    nats: Nats,
    /// `edge.health_sync_api_key`; unset, both routes answer 404.
    key: Option<BearerKey>,
    one_at_a_time: Arc<Semaphore>,
}

/// The two routes, for the edge's router.
pub fn router(nats: Nats, key: Option<&str>) -> Router {
    let state = HealthSync {
        nats,
        key: BearerKey::from_config("edge.health_sync_api_key", key),
        one_at_a_time: Arc::new(Semaphore::new(1)),
    };
    Router::new()
        .route("/api/health-sync", get(summary))
        .route("/api/health-sync/ids", get(ids))
        .with_state(state)
}

/// Query of `GET /api/health-sync`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// Start of the range, RFC 3339 (inclusive).
    pub from: Option<String>,
    /// End of the range, RFC 3339 (exclusive); default now. At most 7 days
    /// after `from`.
    pub to: Option<String>,
}

/// Query of `GET /api/health-sync/ids`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct IdsQuery {
    /// Start of a UTC hour, RFC 3339 (e.g. `2026-11-29T10:00:00Z`).
    pub hour: Option<String>,
    /// `page_view` or `form_submission`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
}

/// Counts and digests of unique events per hour and type.
#[utoipa::path(get, path = "/api/health-sync", tag = "health-sync", params(RangeQuery),
    responses((status = 200, body = Summary), (status = 400), (status = 401), (status = 404),
        (status = 422, description = "the range starts before RC_EVENTS' retention; `oldest_available` says where it may start"),
        (status = 503)),
    security(("health_sync_api_key" = [])))]
pub async fn summary(
    State(s): State<HealthSync>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Summary>, Refusal> {
    s.authorize(&headers)?;
    let from = time("from", q.from.as_deref())?;
    let to = match q.to.as_deref() {
        None => Utc::now(),
        Some(_) => time("to", q.to.as_deref())?,
    };
    if to <= from {
        return Err(bad("`to` must be after `from`"));
    }
    if to - from > MAX_RANGE {
        // Past retention is the more useful answer when both hold.
        read::retention(&s.nats.js, &s.nats.names, from)
            .await
            .map_err(Refusal::Read)?;
        return Err(bad("`from` is more than 7 days before `to`; ask in parts"));
    }
    Ok(Json(s.read(from, to).await?.summary()))
}

/// The ids of one hour of one type.
#[utoipa::path(get, path = "/api/health-sync/ids", tag = "health-sync", params(IdsQuery),
    responses((status = 200, body = HourIds), (status = 400), (status = 401), (status = 404),
        (status = 422), (status = 503)),
    security(("health_sync_api_key" = [])))]
pub async fn ids(
    State(s): State<HealthSync>,
    headers: HeaderMap,
    Query(q): Query<IdsQuery>,
) -> Result<Json<HourIds>, Refusal> {
    s.authorize(&headers)?;
    let hour = time("hour", q.hour.as_deref())?;
    if hour_start(hour) != hour {
        return Err(bad(
            "`hour` must be the start of an hour (minutes and seconds 0)",
        ));
    }
    let kind = q
        .event_type
        .as_deref()
        .and_then(EventType::parse)
        .filter(|t| TYPES.contains(t))
        .ok_or_else(|| bad("`type` must be page_view or form_submission"))?;
    let buckets = s.read(hour, hour + TimeDelta::hours(1)).await?;
    Ok(Json(HourIds {
        hour,
        event_type: kind.as_str().to_string(),
        ids: buckets.ids(hour, kind),
    }))
}

impl HealthSync {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(key) = &self.key else {
            return Err(ApiError::not_found(
                "health-sync is off: edge.health_sync_api_key is not set",
            )
            .into());
        };
        key.check(headers).map_err(Refusal::Unauthorized)
    }

    async fn read(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<hookline_core::health_sync::Buckets, Refusal> {
        let _turn = self.one_at_a_time.acquire().await;
        read::buckets(&self.nats.js, &self.nats.names, from, to)
            .await
            .map_err(Refusal::Read)
    }
}

/// Why a health-sync request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// A 4xx with a message (bad parameter, health-sync off).
    Api(ApiError),
    /// No or a wrong bearer token.
    Unauthorized(Unauthorized),
    /// Reading `RC_EVENTS` failed: 422 past retention (with
    /// `oldest_available`), 503 when NATS did not answer.
    Read(ReadError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::Unauthorized(e) => e.into_response(),
            Refusal::Read(ReadError::Retention { oldest }) => {
                let oldest = hour_start(oldest) + TimeDelta::hours(1);
                let message = format!(
                    "the range starts before RC_EVENTS' retention: RC_EVENTS may no longer hold \
                     every event before {}; ask from that time on",
                    oldest.to_rfc3339()
                );
                let body = serde_json::json!({
                    "status": "error",
                    "message": message,
                    "oldest_available": oldest,
                });
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
            Refusal::Read(error) => {
                tracing::warn!(%error, "health-sync could not read RC_EVENTS");
                ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "RC_EVENTS could not be read; retry later".into(),
                }
                .into_response()
            }
        }
    }
}

fn bad(message: &str) -> Refusal {
    ApiError::bad_request(message).into()
}

/// A required RFC 3339 query parameter.
fn time(name: &str, value: Option<&str>) -> Result<DateTime<Utc>, Refusal> {
    let value = value.ok_or_else(|| bad(&format!("`{name}` is required (RFC 3339)")))?;
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.to_utc())
        .map_err(|_| {
            bad(&format!(
                "`{name}` must be an RFC 3339 time such as 2026-11-29T10:00:00Z"
            ))
        })
}
