//! The three collection endpoints (and the helpers the content route shares).
//!
//! Each one validates, builds the raw event, publishes it to `rc.raw.<type>`
//! with `Nats-Msg-Id` = event id and answers only after the PubAck: a 2xx
//! means the event is durably in RC_RAW, a 503 means nothing was stored
//! and the client may retry.

use crate::client_ip::TrustedProxies;
use crate::error::ApiError;
use crate::fingerprint::Fingerprinter;
use crate::input::{self, PageViewInput};
use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use hookline_core::event::{Event, EventData, EventId, RawEvent, Visitor};
use hookline_core::hop::Hop;
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish};
use hookline_core::traceparent;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// A transparent 1×1 GIF.
pub const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub nats: Nats,
    pub fingerprints: Fingerprinter,
    pub identities: crate::identity::Identities,
    pub bots: isbot::Bots,
    pub proxies: TrustedProxies,
    pub base_url: String,
    pub max_body: usize,
    /// `edge.content_api_key`; `None` turns `/api/content-published` off.
    pub content_key: Option<crate::bearer::BearerKey>,
}

/// The TCP peer's address (unspecified if the server has no connect info).
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(crate::client_ip::peer_of(&parts.extensions)))
    }
}

/// `POST /api/page-view`.
#[utoipa::path(post, path = "/api/page-view", tag = "collect",
    request_body = crate::openapi::PageViewRequest,
    params(("gdpr" = Option<String>, Query, description = "`1` turns GDPR mode on")),
    responses(
        crate::openapi::Stored,
        (status = 400, description = "Bad input, named", body = crate::openapi::ErrorBody),
        crate::openapi::JsonRefusals,
    ))]
pub async fn page_view(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let obj = json_body(&headers, body, state.0.max_body)?;
    let mut input = input::page_view(&obj, &state.0.base_url)?;
    input.gdpr |= query_gdpr(query.as_deref())?;
    let sig = input::identity_sig(&obj)?;
    state
        .0
        .identities
        .page_view(&mut input.view, sig.as_deref());
    let stored = state.accept_page_view(input, peer, &headers).await?;
    Ok(accepted(&stored))
}

/// `GET /t/{content_type}/{slug}.gif`: the same page view, answered with a GIF.
#[utoipa::path(get, path = "/t/{content_type}/{slug_gif}", tag = "collect",
    params(
        ("content_type" = String, Path, description = "`event`, `resource` or `news`"),
        ("slug_gif" = String, Path, description = "The slug followed by `.gif`"),
        ("content_id" = String, Query, description = "The content's id"),
        ("contact_id" = Option<String>, Query, description = "The CRM contact"),
        ("identity_sig" = Option<String>, Query, description = "Lowercase hex HMAC-SHA256 of contact_id under edge.identity_secret; without it (when the secret is set) the view is counted anonymously"),
        ("title" = Option<String>, Query, description = "Page title"),
        ("community" = Option<String>, Query, description = "Community"),
        ("gdpr" = Option<String>, Query, description = "`1` turns GDPR mode on"),
    ),
    responses(
        (status = 200, description = "1x1 GIF, Cache-Control: no-store; X-Event-Id names the event", content_type = "image/gif"),
        (status = 400, description = "Bad input, named", body = crate::openapi::ErrorBody),
        (status = 503, description = "NATS cannot take it; retry", body = crate::openapi::ErrorBody),
    ))]
pub async fn pixel(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Path((content_type, slug_gif)) =
        path.map_err(|e| ApiError::bad_request(format!("bad pixel path: {}", e.body_text())))?;
    let obj = input::pixel_fields(&content_type, &slug_gif, query.as_deref())?;
    let mut input = input::page_view(&obj, &state.0.base_url)?;
    let sig = input::identity_sig(&obj)?;
    state
        .0
        .identities
        .page_view(&mut input.view, sig.as_deref());
    let Stored { id, .. } = state.accept_page_view(input, peer, &headers).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-event-id"), id.as_str()),
        ],
        PIXEL_GIF,
    )
        .into_response())
}

/// `POST /api/form-submission`.
#[utoipa::path(post, path = "/api/form-submission", tag = "collect",
    request_body = crate::openapi::FormSubmissionRequest,
    responses(
        crate::openapi::Stored,
        (status = 400, description = "Bad input, named (e.g. `form_id required`)", body = crate::openapi::ErrorBody),
        crate::openapi::JsonRefusals,
    ))]
