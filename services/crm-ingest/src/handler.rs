//! `POST /api/webhooks/resources-centre`: verify, normalise, publish, answer.
//!
//! The order: read the raw bytes (bounded), verify the signature over
//! exactly those bytes, only then parse the JSON and check a legacy body's
//! API key; answer 200 only after
//! CRM_EVENTS acknowledged the event. Every refusal is one [`Refusal`]
//! variant, which fixes its status, message and metric outcome together.

use crate::envelope::{self, Delivery, EnvelopeError};
use crate::form_dedupe::FormDedupe;
use crate::verify::{DeliveryHeaders, Keys};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use hookline_core::Names;
use hookline_core::event::{Event, EventData, EventId};
use hookline_core::hop::Hop;
use hookline_core::publish::{self, Outgoing};
use hookline_core::signing::SignatureError;
use hookline_core::traceparent;
use serde_json::json;
use std::sync::Arc;
use tracing::Instrument;

/// The route of the legacy Node app's receiver, kept so a legacy sender needs no change.
pub const ROUTE: &str = "/api/webhooks/resources-centre";

/// The one message of every 401.
pub const UNAUTHORIZED: &str = "Invalid signature";

/// What the webhook route needs: the keys, the stream, the size limit.
#[derive(Clone)]
pub struct Ingest(Arc<Inner>);

struct Inner {
    keys: Keys,
    js: async_nats::jetstream::Context,
    names: Names,
    forms: FormDedupe,
    max_body_bytes: usize,
}

impl Ingest {
    /// State for the route, publishing through `js` under `names`, forms
    /// once per fingerprint in `forms`.
    pub fn new(
        keys: Keys,
        js: async_nats::jetstream::Context,
        names: Names,
        forms: FormDedupe,
        max_body_bytes: usize,
    ) -> Self {
        Self(Arc::new(Inner {
            keys,
            js,
            names,
            forms,
            max_body_bytes,
        }))
    }

    /// The largest body the route reads.
    pub fn max_body_bytes(&self) -> usize {
        self.0.max_body_bytes
    }
}

/// Why a delivery was not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    TooLarge(usize),
    Unreadable(String),
    Signature,
    ApiKey,
    Envelope(EnvelopeError),
    Unavailable,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Unreadable(_) | Refusal::Envelope(_) => StatusCode::BAD_REQUEST,
            Refusal::Signature | Refusal::ApiKey => StatusCode::UNAUTHORIZED,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The client-facing message. Every authentication failure reads the
    /// same, signature or API key (the precise reason is logged and
    /// counted), so a prober learns nothing from it.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::TooLarge(limit) => format!("Body larger than {limit} bytes"),
            Refusal::Unreadable(why) => format!("Could not read body: {why}"),
            Refusal::Signature | Refusal::ApiKey => UNAUTHORIZED.into(),
            Refusal::Envelope(e) => e.to_string(),
            Refusal::Unavailable => "Event stream unavailable, retry later".into(),
        }
    }

    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Refusal::TooLarge(_) => "too_large",
            Refusal::Unreadable(_) | Refusal::Envelope(_) => "bad_request",
            Refusal::Signature => "invalid_signature",
            Refusal::ApiKey => "invalid_api_key",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// What happened to an accepted delivery.
pub(crate) enum Accepted {
    Published,
    Duplicate,
    Ping,
}

