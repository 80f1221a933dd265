//! Payloads built in code from the fields that identify them; every other
//! field starts empty.

use super::{ContentType, FormSubmission, PageView};

impl PageView {
    /// A view of page `slug` of content `content_id`, by `contact_id` when
    /// known, with nothing else said about the page or the visit.
    pub fn new(
        content_type: ContentType,
        content_id: &str,
        slug: &str,
        contact_id: Option<&str>,
    ) -> Self {
        Self {
            content_type,
            content_id: content_id.to_string(),
            slug: slug.to_string(),
            title: None,
            community: None,
            contact_id: contact_id.map(str::to_string),
            url: None,
            content_checksum: None,
            utm_campaign: None,
            utm_source: None,
            utm_medium: None,
        }
    }
}

impl FormSubmission {
    /// Form `form_id` submitted outside any content page, by `contact_id`
    /// and `email` when known, with `fields` as given.
    pub fn new(
        form_id: &str,
        contact_id: Option<&str>,
        email: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Self {
        Self {
            form_id: form_id.to_string(),
            content_type: None,
            content_id: None,
            slug: None,
            contact_id: contact_id.map(str::to_string),
            email: email.map(str::to_string),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            content_checksum: None,
            site_id: None,
        }
    }
}
