//! Turning a delivery's `data` object into the typed payload, tolerantly.
//!
//! Senders are not all hookline: the legacy Node app's Node sender puts `ts` in `data`
//! and no `id`, its SQLite ids may arrive as numbers, and form `fields` may
//! hold numbers or booleans from a browser form library. Those are coerced to
//! the strings the event model carries, so the CRM sees one clean shape;
//! anything that cannot be coerced is a 400 naming the field.

use hookline_core::content::Checksum;
use hookline_core::event::{ContentPublished, EventData, EventType, FormSubmission, PageView};
use serde_json::{Map, Value};

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
pub fn typed(kind: EventType, mut data: Map<String, Value>) -> Result<EventData, String> {
    for key in ENVELOPE_KEYS {
        data.remove(*key);
    }
    match kind {
        EventType::PageView => {
            coerce_strings(&mut data, PAGE_VIEW_STRINGS);
            require_strings(&data, &["content_type", "content_id", "slug"])?;
            if let Some(url) = data.get("url").and_then(Value::as_str) {
                hookline_core::web_url::check(url).map_err(|e| format!("data.url {e}"))?;
            }
            serde_json::from_value::<PageView>(Value::Object(data))
                .map(EventData::PageView)
                .map_err(|e| e.to_string())
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
                .map_err(|e| e.to_string())
        }
        EventType::ContentPublished => {
            coerce_strings(&mut data, CONTENT_STRINGS);
            require_strings(&data, CONTENT_STRINGS)?;
            require_strings(&data, &["content_type"])?;
            if let Some(sum) = data.get("checksum").and_then(Value::as_str) {
                Checksum::parse(sum).map_err(|e| format!("data.checksum {e}"))?;
            }
            serde_json::from_value::<ContentPublished>(Value::Object(data))
                .map(EventData::ContentPublished)
                .map_err(|e| e.to_string())
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
fn coerce_fields(data: &mut Map<String, Value>) -> Result<(), String> {
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
        Some(_) => Err("data.fields must be an object".into()),
    }
}

fn require_strings(data: &Map<String, Value>, keys: &[&str]) -> Result<(), String> {
    for key in keys {
        match data.get(*key) {
            None | Some(Value::Null) => return Err(format!("data.{key} is required")),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(format!("data.{key} must not be empty"));
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("data.{key} must be a string")),
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
        let err = typed(EventType::PageView, obj(json!({"content_type": "event"}))).unwrap_err();
        assert_eq!(err, "data.content_id is required");
        let err = typed(EventType::FormSubmission, obj(json!({"form_id": ["x"]}))).unwrap_err();
        assert_eq!(err, "data.form_id must be a string");
        let err = typed(
            EventType::PageView,
            obj(json!({"content_type": "blog", "content_id": "c", "slug": "s"})),
        )
        .unwrap_err();
        assert!(err.contains("unknown variant `blog`"), "{err}");
        let err = typed(
            EventType::FormSubmission,
            obj(json!({"form_id": "f", "fields": 3})),
        )
        .unwrap_err();
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
        let err = typed(EventType::ContentPublished, bad).unwrap_err();
        assert_eq!(err, "data.title is required");
        let mut bad = obj(good);
        bad.insert("checksum".into(), json!("abc"));
        let err = typed(EventType::ContentPublished, bad).unwrap_err();
        assert!(err.starts_with("data.checksum must be"), "{err}");
    }
}
