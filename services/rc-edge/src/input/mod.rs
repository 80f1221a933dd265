//! Turning untrusted request bodies and query strings into events.
//!
//! Everything is read from a `serde_json` object by hand rather than through
//! `#[derive(Deserialize)]`, so each refusal names the field and the rule it
//! broke, and the accepted shapes can be a little forgiving where the legacy Node app's
//! site is (numeric ids from SQLite rows, checkbox booleans in form fields).
//! Nothing here can panic or produce anything but a 4xx.
//!
//! # Field caps
//!
//! | field | longest (characters) |
//! |---|---|
//! | `content_id`, `contact_id`, `form_id` | 256 |
//! | `slug` | 512 |
//! | `title` | 1024 |
//! | `community`, `utm_campaign`, `utm_source`, `utm_medium` | 256 |
//! | `url` | 2048 |
//! | `email` | 320 |
//! | `content_checksum` | 128 |
//! | `checksum` (`content_published`) | exactly 64 hex digits |
//! | form `fields` | at most 100 entries; names ≤ 128, values ≤ 10,000 |
//!
//! The whole body is capped by `edge.max_body_bytes` (1 MiB, answered 413).

mod content;
mod form;
mod page_view;
#[cfg(test)]
mod tests;

pub use content::content_published;
pub use form::form_submission;
pub use page_view::{PageViewInput, page_view, pixel_fields};

use crate::error::ApiError;
use serde_json::{Map, Value};

/// Longest id (`content_id`, `contact_id`, `form_id`).
pub const MAX_ID: usize = 256;
/// Longest slug.
pub const MAX_SLUG: usize = 512;
/// Longest title.
pub const MAX_TITLE: usize = 1024;
/// Longest community and UTM value.
pub const MAX_SHORT: usize = 256;
/// Longest URL.
pub const MAX_URL: usize = 2048;
/// Longest email address.
pub const MAX_EMAIL: usize = 320;
/// Longest content checksum.
pub const MAX_CHECKSUM: usize = 128;
/// Most form fields.
pub const MAX_FIELDS: usize = 100;
/// Longest form field name.
pub const MAX_FIELD_NAME: usize = 128;
/// Longest form field value.
pub const MAX_FIELD_VALUE: usize = 10_000;

/// The `identity_sig` beside `contact_id` (a body field, or a pixel query
/// parameter); see [`crate::identity`].
pub fn identity_sig(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    Fields(obj).text("identity_sig", crate::identity::MAX_SIG)
}

/// Parses a JSON body that must be an object.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("request body must be a JSON object")),
    }
}

/// Typed access to one JSON object's fields, with errors naming the field.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    /// An optional text field: absent, `null` and blank are `None`.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => capped(name, s, max),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
        }
    }

    /// An optional id: a string or a whole number (the legacy Node app's SQLite row ids).
    pub fn id(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => capped(name, s, MAX_ID),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::bad_request(format!(
                "{name} must be a string or a whole number"
            ))),
        }
    }

    /// A required id: missing → `"<name> required"`, like the legacy Node app.
    pub fn required_id(&self, name: &str) -> Result<String, ApiError> {
        self.id(name)?
            .ok_or_else(|| ApiError::bad_request(format!("{name} required")))
    }

    /// A required text field.
    pub fn required_text(&self, name: &str, max: usize) -> Result<String, ApiError> {
        self.text(name, max)?
            .ok_or_else(|| ApiError::bad_request(format!("{name} required")))
    }

    /// The `gdpr` flag: `true`, `1`, `"1"`, `"true"` turn it on.
    pub fn gdpr(&self) -> Result<bool, ApiError> {
        match self.0.get("gdpr") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
            Some(Value::String(s)) => flag(s),
            Some(_) => Err(ApiError::bad_request("gdpr must be true or false")),
        }
    }
}

/// A query-string or JSON-string flag.
pub(crate) fn flag(s: &str) -> Result<bool, ApiError> {
    match s.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ApiError::bad_request("gdpr must be true or false")),
    }
}

fn capped(name: &str, s: &str, max: usize) -> Result<Option<String>, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {max} characters"
        )));
    }
    Ok(Some(s.to_string()))
}

/// Parses a `content_type` value.
pub(crate) fn content_type(s: &str) -> Result<hookline_core::event::ContentType, ApiError> {
    hookline_core::event::ContentType::parse(s).ok_or_else(|| {
        let shown: String = s.chars().take(64).collect();
        ApiError::bad_request(format!(
            "unknown content_type {shown:?}: expected event, resource or news"
        ))
    })
}
