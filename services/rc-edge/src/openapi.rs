//! `/openapi.json` of the edge, generated from the handlers' annotations.
//!
//! The request types here describe the accepted JSON to integrators; the
//! handlers parse bodies themselves (leniently, with field caps — see
//! `input`), so these are documentation, not the parser.

use crate::bearer::BearerSchemes;
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

/// The edge's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookline rc-edge",
        description = "Collects page views and form submissions from the Resources Centre, and content announcements from its backend. A 202 means the event is durably in JetStream (PubAck received); a 503 means nothing was stored and the client may retry. Bad input is a 4xx with {\"status\":\"error\",\"message\":…} naming the problem."
    ),
    paths(
        crate::routes::page_view,
        crate::routes::pixel,
        crate::routes::form_submission,
        crate::health_sync::summary,
        crate::health_sync::ids,
        crate::content::content_published
    ),
    components(schemas(
        PageViewRequest,
        FormSubmissionRequest,
        ContentPublishedRequest,
        Accepted,
        ErrorBody
    )),
    modifiers(&BearerSchemes),
    tags(
        (name = "collect", description = "Event collection"),
        (name = "content", description = "Content announcements from the site's backend (on only when edge.content_api_key is set)"),
        (name = "health-sync", description = "The RC's record of unique events per hour, for the CRM's reconciliation (bearer edge.health_sync_api_key)")
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A page view, as the site posts it.
#[derive(Serialize, ToSchema)]
pub struct PageViewRequest {
    /// `event`, `resource` or `news`.
    #[schema(example = "event")]
    pub content_type: String,
    /// The content's id (a number is accepted too).
    #[schema(example = "evt_123")]
    pub content_id: String,
    /// The page's slug.
    #[schema(example = "generative-ai-for-finance-oct-2025")]
    pub slug: String,
    /// Page title.
    pub title: Option<String>,
    /// Community of the content.
    pub community: Option<String>,
    /// The CRM contact, when known.
    pub contact_id: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `contact_id` under
    /// `edge.identity_secret`, computed by the site's server. When the
    /// secret is set and this is missing or wrong, the view is counted
    /// without its contact.
    pub identity_sig: Option<String>,
    /// Page URL (built from `edge.public_base_url` when absent), http or
    /// https; its `utm_*` query parameters are read.
    pub url: Option<String>,
    /// SHA-256 of the page's normalised fields; carried to the CRM.
    pub content_checksum: Option<String>,
    /// Campaign attribution.
    pub utm_campaign: Option<String>,
    /// GDPR mode: no IP or user agent is used at all.
    pub gdpr: Option<bool>,
}

/// A form submission: the legacy Node app's body.
#[derive(Serialize, ToSchema)]
pub struct FormSubmissionRequest {
    /// Required.
    #[schema(example = "frm_109")]
    pub form_id: String,
    /// `event`, `resource` or `news`, if the form sits on content.
    pub content_type: Option<String>,
    /// The content's id.
    pub content_id: Option<String>,
    /// The page's slug.
    pub slug: Option<String>,
    /// The CRM contact, when known.
    pub contact_id: Option<String>,
    /// The submitter's email.
    pub email: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `contact_id`, else of the lower-cased
    /// `email`, under `edge.identity_secret`. When the secret is set and
    /// this is missing or wrong, the form is counted without `contact_id`,
    /// `email` or email fields.
    pub identity_sig: Option<String>,
    /// Submitted fields (at most 100; values are kept as text).
    pub fields: Option<BTreeMap<String, String>>,
    /// SHA-256 of the page's normalised fields.
    pub content_checksum: Option<String>,
    /// GDPR mode.
    pub gdpr: Option<bool>,
}

/// A content item's current version, as the site's backend announces it.
#[derive(Serialize, ToSchema)]
pub struct ContentPublishedRequest {
    /// `event`, `resource` or `news`.
    #[schema(example = "news")]
    pub content_type: String,
    /// The content's id (a number is accepted too).
    #[schema(example = "n1")]
    pub content_id: String,
    /// The page's slug.
    #[schema(example = "hello")]
    pub slug: String,
    /// The page title.
    #[schema(example = "Hello")]
    pub title: String,
    /// SHA-256 of the item's normalised fields, 64 hex digits (see
    /// docs/adding-an-event-type.md for the normalisation); the value pages
    /// send as `content_checksum`.
    #[schema(
        example = "145d93ac4341f63f9fe265859db9b03ccb7732f9d80ec5bb52eb21ae6d5d2d70",
        pattern = "^[0-9a-fA-F]{64}$"
    )]
    pub checksum: String,
}

/// `202 {"status":"ok","id":…}` (`"bot": true` added for a bot).
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
    /// The event id, assigned here and never changed downstream.
    #[schema(example = "evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E")]
    pub id: String,
    /// Present and `true` when the `User-Agent` was taken for a bot
    /// (crawlers, and command-line clients such as curl, wget or
    /// python-requests): the event is stored, but dedupe drops it, so it
    /// reaches no webhook. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub bot: Option<bool>,
}

/// The answer every route that publishes gives once the event is stored.
#[derive(utoipa::IntoResponses)]
pub enum Stored {
    /// The PubAck came.
    #[response(status = 202, description = "Durably in JetStream")]
    Accepted(Accepted),
}

/// The refusals every JSON route that publishes shares.
#[derive(utoipa::IntoResponses)]
pub enum JsonRefusals {
    /// Over the body limit.
    #[response(status = 413, description = "Body over edge.max_body_bytes")]
    TooLarge(ErrorBody),
    /// Another content type.
    #[response(status = 415, description = "Not JSON")]
    NotJson(ErrorBody),
    /// The per-client limit.
    #[response(status = 429, description = "Rate limited")]
    RateLimited(ErrorBody),
    /// No PubAck.
    #[response(status = 503, description = "NATS cannot take it; retry")]
    Unavailable(ErrorBody),
}

/// `{"status":"error","message":…}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `error`.
    #[schema(example = "error")]
    pub status: String,
    /// What was wrong.
    #[schema(example = "form_id required")]
    pub message: String,
}
