//! `/v1/dlq`: the dead letters of both dead-letter streams, the same
//! operations as `hookline dlq` (both call `hookline_core::dlq_admin`).

use super::{ApiError, AppState};
use crate::store::webhooks;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use hookline_core::dlq_admin::redrive::{self, KnownWebhooks, Redriven};
use hookline_core::dlq_admin::select::{Selection, parse_since};
use hookline_core::dlq_admin::{self, DlqError, Entry, Filter, Side};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Largest page of `GET /v1/dlq`.
const MAX_LIMIT: usize = 1000;

/// Query of `GET /v1/dlq`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DlqQuery {
    /// `rc` (RC_DLQ) or `crm` (CRM_DLQ); both by default.
    pub stream: Option<String>,
    /// One consumer name or webhook id.
    pub consumer: Option<String>,
    /// Only entries newer than this: a duration (`2h`) or an RFC 3339 time.
    pub since: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<usize>,
}

/// Entries, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqList {
    /// The entries.
    pub data: Vec<Entry>,
}

/// What a redrive did, entry by entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedriveResponse {
    /// One result per entry.
    pub results: Vec<Redriven>,
}

/// What a purge removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeResponse {
    /// How many entries were removed.
    pub purged: u64,
}

impl From<DlqError> for ApiError {
    fn from(e: DlqError) -> Self {
        let status = match &e {
            DlqError::NotFound(_) => StatusCode::NOT_FOUND,
            DlqError::Nats(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

fn side(s: Option<&str>) -> Result<Option<Side>, ApiError> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => Side::parse(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("stream {s:?}: expected rc or crm"))),
    }
}

/// Lists dead letters.
#[utoipa::path(get, path = "/v1/dlq", tag = "dlq", params(DlqQuery),
    responses((status = 200, body = DlqList), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<DlqQuery>, QueryRejection>,
) -> Result<Json<DlqList>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1-1000"));
    }
    let filter = Filter {
        side: side(q.stream.as_deref())?,
        consumer: q.consumer.filter(|c| !c.is_empty()),
        since: q
            .since
            .as_deref()
            .map(|s| parse_since(s, Utc::now()))
            .transpose()?,
        limit,
    };
    let nats = &state.ctx.nats;
    let data = dlq_admin::list(&nats.js, &nats.names, &filter).await?;
    Ok(Json(DlqList { data }))
}

/// One dead letter with its body.
#[utoipa::path(get, path = "/v1/dlq/{entry}", tag = "dlq",
    params(("entry" = String, Path, description = "`12`, `rc:12` or `crm:12`")),
    responses((status = 200, body = Entry), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Path(entry): Path<String>,
) -> Result<Json<Entry>, ApiError> {
    let (side, seq) = dlq_admin::parse_ref(&entry)?;
    let nats = &state.ctx.nats;
    Ok(Json(
        dlq_admin::show(&nats.js, &nats.names, side, seq).await?,
    ))
}

/// Hands entries back to the consumer or webhook that gave up on them.
#[utoipa::path(post, path = "/v1/dlq/redrive", tag = "dlq", request_body = Selection,
    responses((status = 200, body = RedriveResponse), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn redrive(
    State(state): State<AppState>,
    body: super::ObjectBody<Selection>,
) -> Result<Json<RedriveResponse>, ApiError> {
    let super::ObjectBody(sel) = body;
    let nats = &state.ctx.nats;
    let refs = sel.refs(&nats.js, &nats.names).await?;
    let known: KnownWebhooks = Some(webhooks::ids(&state.ctx.pool).await?.into_iter().collect());
    let results = redrive::redrive(&nats.js, &nats.names, &refs, &known, sel.dry_run).await;
    Ok(Json(RedriveResponse { results }))
}

/// Deletes entries.
#[utoipa::path(post, path = "/v1/dlq/purge", tag = "dlq", request_body = Selection,
    responses((status = 200, body = PurgeResponse), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn purge(
    State(state): State<AppState>,
    body: super::ObjectBody<Selection>,
) -> Result<Json<PurgeResponse>, ApiError> {
    let super::ObjectBody(sel) = body;
    let nats = &state.ctx.nats;
    let purged = if sel.all && sel.entries.is_empty() {
        redrive::purge_all(&nats.js, &nats.names, sel.stream, sel.consumer.as_deref()).await?
    } else {
        let refs = sel.refs(&nats.js, &nats.names).await?;
        redrive::purge(&nats.js, &nats.names, &refs).await?.len() as u64
    };
    Ok(Json(PurgeResponse { purged }))
}
