//! `/v1/webhooks`: create, list, get, update, delete, rotate the secret.

use super::{ApiError, AppState};
use crate::delivery::consumer_name;
use crate::ssrf;
use crate::store::{NewWebhook, Profile, Webhook, WebhookId, WebhookPatch, webhooks};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_core::EventType;
use hookline_core::names::RC_EVENTS;
use hookline_core::signing::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// `POST /v1/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Target URL (http or https).
    #[schema(example = "https://crm.example.com/api/webhooks/resources-centre")]
    pub url: String,
    /// Event types to deliver: `page_view`, `form_submission`.
    #[schema(example = json!(["page_view", "form_submission"]))]
    pub events: Vec<String>,
    /// `standard` (default) or `rc-legacy`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Signing secret (`whsec_<base64>`); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// API key put in `rc-legacy` bodies.
    #[serde(default)]
    pub api_key: Option<String>,
}

crate::redacted_debug!(CreateWebhook { url, events, profile, description } hides { secret, api_key });

/// `PATCH /v1/webhooks/{id}`: only the fields given change.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// New target URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New event types.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// New profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// New description (empty clears it).
    #[serde(default)]
    pub description: Option<String>,
    /// New API key (empty clears it).
    #[serde(default)]
    pub api_key: Option<String>,
    /// `true` re-enables a disabled webhook (and clears its failure state);
    /// `false` pauses it.
    #[serde(default)]
    pub active: Option<bool>,
}

crate::redacted_debug!(UpdateWebhook { url, events, profile, description, active } hides { api_key });

/// A webhook as the API shows it. The secret and API key appear only in the
/// answers to create and rotate-secret; get, list and update never show
/// them (`GET /v1/webhooks/{id}/secret` does, on purpose).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookOut {
    /// `wh_…`.
    #[schema(value_type = String)]
    pub id: WebhookId,
    /// Target URL.
    pub url: String,
    /// Event types delivered.
    pub events: Vec<String>,
    /// `standard` or `rc-legacy`.
    pub profile: Profile,
    /// Free text.
    pub description: Option<String>,
    /// Signing secret (only when created or rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// API key of `rc-legacy` bodies (only when created or rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Until when the previous secret also signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Deliveries run only while active.
    pub active: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// `api`, or `config` for the one made from `crm_webhook.*`.
    pub source: String,
    /// Creation; deliveries start with events from this moment.
    pub created_at: DateTime<Utc>,
    /// Last settings change.
    pub updated_at: DateTime<Utc>,
    /// Failed attempts since the last success.
    pub fail_count: i64,
    /// Start of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

crate::redacted_debug!(WebhookOut {
    id, url, events, profile, description, previous_secret_expires_at, active,
    disabled_reason, source, created_at, updated_at, fail_count, failing_since,
    last_delivered_at
} hides { secret, api_key });

impl WebhookOut {
    pub(super) fn from(w: Webhook, with_secret: bool) -> Self {
        let now = Utc::now();
        let prev_until = w.previous_secret_at(now).and(w.previous_secret_expires_at);
        let profile = w.profile();
        Self {
            id: w.id,
            url: crate::redact::url(&w.url),
            events: w.events,
            profile,
            description: w.description,
            secret: with_secret.then_some(w.secret),
            api_key: if with_secret { w.api_key } else { None },
            previous_secret_expires_at: prev_until,
            active: w.active,
            disabled_reason: w.disabled_reason,
            source: w.source,
            created_at: w.created_at,
            updated_at: w.updated_at,
            fail_count: w.fail_count,
            failing_since: w.failing_since,
            last_delivered_at: w.last_delivered_at,
        }
    }
}

/// `GET /v1/webhooks`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// Every webhook, oldest first (secrets omitted).
    pub data: Vec<WebhookOut>,
}

/// Parses and de-duplicates event types (unknown → 422).
pub(super) fn event_types(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(format!(
            "events must name at least one event type ({})",
            known_types()
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for e in raw {
        let Some(t) = EventType::parse(e) else {
            return Err(ApiError::invalid(format!(
                "unknown event type {e:?} (expected one of {})",
                known_types()
            )));
        };
        if !out.iter().any(|o| o == t.as_str()) {
            out.push(t.as_str().to_string());
        }
    }
    Ok(out)
}

/// The event types a webhook may subscribe to, comma-separated.
fn known_types() -> String {
    EventType::ALL.map(EventType::as_str).join(", ")
}

fn profile(raw: &str) -> Result<Profile, ApiError> {
    Profile::parse(raw).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown profile {raw:?} (expected standard, rc-legacy or optimocms)"
        ))
    })
}

async fn target(state: &AppState, raw: &str) -> Result<String, ApiError> {
    ssrf::check_target(raw, &state.ctx.policy)
        .await
        .map(|u| u.to_string())
        .map_err(|e| ApiError::invalid(e.to_string()))
}