/// `{"status":"ok"}` or `{"status":"error","message":…}`, as the legacy Node receiver answered.
#[utoipa::path(
    post,
    path = "/api/webhooks/resources-centre",
    tag = "webhooks",
    params(
        ("webhook-id" = Option<String>, Header, description = "Event id (Standard Webhooks; also sent by rc-legacy)."),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds (Standard Webhooks)."),
        ("webhook-signature" = Option<String>, Header, description = "Space-separated `v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`. Its presence selects the Standard Webhooks profile."),
        ("X-Timestamp" = Option<String>, Header, description = "Unix seconds (rc-legacy)."),
        ("X-Signature" = Option<String>, Header, description = "base64 HMAC-SHA256 of `{timestamp}.{body}` keyed with the secret string (rc-legacy)."),
    ),
    request_body(content = crate::openapi::DeliveryBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Durably on CRM_EVENTS (PubAck received), a duplicate of an event already there, or a ping.", body = crate::openapi::StatusBody),
        (status = 400, description = "Malformed JSON, missing event/data, a malformed event type or data that does not fit it. A well-formed type hookline does not model (`order.created`, …) is accepted and kept (`crm.events.other.<type>`, table `other_events`).", body = crate::openapi::StatusBody),
        (status = 401, description = "`Invalid signature`, the same answer for every authentication failure: bad, stale, future or missing signature, no secret configured, or a wrong or missing API key in a legacy body.", body = crate::openapi::StatusBody),
        (status = 413, description = "Body over `ingest.max_body_bytes`.", body = crate::openapi::StatusBody),
        (status = 503, description = "NATS could not take the event; retry.", body = crate::openapi::StatusBody),
    )
)]
pub async fn receive(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = handle(&ingest, &headers, body).await;
    answer(result, json!({"status": "ok"}), error_response)
}

/// Counts the outcome and answers 200 with `accepted`, or the refusal's
/// status with the route's error body (each route speaks its sender's
/// dialect).
pub(crate) fn answer(
    result: Result<Accepted, Refusal>,
    accepted: serde_json::Value,
    refused: fn(StatusCode, String) -> Response,
) -> Response {
    count(&result);
    match result {
        Ok(_) => (StatusCode::OK, Json(accepted)).into_response(),
        Err(refusal) => refused(refusal.status(), refusal.message()),
    }
}

/// The JSON error body of every refusal.
pub fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"status": "error", "message": message}))).into_response()
}

/// Counts a delivery's outcome (`hookline_ingest_deliveries_total`).
fn count(result: &Result<Accepted, Refusal>) {
    let outcome = match result {
        Ok(Accepted::Published) => "accepted",
        Ok(Accepted::Duplicate) => "duplicate",
        Ok(Accepted::Ping) => "ping",
        Err(r) => r.outcome(),
    };
    metrics::counter!("hookline_ingest_deliveries_total", "outcome" => outcome).increment(1);
}

/// The body's bytes, or the refusal of a body too large or unreadable.
pub(crate) fn read_body(
    ingest: &Ingest,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Refusal> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge(ingest.max_body_bytes())
        } else {
            Refusal::Unreadable(rejection.body_text())
        }
    })
}

/// The keys deliveries are verified with.
pub(crate) fn keys(ingest: &Ingest) -> &Keys {
    &ingest.0.keys
}

