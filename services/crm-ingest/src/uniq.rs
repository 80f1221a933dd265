//! Ids for legacy deliveries that carry none (the legacy Node app's own Node sender).
//!
//! The legacy Node app's receiver collapsed duplicates with a `uniq_key` column:
//! `page_view|content_id|contact_id|<UTC day>` and
//! `form_submission|form_id|contact_id-or-email|<UTC minute>`. (It never
//! sent `content_published`; for one without an id the key is the content,
//! its checksum and its exact `ts`, so a retry collapses while a later revert
//! to an earlier checksum does not.) We derive the
//! event id from that same key, so its retries (which re-sign the same body)
//! and repeats within the bucket publish the same id and collapse exactly as
//! they did in the legacy app — in the stream's duplicate window and, after it, in
//! every consumer's `processed_events`.

use chrono::{DateTime, Datelike, Timelike, Utc};
use hookline_core::event::{EventData, EventId};
use sha2::{Digest, Sha256};

/// Domain separation, so no other hashed string can produce the same id.
const NAMESPACE: &str = "hookline/crm-ingest/seed-uniq-key/v1\n";

/// The legacy Node receiver's `uniq_key`, byte for byte (its buckets are not zero
/// padded: `2025-10-13`, but `2025-1-5-7-8`).
pub fn seed_uniq_key(data: &EventData, at: DateTime<Utc>) -> String {
    let day = format!("{}-{}-{}", at.year(), at.month(), at.day());
    match data {
        EventData::PageView(p) => format!(
            "page_view|{}|{}|{day}",
            p.content_id,
            p.contact_id.as_deref().unwrap_or("")
        ),
        EventData::FormSubmission(f) => {
            let who = [&f.contact_id, &f.email]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty())
                .map(String::as_str)
                .unwrap_or("");
            format!(
                "form_submission|{}|{who}|{day}-{}-{}",
                f.form_id,
                at.hour(),
                at.minute()
            )
        }
        EventData::ContentPublished(c) => format!(
            "content_published|{}|{}|{}|{}",
            c.content_type.as_str(),
            c.content_id,
            c.checksum,
            hookline_core::event::rfc3339_millis::format(&at)
        ),
    }
}

/// Domain of ids derived from a whole verified body.
const BODY_NAMESPACE: &str = "hookline/crm-ingest/signed-body/v1\n";

/// A stable id for a verified body that names no event id (an other-type
/// event, an OptimoCMS delivery without `id`): a sender's retries re-sign
/// the same body, so they get the same id and collapse.
pub fn body_id(body: &serde_json::Map<String, serde_json::Value>) -> EventId {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    hashed(BODY_NAMESPACE, &bytes)
}

fn hashed(namespace: &str, key: &[u8]) -> EventId {
    let digest = Sha256::new()
        .chain_update(namespace.as_bytes())
        .chain_update(key)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    EventId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// A stable event id for the key: the first 16 bytes of its SHA-256 as a
/// UUIDv8 (name-based, like v5 but with SHA-256).
pub fn derived_id(data: &EventData, at: DateTime<Utc>) -> EventId {
    hashed(NAMESPACE, seed_uniq_key(data, at).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::{ContentType, FormSubmission, PageView};

    fn view(contact: Option<&str>) -> EventData {
        EventData::PageView(PageView {
            content_type: ContentType::Event,
            content_id: "evt_123".into(),
            slug: "s".into(),
            title: None,
            community: None,
            contact_id: contact.map(str::to_string),
            url: None,
            content_checksum: None,
            utm_campaign: None,
            utm_source: None,
            utm_medium: None,
        })
    }

    fn form(contact: Option<&str>, email: Option<&str>) -> EventData {
        EventData::FormSubmission(FormSubmission {
            form_id: "frm_109".into(),
            content_type: None,
            content_id: None,
            slug: None,
            contact_id: contact.map(str::to_string),
            email: email.map(str::to_string),
            fields: Default::default(),
            content_checksum: None,
            site_id: None,
        })
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn keys_match_the_seed_receiver() {
        assert_eq!(
            seed_uniq_key(&view(Some("cnt_001")), at("2025-10-13T07:58:00.000Z")),
            "page_view|evt_123|cnt_001|2025-10-13"
        );
        assert_eq!(
            seed_uniq_key(&view(None), at("2025-01-05T07:58:00Z")),
            "page_view|evt_123||2025-1-5"
        );
        assert_eq!(
            seed_uniq_key(&form(Some(""), Some("j@a.com")), at("2025-10-13T08:02:11Z")),
            "form_submission|frm_109|j@a.com|2025-10-13-8-2"
        );
    }

    #[test]
    fn same_bucket_same_id_other_bucket_other_id() {
        let a = derived_id(&view(Some("c")), at("2025-10-13T00:00:01Z"));
        let b = derived_id(&view(Some("c")), at("2025-10-13T23:59:59Z"));
        let c = derived_id(&view(Some("c")), at("2025-10-14T00:00:01Z"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.as_str().starts_with("evt_"));
        let f1 = derived_id(&form(Some("c"), None), at("2025-10-13T08:02:11Z"));
        let f2 = derived_id(&form(Some("c"), None), at("2025-10-13T08:02:59Z"));
        let f3 = derived_id(&form(Some("c"), None), at("2025-10-13T08:03:00Z"));
        assert_eq!(f1, f2);
        assert_ne!(f1, f3);
    }
}