fn check_secret(secret: &str, profile: Profile) -> Result<(), ApiError> {
    let ok = match profile {
        Profile::Standard => {
            secret.starts_with(hookline_core::signing::SECRET_PREFIX)
                && Secret::standard(secret).is_ok()
        }
        Profile::RcLegacy => Secret::legacy(secret).is_ok(),
        // Keyed with the string as shown; a `whsec_` one is what OptimoCMS
        // hands out and what the generated secret looks like.
        Profile::OptimoCms => hookline_core::signing::optimocms::key(secret).is_ok(),
    };
    if ok && secret.len() <= 256 {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "secret must be whsec_ followed by base64 (standard) or a non-empty string (rc-legacy, optimocms), at most 256 characters",
        ))
    }
}

/// The webhook id of a path, or 404: a malformed id names no webhook.
pub(super) fn webhook_id(id: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(id).map_err(|_| ApiError::no_webhook(id))
}

/// Loads a webhook or answers 404.
pub(super) async fn load(state: &AppState, id: &str) -> Result<Webhook, ApiError> {
    let id = webhook_id(id)?;
    webhooks::get(&state.ctx.pool, &state.ctx.keys, &id)
        .await?
        .ok_or_else(|| ApiError::no_webhook(id.as_str()))
}

/// Creates a webhook.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookOut), (status = 400), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    body: super::ObjectBody<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookOut>), ApiError> {
    let super::ObjectBody(body) = body;
    let profile = profile(body.profile.as_deref().unwrap_or("standard"))?;
    let events = event_types(&body.events)?;
    let url = target(&state, &body.url).await?;
    let secret = match body.secret {
        Some(s) => {
            check_secret(&s, profile)?;
            s
        }
        None => Secret::generate(),
    };
    let new = NewWebhook {
        url,
        events,
        profile,
        description: body.description.filter(|d| !d.is_empty()),
        secret,
        api_key: body.api_key.filter(|k| !k.is_empty()),
    };
    let w = webhooks::insert(&state.ctx.pool, &state.ctx.keys, &new).await?;
    tracing::info!(webhook = %w.id, url = %crate::redact::url(&w.url), "webhook created");
    state.ctx.apply_now().await;
    Ok((StatusCode::CREATED, Json(WebhookOut::from(w, true))))
}

/// Lists webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 401)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<WebhookList>, ApiError> {
    let data = webhooks::list(&state.ctx.pool, &state.ctx.keys)
        .await?
        .into_iter()
        .map(|w| WebhookOut::from(w, false))
        .collect();
    Ok(Json(WebhookList { data }))
}

/// One webhook, without its secret (see `GET /v1/webhooks/{id}/secret`).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = WebhookOut), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    Ok(Json(WebhookOut::from(load(&state, &id).await?, false)))
}

/// Changes a webhook; takes effect on every instance within seconds.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhook,
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = WebhookOut), (status = 400), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: super::ObjectBody<UpdateWebhook>,
) -> Result<Json<WebhookOut>, ApiError> {
    let id = webhook_id(&id)?;
    let super::ObjectBody(body) = body;
    let patch = WebhookPatch {
        url: match &body.url {
            Some(u) => Some(target(&state, u).await?),
            None => None,
        },
        events: body.events.as_deref().map(event_types).transpose()?,
        profile: body.profile.as_deref().map(profile).transpose()?,
        description: body.description.map(|d| Some(d).filter(|d| !d.is_empty())),
        api_key: body.api_key.map(|k| Some(k).filter(|k| !k.is_empty())),
        active: body.active,
    };
    let w = webhooks::update(&state.ctx.pool, &state.ctx.keys, &id, &patch)
        .await?
        .ok_or_else(|| ApiError::no_webhook(id.as_str()))?;
    state.ctx.apply_now().await;
    Ok(Json(WebhookOut::from(w, false)))
}

/// Deletes a webhook and its consumer (pending retries are dropped).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 204), (status = 401), (status = 404)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    if !webhooks::delete(&state.ctx.pool, &id).await? {
        return Err(ApiError::no_webhook(id.as_str()));
    }
    tracing::info!(webhook = %id, "webhook deleted");
    state.ctx.apply_now().await;
    // Best effort: the supervisors' janitor removes it later if this fails
    // or if a worker elsewhere recreates it before it notices the delete.
    if let Ok(stream) = state
        .ctx
        .nats
        .js
        .get_stream(state.ctx.nats.names.stream(RC_EVENTS))
        .await
    {
        let _ = stream.delete_consumer(&consumer_name(&id)).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new secret; the old one keeps signing beside it for 24 h.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id (wh_…)")),
    responses((status = 200, body = WebhookOut), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let id = webhook_id(&id)?;
    let keep_until = Utc::now() + ROTATION_OVERLAP;
    let w = webhooks::rotate_secret(
        &state.ctx.pool,
        &state.ctx.keys,
        &id,
        &Secret::generate(),
        keep_until,
    )
    .await?
    .ok_or_else(|| ApiError::no_webhook(id.as_str()))?;
    tracing::info!(webhook = %id, "secret rotated");
    state.ctx.apply_now().await;
    Ok(Json(WebhookOut::from(w, true)))
}
