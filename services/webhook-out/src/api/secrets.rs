//! `GET /v1/webhooks/{id}/secret`: the one read that shows a webhook's
//! signing secrets and API key. Get, list and update never do, so a
//! listing, a log of API answers or a screen share leaks nothing; a receiver
//! set up later fetches its secret here, deliberately, with the admin token.

use super::{ApiError, AppState, webhooks::load};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use hookline_core::WebhookId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A webhook's secrets, opened.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SecretOut {
    /// `wh_…`.
    #[schema(value_type = String)]
    pub id: WebhookId,
    /// Current signing secret.
    pub secret: String,
    /// The secret before the last rotation, while it still signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    /// Until when the previous secret signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// API key of `rc-legacy` bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

crate::redacted_debug!(SecretOut { id, previous_secret_expires_at } hides { secret, previous_secret, api_key });

/// A webhook's signing secret (and previous secret and API key).
#[utoipa::path(get, path = "/v1/webhooks/{id}/secret", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = SecretOut), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SecretOut>, ApiError> {
    let w = load(&state, &id).await?;
    let previous = w.previous_secret_at(Utc::now()).map(str::to_string);
    let until = previous.as_ref().and(w.previous_secret_expires_at);
    tracing::info!(webhook = %w.id, "secret read through the admin API");
    Ok(Json(SecretOut {
        id: w.id,
        secret: w.secret,
        previous_secret: previous,
        previous_secret_expires_at: until,
        api_key: w.api_key,
    }))
}
