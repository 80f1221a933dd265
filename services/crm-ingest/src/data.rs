//! Turning a delivery's `data` object into the typed payload, tolerantly.
//!
//! Senders are not all hookline: the legacy Node app's Node sender puts `ts` in `data`
//! and no `id`, its SQLite ids may arrive as numbers, and form `fields` may
//! hold numbers or booleans from a browser form library. Those are coerced to
//! the strings the event model carries, so the CRM sees one clean shape;
//! anything that cannot be coerced is a 400 naming the field.

use hookline_core::content::{Checksum, InvalidChecksum};
use hookline_core::event::{ContentPublished, EventData, EventType, FormSubmission, PageView};
use hookline_core::web_url::WebUrlError;
use serde_json::{Map, Value};

/// Why `data` does not fit its event type; the `Display` text is the
/// sender's 400 message and names the field.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A required field is absent or null.
    #[error("data.{0} is required")]
    Required(&'static str),
    /// A required text field is empty.
    #[error("data.{0} must not be empty")]
    Empty(&'static str),
    /// A text field holds something else.
    #[error("data.{0} must be a string")]
    NotAString(&'static str),
    /// `data.fields` is neither an object nor null.
    #[error("data.fields must be an object")]
    FieldsNotObject,
    /// `data.url` is not a web address.
    #[error("data.url {0}")]
    Url(#[source] WebUrlError),
    /// `data.checksum` is not a SHA-256.
    #[error("data.checksum {0}")]
    Checksum(#[source] InvalidChecksum),
    /// The payload does not deserialize into the event type.
    #[error(transparent)]
    Shape(#[from] serde_json::Error),
}

/// Keys that describe the delivery, not the payload (`data.id`, `data.ts`).
const ENVELOPE_KEYS: &[&str] = &["id", "ts"];

/// String fields of a page view that may arrive as numbers.
const PAGE_VIEW_STRINGS: &[&str] = &[
    "content_id",
    "slug",
    "title",
    "community",
    "contact_id",
    "url",
    "content_checksum",
    "utm_campaign",
    "utm_source",
    "utm_medium",
];

/// String fields of a form submission that may arrive as numbers.
const FORM_STRINGS: &[&str] = &[
    "form_id",
    "content_id",
    "slug",
    "contact_id",
    "email",
    "content_checksum",
    "site_id",
];

/// String fields of a content announcement (all required).
const CONTENT_STRINGS: &[&str] = &["content_id", "slug", "title", "checksum"];

/// Parses `data` as the payload of `kind`. The error names the problem.
pub fn typed(kind: EventType, mut data: Map<String, Value>) -> Result<EventData, DataError> {
    for key in ENVELOPE_KEYS {
        data.remove(*key);
    }
    match kind {
        EventType::PageView => {
            coerce_strings(&mut data, PAGE_VIEW_STRINGS);
            require_strings(&data, &["content_type", "content_id", "slug"])?;
            if let Some(url) = data.get("url").and_then(Value::as_str) {
                hookline_core::web_url::check(url).map_err(DataError::Url)?;
            }
            serde_json::from_value::<PageView>(Value::Object(data))
                .map(EventData::PageView)
                .map_err(DataError::from)
        }
        EventType::FormSubmission => {
            coerce_strings(&mut data, FORM_STRINGS);
            // The legacy Node app's form endpoint forwards `content_type` as given, which
            // may be "" for a form outside any content page.
            if data.get("content_type").and_then(Value::as_str) == Some("") {
                data.insert("content_type".into(), Value::Null);
            }
            coerce_fields(&mut data)?;
            require_strings(&data, &["form_id"])?;
            serde_json::from_value::<FormSubmission>(Value::Object(data))
                .map(EventData::FormSubmission)
                .map_err(DataError::from)
        }
        EventType::ContentPublished => {
            coerce_strings(&mut data, CONTENT_STRINGS);
            require_strings(&data, CONTENT_STRINGS)?;
            require_strings(&data, &["content_type"])?;
            if let Some(sum) = data.get("checksum").and_then(Value::as_str) {
                Checksum::parse(sum).map_err(DataError::Checksum)?;
            }
            serde_json::from_value::<ContentPublished>(Value::Object(data))
                .map(EventData::ContentPublished)
                .map_err(DataError::from)
        }
    }
}

/// Numbers become their decimal text (a SQLite row id of `42` is `"42"`).
fn coerce_strings(data: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = data.get_mut(*key)
            && let Value::Number(n) = v
        {
            *v = Value::String(n.to_string());
        }
    }
}

/// `fields` values become strings: scalars as text, nulls dropped, nested
/// values as compact JSON (kept rather than refused: the sender's form is
/// not ours to validate, and the CRM keeps the raw payload anyway).
fn coerce_fields(data: &mut Map<String, Value>) -> Result<(), DataError> {
    match data.get_mut("fields") {
        None => Ok(()),
        Some(v @ Value::Null) => {
            *v = Value::Object(Map::new());
            Ok(())
        }
        Some(Value::Object(fields)) => {
            fields.retain(|_, v| !v.is_null());
            for v in fields.values_mut() {
                let text = match &*v {
                    Value::String(_) => continue,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    nested => nested.to_string(),
                };
                *v = Value::String(text);
            }
            Ok(())
        }
        Some(_) => Err(DataError::FieldsNotObject),
    }
}

fn require_strings(data: &Map<String, Value>, keys: &[&'static str]) -> Result<(), DataError> {
    for &key in keys {
        match data.get(key) {
            None | Some(Value::Null) => return Err(DataError::Required(key)),
            Some(Value::String(s)) if s.is_empty() => return Err(DataError::Empty(key)),
            Some(Value::String(_)) => {}
            Some(_) => return Err(DataError::NotAString(key)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn seed_page_view_with_ts_and_numeric_id_parses() {
        let data = obj(json!({
            "content_type": "event", "content_id": 42, "slug": "s", "title": "T",
            "community": "finance", "contact_id": null, "url": "https://x/event/s",
            "ts": "2025-10-13T07:58:00.000Z", "id": "evt_x"
        }));
        let EventData::PageView(p) = typed(EventType::PageView, data).unwrap() else {
            panic!("page view expected")
        };
        assert_eq!(p.content_id, "42");
        assert_eq!(p.contact_id, None);
    }

    #[test]
    fn form_fields_are_coerced_to_strings() {
        let data = obj(json!({
            "form_id": "frm_1", "content_type": "",
            "fields": {"a": 1, "b": true, "c": null, "d": [1], "e": "x"}
        }));
        let EventData::FormSubmission(f) = typed(EventType::FormSubmission, data).unwrap() else {
            panic!("form expected")
        };
        assert_eq!(f.content_type, None);
        assert_eq!(f.fields["a"], "1");
        assert_eq!(f.fields["b"], "true");
        assert!(!f.fields.contains_key("c"));
        assert_eq!(f.fields["d"], "[1]");
        assert_eq!(f.fields["e"], "x");
    }

    #[test]
    fn problems_name_the_field() {
        let err = typed(EventType::PageView, obj(json!({"content_type": "event"})))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "data.content_id is required");
        let err = typed(EventType::FormSubmission, obj(json!({"form_id": ["x"]})))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "data.form_id must be a string");
        let err = typed(
            EventType::PageView,
            obj(json!({"content_type": "blog", "content_id": "c", "slug": "s"})),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `blog`"), "{err}");
        let err = typed(
            EventType::FormSubmission,
            obj(json!({"form_id": "f", "fields": 3})),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "data.fields must be an object");
    }

    #[test]
    fn content_published_needs_every_field_and_a_hex_checksum() {
        let good = json!({"content_type": "news", "content_id": 7, "slug": "s",
                          "title": "T", "checksum": "AB".repeat(32), "id": "evt_x"});
        let EventData::ContentPublished(c) =
            typed(EventType::ContentPublished, obj(good.clone())).unwrap()
        else {
            panic!("content_published expected")
        };
        assert_eq!(c.content_id, "7");
        assert_eq!(c.checksum.as_str(), "ab".repeat(32));
        let mut bad = obj(good.clone());
        bad.remove("title");
        let err = typed(EventType::ContentPublished, bad)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "data.title is required");
        let mut bad = obj(good);
        bad.insert("checksum".into(), json!("abc"));
        let err = typed(EventType::ContentPublished, bad)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data.checksum must be"), "{err}");
    }
}