pub async fn form_submission(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let obj = json_body(&headers, body, state.0.max_body)?;
    let (mut form, gdpr) = input::form_submission(&obj)?;
    let gdpr = gdpr || query_gdpr(query.as_deref())?;
    let sig = input::identity_sig(&obj)?;
    state.0.identities.form(&mut form, sig.as_deref());
    // Dedupe knows a submitter by contact id, else email; only a submitter
    // with neither needs a fingerprint.
    let needs_fingerprint = !gdpr && form.contact_id.is_none() && form.email.is_none();
    let visitor = state.visitor(peer, &headers, needs_fingerprint);
    let stored = state
        .accept(
            Event::new(EventData::FormSubmission(form)),
            visitor,
            client_trace(&headers),
        )
        .await?;
    Ok(accepted(&stored))
}

/// What the edge stored: the event's id, and whether its sender was taken
/// for a bot (dedupe will then drop it: it never reaches a webhook).
pub(crate) struct Stored {
    id: EventId,
    bot: bool,
}

/// `202 {"status":"ok","id":…}`, with `"bot": true` when the sender was
/// taken for a bot, so whoever tries the API with curl learns at once why
/// nothing arrives downstream.
pub(crate) fn accepted(stored: &Stored) -> Response {
    let body = if stored.bot {
        json!({"status": "ok", "id": stored.id, "bot": true})
    } else {
        json!({"status": "ok", "id": stored.id})
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The client's `traceparent` request header, if it sent one.
pub(crate) fn client_trace(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(traceparent::HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Checks the content type and size, then parses the body as a JSON object.
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max_body: usize,
) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(max_body)
        } else {
            ApiError::bad_request("could not read the request body")
        }
    })?;
    if !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    input::json_object(&body)
}

/// `application/json`, optionally with parameters, or any `+json` type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `?gdpr=1` on any endpoint.
fn query_gdpr(query: Option<&str>) -> Result<bool, ApiError> {
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "gdpr" {
            return input::flag(&v);
        }
    }
    Ok(false)
}

impl AppState {
    async fn accept_page_view(
        &self,
        input: PageViewInput,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Result<Stored, ApiError> {
        // A known contact is identified by its id; GDPR visitors by nothing else.
        let needs_fingerprint = !input.gdpr && input.view.contact_id.is_none();
        let visitor = self.visitor(peer, headers, needs_fingerprint);
        let trace = client_trace(headers);
        self.accept(Event::new(EventData::PageView(input.view)), visitor, trace)
            .await
    }

    /// The visitor block. The raw IP and user agent are used here and
    /// dropped; only the HMAC (and the bot flag) leave this function.
    fn visitor(&self, peer: IpAddr, headers: &HeaderMap, fingerprint: bool) -> Visitor {
        let ua = headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let bot = !ua.is_empty() && self.0.bots.is_bot(&ua);
        let fingerprint = fingerprint.then(|| {
            let ip = self.0.proxies.client_ip(peer, headers);
            self.0.fingerprints.visitor(Utc::now(), ip, &ua)
        });
        Visitor { fingerprint, bot }
    }

    /// Publishes the raw event (with a `traceparent` continuing the
    /// client's trace, or starting one) and waits for its PubAck.
    pub(crate) async fn accept(
        &self,
        event: Event,
        visitor: Visitor,
        trace: Option<&str>,
    ) -> Result<Stored, ApiError> {
        let kind = event.event_type();
        let raw = RawEvent { event, visitor };
        let id = raw.event.id.clone();
        let payload = serde_json::to_vec(&raw).map_err(|e| {
            tracing::error!(event_id = %id, error = %e, "raw event did not serialise");
            ApiError::unavailable()
        })?;
        let mut msg = Outgoing::new(
            self.0.nats.names.raw_subject(kind),
            id.as_str(),
            payload.into(),
        );
        let hop = Hop::start("rc-edge", "publish", trace, id.as_str());
        msg.headers = Some(hop.headers());
        let started = Instant::now();
        match publish(&self.0.nats.js, &msg)
            .instrument(hop.span().clone())
            .await
        {
            Ok(_) => {
                metrics::histogram!("hookline_edge_publish_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("hookline_edge_events_total", "type" => kind.as_str(), "bot" => if raw.visitor.bot { "true" } else { "false" })
                    .increment(1);
                tracing::debug!(event_id = %id, kind = %kind, "raw event stored");
                Ok(Stored {
                    id,
                    bot: raw.visitor.bot,
                })
            }
            Err(e) => {
                metrics::counter!("hookline_edge_publish_failures_total", "type" => kind.as_str())
                    .increment(1);
                tracing::warn!(event_id = %id, kind = %kind, error = %e, "NATS did not take the event; answering 503");
                Err(ApiError::unavailable())
            }
        }
    }
}
