//! What goes on the wire for each profile: body bytes and signed headers.
//!
//! Every attempt is signed afresh with the current time, because receivers
//! refuse timestamps older than a few minutes and retries can come hours
//! later.

use crate::store::{Profile, Webhook};
use chrono::{DateTime, Utc};
use hookline_core::event::{EventData, rfc3339_millis};
use hookline_core::optimocms::{self, FORM_SUBMITTED};
use hookline_core::signing::{self, Secret, SignatureError};
use hookline_core::wire::{LegacyBody, LegacyData, PING, PingData, PingEnvelope};
use hookline_core::{Event, EventType};
use serde::Serialize;
use serde_json::Value;

/// A signed request, ready to send.
#[derive(Clone, Debug)]
pub struct Signed {
    /// Exact body bytes (what was signed).
    pub body: Vec<u8>,
    /// Headers besides `content-type`.
    pub headers: Vec<(&'static str, String)>,
}

/// The legacy Node app's body ([`LegacyBody`]): `data` = the event's
/// fields, then `id` and `ts`; compact, in the wire order the shared type
/// fixes.
fn legacy_body<T: Serialize>(
    webhook: &Webhook,
    event: &str,
    fields: &T,
    id: &str,
    occurred_at: &DateTime<Utc>,
) -> Vec<u8> {
    let body = LegacyBody {
        api_key: webhook.api_key.clone(),
        event: event.to_string(),
        data: LegacyData {
            payload: fields,
            id: Some(id.to_string()),
            ts: rfc3339_millis::format(occurred_at),
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Signs `body` for `webhook`'s profile.
pub fn sign(
    webhook: &Webhook,
    id: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Signed, SignatureError> {
    let ts = now.timestamp();
    let mut headers = vec![(signing::WEBHOOK_ID, id.to_string())];
    match webhook.profile() {
        Profile::Standard => {
            let mut sig =
                signing::standard::sign(&Secret::standard(&webhook.secret)?, id, ts, &body);
            // During rotation the previous secret signs too, so a receiver
            // that still has only the old secret keeps verifying.
            if let Some(prev) = webhook.previous_secret_at(now) {
                sig.push(' ');
                sig.push_str(&signing::standard::sign(
                    &Secret::standard(prev)?,
                    id,
                    ts,
                    &body,
                ));
            }
            headers.push((signing::WEBHOOK_TIMESTAMP, ts.to_string()));
            headers.push((signing::WEBHOOK_SIGNATURE, sig));
        }
        Profile::RcLegacy => {
            // One X-Signature only (the legacy Node app's receiver compares one value):
            // the current secret. Receivers rotate by accepting both.
            let sig = signing::legacy::sign(&Secret::legacy(&webhook.secret)?, ts, &body);
            headers.push((signing::X_TIMESTAMP, ts.to_string()));
            headers.push((signing::X_SIGNATURE, sig));
        }
        Profile::OptimoCms => {
            // One signature, like the vendor's, keyed with the secret string
            // as shown (`whsec_…` included); milliseconds.
            let ts = now.timestamp_millis();
            let key = signing::optimocms::key(&webhook.secret)?;
            let sig = signing::optimocms::sign(&key, ts, &body);
            headers.push((signing::optimocms::TIMESTAMP, ts.to_string()));
            headers.push((signing::optimocms::SIGNATURE, sig));
        }
    }
    Ok(Signed { body, headers })
}

/// The body of `event` in `webhook`'s profile. `site_id` is
/// `webhook_out.site_id`, the `siteId` of `optimocms` form bodies.
pub fn event_body(webhook: &Webhook, event: &Event, site_id: Option<&str>) -> Vec<u8> {
    match webhook.profile() {
        Profile::Standard => serde_json::to_vec(event).unwrap_or_default(),
        Profile::OptimoCms => optimocms_body(event, site_id),
        Profile::RcLegacy => {
            let kind = event.event_type().as_str();
            let id = event.id.as_str();
            match &event.data {
                EventData::PageView(p) => legacy_body(webhook, kind, p, id, &event.occurred_at),
                EventData::FormSubmission(f) => {
                    legacy_body(webhook, kind, f, id, &event.occurred_at)
                }
                EventData::ContentPublished(c) => {
                    legacy_body(webhook, kind, c, id, &event.occurred_at)
                }
            }
        }
    }
}

/// The vendor's `{"id","type","created_at","data"}`: a form as
/// `form.submitted` with its `{formId, siteId, fields, submittedAt}`, any
/// other event under hookline's type name with hookline's data.
fn optimocms_body(event: &Event, site_id: Option<&str>) -> Vec<u8> {
    let created_at = rfc3339_millis::format(&event.occurred_at);
    let body = |kind: &str, data: Value| optimocms::Body {
        id: event.id.to_string(),
        kind: kind.to_string(),
        created_at: created_at.clone(),
        data,
    };
    let body = match &event.data {
        EventData::FormSubmission(f) => {
            let site = [site_id, f.site_id.as_deref()]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            let data = optimocms::form_data(f, site, &event.occurred_at);
            body(
                FORM_SUBMITTED,
                serde_json::to_value(data).unwrap_or_default(),
            )
        }
        // Hookline's own `data`, whatever the type: the envelope's field.
        other => {
            let mut tagged = serde_json::to_value(other).unwrap_or_default();
            let data = tagged.get_mut("data").map(Value::take).unwrap_or_default();
            body(event.event_type().as_str(), data)
        }
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A signed delivery of `event` (`site_id` as for [`event_body`]).
pub fn for_event(
    webhook: &Webhook,
    event: &Event,
    site_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Signed, SignatureError> {
    sign(
        webhook,
        event.id.as_str(),
        event_body(webhook, event, site_id),
        now,
    )
}

/// A signed ping with id `id` (for `POST /v1/webhooks/{id}/test`).
pub fn for_ping(webhook: &Webhook, id: &str, now: DateTime<Utc>) -> Result<Signed, SignatureError> {
    let data = PingData::new(webhook.id.as_str());
    let body = match webhook.profile() {
        Profile::Standard => serde_json::to_vec(&PingEnvelope {
            id: id.to_string(),
            occurred_at: rfc3339_millis::format(&now),
            kind: PING.to_string(),
            data,
        })
        .unwrap_or_default(),
        Profile::RcLegacy => legacy_body(webhook, PING, &data, id, &now),
        Profile::OptimoCms => serde_json::to_vec(&optimocms::Body {
            id: id.to_string(),
            kind: PING.to_string(),
            created_at: rfc3339_millis::format(&now),
            data: &data,
        })
        .unwrap_or_default(),
    };
    sign(webhook, id, body, now)
}

/// The event type a subject carries (`…rc.events.<type>`).
pub fn subject_type(unprefixed: &str) -> Option<EventType> {
    unprefixed
        .strip_prefix("rc.events.")
        .and_then(EventType::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::{ContentType, PageView};

    fn webhook(profile: Profile) -> Webhook {
        Webhook {
            id: "wh_1".parse().unwrap(),
            url: "http://x.example/".into(),
            events: vec!["page_view".into()],
            profile: profile.as_str().into(),
            description: None,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
            api_key: Some("key".into()),
            active: true,
            disabled_reason: None,
            source: "api".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            fail_count: 0,
            failing_since: None,
            last_delivered_at: None,
            secrets_sealed: true,
        }
    }

    fn event() -> Event {
        let mut e = Event::new(EventData::PageView(PageView {
            title: Some("T \"q\" é".into()),
            ..PageView::new(ContentType::Event, "evt_123", "s", Some("cnt_001"))
        }));
        e.occurred_at = DateTime::parse_from_rfc3339("2026-10-13T07:58:00Z")
            .unwrap()
            .with_timezone(&Utc);
        e
    }

    #[test]
    fn legacy_body_is_the_seeds_shape_compact() {
        let ev = event();
        let body = String::from_utf8(event_body(&webhook(Profile::RcLegacy), &ev, None)).unwrap();
        let expected = format!(
            r#"{{"api_key":"key","event":"page_view","data":{{"content_type":"event","content_id":"evt_123","slug":"s","title":"T \"q\" é","community":null,"contact_id":"cnt_001","url":null,"id":"{}","ts":"2026-10-13T07:58:00.000Z"}}}}"#,
            ev.id
        );
        assert_eq!(body, expected);
    }

    #[test]
    fn content_published_travels_in_both_profiles() {
        let mut ev = event();
        ev.data = EventData::ContentPublished(hookline_core::content::ContentPublished {
            content_type: ContentType::News,
            content_id: "n1".into(),
            slug: "hello".into(),
            title: "Hello".into(),
            checksum: hookline_core::content::Checksum::parse(&"ab".repeat(32)).unwrap(),
        });
        let legacy = String::from_utf8(event_body(&webhook(Profile::RcLegacy), &ev, None)).unwrap();
        let expected = format!(
            r#"{{"api_key":"key","event":"content_published","data":{{"content_type":"news","content_id":"n1","slug":"hello","title":"Hello","checksum":"{}","id":"{}","ts":"2026-10-13T07:58:00.000Z"}}}}"#,
            "ab".repeat(32),
            ev.id
        );
        assert_eq!(legacy, expected);
        let standard = event_body(&webhook(Profile::Standard), &ev, None);
        let back: Event = serde_json::from_slice(&standard).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn standard_signature_verifies_with_both_secrets_during_rotation() {
        let mut w = webhook(Profile::Standard);
        let now = Utc::now();
        w.previous_secret = Some(Secret::generate());
        w.previous_secret_expires_at = Some(now + chrono::Duration::hours(24));
        let ev = event();
        let signed = for_event(&w, &ev, None, now).unwrap();
        let h = |n: &str| {
            signed
                .headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        let sig = h("webhook-signature").unwrap();
        assert_eq!(sig.split(' ').count(), 2);
        for secret in [&w.secret, w.previous_secret.as_ref().unwrap()] {
            signing::standard::verify(
                &[Secret::standard(secret).unwrap()],
                h("webhook-id"),
                h("webhook-timestamp"),
                Some(sig),
                &signed.body,
                now.timestamp(),
                300,
            )
            .unwrap();
        }
        // Expired: one signature only.
        w.previous_secret_expires_at = Some(now - chrono::Duration::seconds(1));
        let signed = for_event(&w, &ev, None, now).unwrap();
        let sig = &signed
            .headers
            .iter()
            .find(|(k, _)| *k == "webhook-signature")
            .unwrap()
            .1;
        assert_eq!(sig.split(' ').count(), 1);
    }

    #[test]
    fn ping_has_the_envelope_shape() {
        let w = webhook(Profile::Standard);
        let signed = for_ping(&w, "evt_ping", Utc::now()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(v["type"], "ping");
        assert_eq!(v["data"]["webhook_id"], "wh_1");
    }
}
