//! The two body shapes a delivery may have, normalised to one core [`Event`].
//!
//! - Standard Webhooks: the envelope itself, `{"id","occurred_at","type","data"}`.
//! - rc-legacy / the legacy Node app: `{"api_key","event","data"}`, with `data.id` and
//!   `data.ts` from webhook-out, or only `data.ts` from the legacy Node app's Node sender.
//!
//! Whatever arrives, the CRM stream carries the same envelope, so consumers
//! never need to know which profile a sender used. A well-formed type
//! hookline does not model (`order.created`, …) is kept as an
//! [`OtherEvent`] instead of refused.

use crate::{data, uniq};
use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use hookline_core::event::{Event, EventId, EventType};
use hookline_core::other_event::{self, OtherEvent};
use hookline_core::wire::PING;
use serde_json::{Map, Value};

/// `OtherEvent::source` of deliveries to `POST /api/webhooks/resources-centre`.
pub const SOURCE: &str = "resources-centre";

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A test delivery: answer 200, publish nothing.
    Ping,
    /// An event to publish (boxed: it is large and a ping is nothing).
    Event(Box<Event>),
    /// An event of a type hookline does not model, to publish as received.
    Other(Box<OtherEvent>),
}

/// Why a body is not a usable delivery (each a 400 whose message is the
/// `Display` text).
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON.
    #[error("Malformed JSON: {0}")]
    MalformedJson(#[source] serde_json::Error),
    /// JSON, but not an object.
    #[error("Body must be a JSON object")]
    NotAnObject,
    /// A legacy body without `event` or `data` (the legacy Node app's message).
    #[error("Missing event/data")]
    MissingEventData,
    /// A Standard Webhooks envelope without `type` or `data`.
    #[error("Missing type/data")]
    MissingTypeData,
    /// A field that must be text is not.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// `data` is not an object.
    #[error("data must be a JSON object")]
    DataNotObject,
    /// A type that is not a type name (empty, too long, spaces, control
    /// characters).
    #[error(
        "Malformed event type {0:?} (expected 1 to 64 printable ASCII characters without spaces)"
    )]
    MalformedType(String),
    /// An id that is empty, too long or not printable ASCII.
    #[error("Invalid event id in {0}")]
    BadId(&'static str),
    /// A timestamp that is not RFC 3339 (or Unix milliseconds).
    #[error("{0} is not an RFC 3339 timestamp")]
    BadTimestamp(&'static str),
    /// `data` does not fit the event type.
    #[error("Invalid {kind} data: {source}")]
    BadData {
        /// The event type.
        kind: EventType,
        /// What is wrong, naming the field.
        source: data::DataError,
    },
}

/// Two refusals are equal when they tell the sender the same thing (their
/// causes, a JSON parser's errors among them, have no equality of their own).
impl PartialEq for EnvelopeError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Parses the raw body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, EnvelopeError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(EnvelopeError::NotAnObject),
        Err(e) => Err(EnvelopeError::MalformedJson(e)),
    }
}

/// The `api_key` of a legacy body, if it is a string.
pub fn api_key(body: &Map<String, Value>) -> Option<&str> {
    body.get("api_key").and_then(Value::as_str)
}

/// The body's `type`, or `None` for a ping (the Standard Webhooks and
/// OptimoCMS envelopes name their type alike).
pub(crate) fn type_unless_ping(body: &Map<String, Value>) -> Result<Option<String>, EnvelopeError> {
    let kind = present(body.get("type")).ok_or(EnvelopeError::MissingTypeData)?;
    let kind = kind.as_str().ok_or(EnvelopeError::NotAString("type"))?;
    Ok((kind != PING).then(|| kind.to_owned()))
}