async fn handle(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, Refusal> {
    let body = read_body(ingest, body)?;
    let keys = &ingest.0.keys;
    let h = DeliveryHeaders::from_map(headers);
    let now = Utc::now();
    let delivery = if h.is_standard() {
        keys.verify_standard(&h, &body, now.timestamp())
            .map_err(|e| refused("standard", e))?;
        let object = envelope::parse_object(&body).map_err(Refusal::Envelope)?;
        // verify_standard refused a delivery without webhook-id.
        let id = h.webhook_id.unwrap_or_default();
        envelope::standard(object, id, now).map_err(Refusal::Envelope)?
    } else {
        // Signature first, over the raw bytes: nothing unauthenticated is
        // parsed, and a wrong API key cannot be told from a wrong signature.
        keys.verify_legacy(&h, &body, now.timestamp())
            .map_err(|e| refused("rc-legacy", e))?;
        let object = envelope::parse_object(&body).map_err(Refusal::Envelope)?;
        if !keys.check_api_key(envelope::api_key(&object)) {
            tracing::info!(
                profile = "rc-legacy",
                "delivery refused: wrong or missing API key"
            );
            return Err(Refusal::ApiKey);
        }
        envelope::legacy(object, now).map_err(Refusal::Envelope)?
    };
    deliver(ingest, headers, delivery).await
}

/// Publishes a verified delivery (nothing for a ping).
pub(crate) async fn deliver(
    ingest: &Ingest,
    headers: &HeaderMap,
    delivery: Delivery,
) -> Result<Accepted, Refusal> {
    let trace = headers
        .get(traceparent::HEADER)
        .and_then(|v| v.to_str().ok());
    let names = &ingest.0.names;
    // Encoding a typed event cannot fail; if it ever did, the client should
    // retry rather than be told its delivery is wrong.
    let (id, subject, payload) = match delivery {
        Delivery::Ping => {
            tracing::info!("test delivery (ping) verified");
            return Ok(Accepted::Ping);
        }
        Delivery::Event(event) => {
            // A form goes under its first copy's id (two senders, one event).
            let event = first_copy(ingest, &event).await?;
            (
                event.id.clone(),
                names.crm_event_subject(event.event_type()),
                serde_json::to_vec(&event),
            )
        }
        Delivery::Other(other) => (
            other.id.clone(),
            names.crm_other_subject(&other.kind),
            serde_json::to_vec(&other),
        ),
    };
    let payload = payload.map_err(|e| {
        tracing::error!(event_id = %id, error = %e, "could not encode event");
        Refusal::Unavailable
    })?;
    publish(ingest, &id, subject, payload, trace).await
}

pub(crate) fn refused(profile: &'static str, error: SignatureError) -> Refusal {
    tracing::info!(profile, reason = %error, "delivery refused: signature not verified");
    Refusal::Signature
}

/// A form submission under the id of its first copy inside
/// `crm.form_dedupe_window` (see [`crate::form_dedupe`]); other events as
/// they are.
async fn first_copy(ingest: &Ingest, event: &Event) -> Result<Event, Refusal> {
    let mut event = event.clone();
    if let EventData::FormSubmission(form) = &event.data {
        let first = ingest.0.forms.first_id(form, &event.id).await.map_err(|e| {
            tracing::warn!(event_id = %event.id, error = %e, "form fingerprint bucket unavailable");
            Refusal::Unavailable
        })?;
        if first != event.id {
            tracing::debug!(event_id = %event.id, first = %first, "form already received from another sender; publishing under the first id");
            metrics::counter!("hookline_ingest_form_copies_total").increment(1);
            event.id = first;
        }
    }
    Ok(event)
}

/// Publishes a verified delivery to `CRM_EVENTS` in a hop span continuing
/// the sender's `traceparent`.
async fn publish(
    ingest: &Ingest,
    id: &EventId,
    subject: String,
    payload: Vec<u8>,
    trace: Option<&str>,
) -> Result<Accepted, Refusal> {
    let mut msg = Outgoing::new(subject, id.as_str(), Bytes::from(payload));
    let hop = Hop::start("crm-ingest", "publish", trace, id.as_str());
    msg.headers = Some(hop.headers());
    let published = publish::publish(&ingest.0.js, &msg)
        .instrument(hop.span().clone())
        .await;
    hop.outcome(if published.is_ok() {
        "published"
    } else {
        "failed"
    });
    match published {
        Ok(ack) if ack.duplicate => {
            tracing::debug!(event_id = %id, "duplicate delivery, already on CRM_EVENTS");
            Ok(Accepted::Duplicate)
        }
        Ok(ack) => {
            tracing::debug!(event_id = %id, seq = ack.sequence, subject = %msg.subject, "delivery published");
            Ok(Accepted::Published)
        }
        Err(e) => {
            tracing::warn!(event_id = %id, error = %e, "CRM_EVENTS did not take the event");
            Err(Refusal::Unavailable)
        }
    }
}
