//! The admin API: webhooks, their delivery log, replays, dead letters, event
//! traces, and `/openapi.json`.
//!
//! Every `/v1` call needs `Authorization: Bearer <webhook_out.admin_token>`.
//! The service does not start without a token of at least 16 bytes, and an
//! empty or blank bearer value is refused before any comparison, whatever
//! the HTTP version, so no configuration leaves the admin API open. Errors are `{"status":"error","message":…}`
//! naming the problem.

mod deliveries;
mod dlq;
mod events;
pub mod openapi;
mod resend;
mod secrets;
mod webhooks;

use crate::delivery::Ctx;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hookline_core::ops::{self, Readiness};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub use deliveries::{AttemptOut, DeliveryPage, ReplayRequest, ReplayResponse, TestResponse};
pub use dlq::{DlqList, PurgeResponse, RedriveResponse};
pub use secrets::SecretOut;
pub use webhooks::{CreateWebhook, ROTATION_OVERLAP, UpdateWebhook, WebhookList, WebhookOut};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The delivery context (pool, NATS, HTTP client, settings).
    pub ctx: Arc<Ctx>,
    /// `webhook_out.admin_token`, checked non-empty at start-up.
    pub admin_token: Arc<str>,
    /// The CRM database, connected on first use, for event traces (`None`
    /// when `crm.database_url` does not parse).
    pub crm: Option<sqlx::PgPool>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: well-formed but invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 404 for a webhook id.
    pub fn no_webhook(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no webhook {id:?}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"status": "error", "message": self.message})),
        )
            .into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "admin API: database error");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable, try again",
        )
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        // Keep axum's status where it is not "bad JSON": 413 for a body
        // over the limit, 415 for one not declared as JSON.
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => e.status(),
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, format!("invalid JSON body: {}", e.body_text()))
    }
}

/// A JSON request body that must be an object. axum's `Json` would also
/// accept an array for a struct (serde reads structs from sequences), so
/// `[null, null]` could pass as an update; this refuses anything but `{…}`.
pub struct ObjectBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ObjectBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid JSON body: expected a JSON object".to_string(),
            ));
        }
        serde_json::from_value(value)
            .map(ObjectBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(format!("invalid query: {}", e.body_text()))
    }
}

/// The whole HTTP surface: `/v1` (authenticated), `/openapi.json` and the ops
/// routes.
pub fn router(state: AppState, readiness: Readiness) -> Router {
    let v1 = Router::new()
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/secret", get(secrets::get))
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v1/webhooks/{id}/test", post(deliveries::test))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries::list))
        .route("/v1/webhooks/{id}/replay", post(deliveries::replay))
        .route("/v1/webhooks/{id}/resend/{event_id}", post(resend::resend))
        .route("/v1/dlq", get(dlq::list))
        .route("/v1/dlq/redrive", post(dlq::redrive))
        .route("/v1/dlq/purge", post(dlq::purge))
        .route("/v1/dlq/{entry}", get(dlq::show))
        .route("/v1/events/{id}", get(events::get))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    Router::new()
        .merge(v1)
        .route("/openapi.json", get(openapi::serve))
        .merge(ops::router(readiness))
        .layer(middleware::from_fn(|req: Request, next: Next| {
            hookline_core::ops::track_requests("webhook-out", req, next)
        }))
}

async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = state.admin_token.as_bytes();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        // Belt and braces: the token is never empty (start-up refuses it),
        // and an empty bearer value never reaches the comparison either.
        Some(g) if !g.is_empty() && !token.is_empty() && bool::from(g.as_bytes().ct_eq(token)) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <admin token>",
        )
        .into_response(),
    }
}