/// A Standard Webhooks envelope. `webhook_id` is the verified (signed)
/// header and is the event id.
pub fn standard(
    body: Map<String, Value>,
    webhook_id: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, EnvelopeError> {
    let mut body = body;
    let Some(kind) = type_unless_ping(&body)? else {
        return Ok(Delivery::Ping);
    };
    let data = take_data(&mut body, EnvelopeError::MissingTypeData)?;
    let id = EventId::parse(webhook_id).map_err(|_| EnvelopeError::BadId("webhook-id"))?;
    let Some(kind) = event_type(&kind)? else {
        body.insert("data".into(), Value::Object(data));
        return Ok(other(id, kind, SOURCE, body, now));
    };
    let occurred_at = match body.get("occurred_at") {
        None | Some(Value::Null) => now,
        Some(v) => timestamp(v).ok_or(EnvelopeError::BadTimestamp("occurred_at"))?,
    };
    build(kind, data, Some(id), occurred_at)
}

/// A legacy body `{"api_key","event","data"}`. The id is the body's `id` /
/// `data.id`, else derived from the legacy Node app's `uniq_key`: only bytes the
/// signature covers name the event. The legacy signature does not cover
/// headers, so a `webhook-id` header is ignored; otherwise a captured
/// delivery re-sent under a new header would count again.
pub fn legacy(body: Map<String, Value>, now: DateTime<Utc>) -> Result<Delivery, EnvelopeError> {
    let mut body = body;
    let Some(kind) = present(body.get("event")) else {
        return Err(EnvelopeError::MissingEventData);
    };
    let kind = kind
        .as_str()
        .ok_or(EnvelopeError::NotAString("event"))?
        .to_owned();
    if kind == PING {
        return Ok(Delivery::Ping);
    }
    let data = take_data(&mut body, EnvelopeError::MissingEventData)?;
    let body_id = match (body.get("id"), data.get("id")) {
        (Some(v), _) if !v.is_null() => Some(id_value(v, "id")?),
        (_, Some(v)) if !v.is_null() => Some(id_value(v, "data.id")?),
        _ => None,
    };
    let Some(kind) = event_type(&kind)? else {
        body.insert("data".into(), Value::Object(data));
        let id = body_id.unwrap_or_else(|| uniq::body_id(&body));
        // The API key is a credential, not part of the event.
        body.remove("api_key");
        return Ok(other(id, kind, SOURCE, body, now));
    };
    let occurred_at = match data.get("ts") {
        None | Some(Value::Null) => now,
        Some(v) => timestamp(v).ok_or(EnvelopeError::BadTimestamp("data.ts"))?,
    };
    build(kind, data, body_id, occurred_at)
}

/// An other-type event received `now` through `source`.
pub(crate) fn other(
    id: EventId,
    kind: String,
    source: &str,
    payload: Map<String, Value>,
    now: DateTime<Utc>,
) -> Delivery {
    Delivery::Other(Box::new(OtherEvent {
        id,
        kind,
        source: source.to_string(),
        received_at: now.trunc_subsecs(3),
        payload,
    }))
}

pub(crate) fn build(
    kind: EventType,
    data: Map<String, Value>,
    id: Option<EventId>,
    occurred_at: DateTime<Utc>,
) -> Result<Delivery, EnvelopeError> {
    let data = data::typed(kind, data).map_err(|source| EnvelopeError::BadData { kind, source })?;
    let occurred_at = occurred_at.trunc_subsecs(3);
    let id = id.unwrap_or_else(|| uniq::derived_id(&data, occurred_at));
    Ok(Delivery::Event(Box::new(Event {
        id,
        occurred_at,
        data,
    })))
}

/// The legacy Node app's `!event || !data`: absent, null, false, "" and 0 all count as
/// missing.
pub(crate) fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    })
}

pub(crate) fn take_data(
    body: &mut Map<String, Value>,
    missing: EnvelopeError,
) -> Result<Map<String, Value>, EnvelopeError> {
    match body.remove("data") {
        Some(Value::Object(map)) => Ok(map),
        v if present(v.as_ref()).is_none() => Err(missing),
        _ => Err(EnvelopeError::DataNotObject),
    }
}

/// A type hookline models, `None` for another well-formed type, or the
/// error for a malformed one.
pub(crate) fn event_type(kind: &str) -> Result<Option<EventType>, EnvelopeError> {
    if let Some(kind) = EventType::parse(kind) {
        return Ok(Some(kind));
    }
    if other_event::is_well_formed(kind) {
        return Ok(None);
    }
    // Echo at most a short, printable prefix of what was sent.
    let shown: String = kind.chars().take(64).filter(|c| !c.is_control()).collect();
    Err(EnvelopeError::MalformedType(shown))
}

pub(crate) fn id_value(v: &Value, field: &'static str) -> Result<EventId, EnvelopeError> {
    v.as_str()
        .and_then(|s| EventId::parse(s).ok())
        .ok_or(EnvelopeError::BadId(field))
}

/// RFC 3339 text (the legacy Node app's `toISOString()`), or Unix milliseconds.
pub(crate) fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
