//! `POST /api/webhooks/optimocms`: deliveries signed the OptimoCMS way.
//!
//! The order is the resources-centre route's: read the raw bytes (bounded),
//! verify `x-optimocms-signature` over exactly those bytes in constant time
//! against every `ingest.optimocms_secrets` entry with the timestamp within
//! ±`ingest.sig_ttl_seconds` (5 minutes), only then parse. Answers speak the
//! vendor guide's receiver: `{"received": true}`, `{"error": "…"}`.
//!
//! `form.submitted` becomes a hookline `form_submission`; a hookline type
//! name (what webhook-out's `optimocms` profile sends for other events)
//! becomes that event; any other well-formed type is kept as an
//! other-type event. The id is the body's `id`, else derived from the
//! signed body.

use crate::data::DataError;
use crate::envelope::{self, Delivery, EnvelopeError};
use crate::handler::{self, Ingest, Refusal};
use crate::uniq;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hookline_core::event::EventType;
use hookline_core::optimocms::FORM_SUBMITTED;
use serde_json::{Map, Value, json};

/// The route.
pub const ROUTE: &str = "/api/webhooks/optimocms";

/// `OtherEvent::source` of deliveries to this route.
pub const SOURCE: &str = "optimocms";

/// `{"received": true}`, or `{"error": …}` as the vendor guide's receiver.
#[utoipa::path(
    post,
    path = "/api/webhooks/optimocms",
    tag = "webhooks",
    params(
        ("x-optimocms-timestamp" = String, Header, description = "Unix milliseconds; refused when more than 5 minutes old or ahead."),
        ("x-optimocms-signature" = String, Header, description = "Hex HMAC-SHA256 of `{timestamp}.{body}` keyed with an `ingest.optimocms_secrets` entry as shown (`whsec_…` included)."),
    ),
    request_body(content = crate::openapi::OptimoCmsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Durably on CRM_EVENTS (PubAck received), a duplicate of an event already there, or a ping. `form.submitted` is a `form_submission`; a type hookline does not model is kept (`other_events`).", body = crate::openapi::ReceivedBody),
        (status = 400, description = "Malformed JSON, missing type/data, a malformed type, or form data that does not fit.", body = crate::openapi::ErrorBody),
        (status = 401, description = "`Invalid signature`: bad, stale, future or missing signature, or no `ingest.optimocms_secrets`.", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over `ingest.max_body_bytes`.", body = crate::openapi::ErrorBody),
        (status = 503, description = "NATS could not take the event; retry.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn receive(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = handle(&ingest, &headers, body).await;
    handler::answer(result, json!({"received": true}), error_response)
}

/// `{"error": message}`.
pub fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn handle(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<handler::Accepted, Refusal> {
    let body = handler::read_body(ingest, body)?;
    let h = crate::verify::DeliveryHeaders::from_map(headers);
    let now = Utc::now();
    handler::keys(ingest)
        .verify_optimocms(&h, &body, now.timestamp_millis())
        .map_err(|e| handler::refused(SOURCE, e))?;
    let object = envelope::parse_object(&body).map_err(Refusal::Envelope)?;
    let delivery = delivery(object, now).map_err(Refusal::Envelope)?;
    handler::deliver(ingest, headers, delivery).await
}

/// An OptimoCMS body `{"id","type","created_at","data"}` as a delivery.
pub fn delivery(body: Map<String, Value>, now: DateTime<Utc>) -> Result<Delivery, EnvelopeError> {
    let mut body = body;
    let Some(kind) = envelope::type_unless_ping(&body)? else {
        return Ok(Delivery::Ping);
    };
    let id = match body.get("id") {
        Some(v) if !v.is_null() => envelope::id_value(v, "id")?,
        _ => uniq::body_id(&body),
    };
    let created_at = match body.get("created_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(envelope::timestamp(v).ok_or(EnvelopeError::BadTimestamp("created_at"))?),
    };
    let data = envelope::take_data(&mut body, EnvelopeError::MissingTypeData)?;
    if kind == FORM_SUBMITTED {
        let (data, submitted_at) = form(data)?;
        let at = created_at.or(submitted_at).unwrap_or(now);
        return envelope::build(EventType::FormSubmission, data, Some(id), at);
    }
    match envelope::event_type(&kind)? {
        Some(kind) => envelope::build(kind, data, Some(id), created_at.unwrap_or(now)),
        None => {
            body.insert("data".into(), Value::Object(data));
            Ok(envelope::other(id, kind, SOURCE, body, now))
        }
    }
}

/// Hookline's form data, and `submittedAt` when sent.
type FormParts = (Map<String, Value>, Option<DateTime<Utc>>);

/// `{formId, siteId, fields, submittedAt}` as hookline's form data:
/// `formId` → `form_id`, `siteId` → `site_id`, `fields.email` → `email`,
/// the other fields (names among them) stay fields.
fn form(mut data: Map<String, Value>) -> Result<FormParts, EnvelopeError> {
    let bad = |source| EnvelopeError::BadData {
        kind: EventType::FormSubmission,
        source,
    };
    let submitted_at = match data.remove("submittedAt") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(envelope::timestamp(&v).ok_or(EnvelopeError::BadTimestamp("data.submittedAt"))?)
        }
    };
    let mut out = Map::new();
    match data.remove("formId") {
        Some(v @ (Value::String(_) | Value::Number(_))) => out.insert("form_id".into(), v),
        None | Some(Value::Null) => return Err(bad(DataError::Required("formId"))),
        Some(_) => return Err(bad(DataError::NotAString("formId"))),
    };
    match data.remove("siteId") {
        None | Some(Value::Null) => {}
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            out.insert("site_id".into(), v);
        }
        Some(_) => return Err(bad(DataError::NotAString("siteId"))),
    }
    match data.remove("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mut fields)) => {
            if let Some(email) = fields.remove("email") {
                out.insert("email".into(), email);
            }
            out.insert("fields".into(), Value::Object(fields));
        }
        Some(_) => return Err(bad(DataError::FieldsNotObject)),
    }
    Ok((out, submitted_at))
}

#[cfg(test)]
mod tests;
