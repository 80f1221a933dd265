//! `GET /v1/events/{id}`: one event's journey (see [`crate::trace`]).

use super::{ApiError, AppState};
use crate::trace::{self, Sources, Trace, TraceError, Unreachable};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

impl From<TraceError> for ApiError {
    fn from(e: TraceError) -> Self {
        let status = match e {
            TraceError::NotAnEventId(_) => StatusCode::BAD_REQUEST,
            TraceError::NotFound(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, e.to_string())
    }
}

/// The journey of one event: edge, dedupe, deliveries, CRM, dead letters.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "event id (evt_…)")),
    responses((status = 200, body = Trace), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Trace>, ApiError> {
    let nats = &state.ctx.nats;
    let bad_crm_url = Unreachable::BadUrl("crm.database_url");
    let src = Sources {
        js: &nats.js,
        names: &nats.names,
        rc: Ok(&state.ctx.pool),
        crm: state.crm.as_ref().ok_or(&bad_crm_url),
    };
    Ok(Json(trace::trace(&src, &id).await?))
}
