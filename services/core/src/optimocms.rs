//! The OptimoCMS webhook body, both ways: what webhook-out's `optimocms`
//! profile sends and what `POST /api/webhooks/optimocms` accepts.
//!
//! The vendor's body is `{"id", "type", "created_at", "data"}`. A form is
//! `form.submitted` with `{formId, siteId, fields, submittedAt}`; hookline's
//! other types travel under their own names with hookline's data, and any
//! other vendor type (`order.created`, …) is kept as an other-type event.

use crate::event::{FormSubmission, rfc3339_millis};
use crate::form_fields::{self, EMAIL};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The vendor's type of a form submission.
pub const FORM_SUBMITTED: &str = "form.submitted";

/// The body webhook-out sends: `{"id","type","created_at","data"}`, in that
/// order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Body<D> {
    /// The hookline event id (also the `webhook-id` header).
    pub id: String,
    /// `form.submitted`, else hookline's type name (`page_view`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event occurred (RFC 3339, milliseconds, UTC).
    pub created_at: String,
    /// The payload.
    pub data: D,
}

/// `data` of a `form.submitted` body, as the vendor's guide types it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormData {
    /// The form's id.
    pub form_id: String,
    /// The site the form was on (`webhook_out.site_id`).
    pub site_id: String,
    /// The submitted fields, with `email`, `firstName` and `lastName` set
    /// when the submission names them.
    pub fields: BTreeMap<String, String>,
    /// When it was submitted (RFC 3339, milliseconds, UTC).
    pub submitted_at: String,
}

/// What `POST /api/webhooks/optimocms` accepts: `type` and `data` are
/// required; without `id`, the event id is derived from the signed body.
/// `D` is the payload (for `form.submitted`: [`FormDelivery`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery<D = Map<String, Value>> {
    /// The sender's event id, kept as the hookline event id.
    #[serde(default)]
    pub id: Option<String>,
    /// `form.submitted`, a hookline type name, or any other type (kept in
    /// `other_events`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event occurred (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The payload.
    pub data: D,
}

/// `data` of an incoming `form.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormDelivery {
    /// The form's id (→ `form_id`).
    pub form_id: String,
    /// The site (→ `site_id`).
    #[serde(default)]
    pub site_id: Option<String>,
    /// The fields; `email` becomes the submission's `email`, the rest stay
    /// fields. Numbers and booleans are taken as their text.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// When it was submitted (RFC 3339), used when `created_at` is absent.
    #[serde(default)]
    pub submitted_at: Option<String>,
}

/// The outgoing `data` of a form: its fields plus `email`, `firstName` and
/// `lastName` where the submission has them and the fields do not.
pub fn form_data(form: &FormSubmission, site_id: &str, at: &DateTime<Utc>) -> FormData {
    let mut fields = form.fields.clone();
    let email = form
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .or_else(|| form_fields::field(&form.fields, EMAIL))
        .map(str::to_string);
    let (first, last) = form_fields::names(&form.fields);
    for (key, value) in [("email", email), ("firstName", first), ("lastName", last)] {
        if let Some(value) = value {
            fields.entry(key.to_string()).or_insert(value);
        }
    }
    FormData {
        form_id: form.form_id.clone(),
        site_id: site_id.to_string(),
        fields,
        submitted_at: rfc3339_millis::format(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_data_adds_email_and_names_for_the_guides_receiver() {
        let form = FormSubmission {
            form_id: "frm_109".into(),
            content_type: None,
            content_id: None,
            slug: None,
            contact_id: None,
            email: Some("john@acme.com".into()),
            fields: [("name", "John Q Doe"), ("company", "Acme")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            content_checksum: None,
            site_id: None,
        };
        let at = DateTime::parse_from_rfc3339("2026-05-26T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let data = form_data(&form, "site_abc123", &at);
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(json["formId"], "frm_109");
        assert_eq!(json["siteId"], "site_abc123");
        assert_eq!(json["submittedAt"], "2026-05-26T14:00:00.000Z");
        assert_eq!(json["fields"]["email"], "john@acme.com");
        assert_eq!(json["fields"]["firstName"], "John");
        assert_eq!(json["fields"]["lastName"], "Q Doe");
        assert_eq!(json["fields"]["name"], "John Q Doe");
        assert_eq!(json["fields"]["company"], "Acme");
    }
}
