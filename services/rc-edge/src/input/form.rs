//! Form submissions: the legacy Node app's body, `form_id` required.

use super::{
    Fields, MAX_CHECKSUM, MAX_EMAIL, MAX_FIELD_NAME, MAX_FIELD_VALUE, MAX_FIELDS, MAX_SHORT,
    MAX_SLUG, content_type,
};
use crate::error::ApiError;
use hookline_core::event::FormSubmission;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Validates a form submission; also returns the `gdpr` flag.
pub fn form_submission(obj: &Map<String, Value>) -> Result<(FormSubmission, bool), ApiError> {
    let f = Fields(obj);
    // First, so a body without it gets exactly the legacy Node app's answer.
    let form_id = f.required_id("form_id")?;
    let content_type = match f.text("content_type", MAX_SHORT)? {
        Some(s) => Some(content_type(&s)?),
        None => None,
    };
    let submission = FormSubmission {
        form_id,
        content_type,
        content_id: f.id("content_id")?,
        slug: f.text("slug", MAX_SLUG)?,
        contact_id: f.id("contact_id")?,
        email: f.text("email", MAX_EMAIL)?,
        fields: fields(obj.get("fields"))?,
        content_checksum: f.text("content_checksum", MAX_CHECKSUM)?,
        site_id: None,
    };
    Ok((submission, f.gdpr()?))
}

/// The `fields` object: strings kept as sent; numbers and booleans (a
/// checkbox) as their JSON text; `null` entries dropped.
fn fields(value: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let obj = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(obj)) => obj,
        Some(_) => return Err(ApiError::bad_request("fields must be an object")),
    };
    if obj.len() > MAX_FIELDS {
        return Err(ApiError::bad_request(format!(
            "too many fields: {} (at most {MAX_FIELDS})",
            obj.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (name, value) in obj {
        let shown: String = name.chars().take(64).collect();
        if name.chars().count() > MAX_FIELD_NAME {
            return Err(ApiError::bad_request(format!(
                "field name {shown:?} is longer than {MAX_FIELD_NAME} characters"
            )));
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(ApiError::bad_request(format!(
                    "fields.{shown} must be a string, number or boolean"
                )));
            }
        };
        if text.chars().count() > MAX_FIELD_VALUE {
            return Err(ApiError::bad_request(format!(
                "fields.{shown} is longer than {MAX_FIELD_VALUE} characters"
            )));
        }
        out.insert(name.clone(), text);
    }
    Ok(out)
}
