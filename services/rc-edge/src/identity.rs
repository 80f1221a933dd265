//! Verified visitor identities: a `contact_id` (or, on a form without one,
//! an email) is believed only when the site's server vouched for it.
//!
//! Anyone can send a page view, a pixel or a form carrying any `contact_id`
//! or `email`; believed blindly, that raises a stranger's score, creates
//! tasks and thank-you emails for addresses the sender does not own, and
//! overwrites contact details. With `edge.identity_secret` set, the claim
//! must come with `identity_sig`: the lowercase hex HMAC-SHA256, under that
//! secret, of the `contact_id`, else of the lower-cased email. The site's
//! server computes it when it renders the page (docs/identity.md).
//!
//! A missing or wrong signature does not refuse the event: it is counted,
//! anonymously. The claimed identity (`contact_id`; on forms also `email`
//! and the email fields the CRM would read one from) is dropped before the
//! event is published, and `hookline_edge_identity_dropped_total{type}`
//! counts it. Unset, every claim is believed (and start-up warns).

use hmac::{Hmac, Mac};
use hookline_core::event::{FormSubmission, PageView};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Form field names (compared lower-cased, letters and digits only) that
/// the CRM consumers read an email from when `email` is absent.
const EMAIL_FIELDS: &[&str] = &["email", "emailaddress", "mail"];

/// The longest `identity_sig` read (64 hex digits, with room for junk).
pub const MAX_SIG: usize = 128;

/// What the check made of an event's claimed identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No secret configured: the claim stands unchecked.
    Unchecked,
    /// Nothing was claimed.
    Anonymous,
    /// The signature matched.
    Verified,
    /// Missing or wrong signature: the claim was dropped.
    Dropped,
}

/// The `edge.identity_secret` key (none: claims are not checked).
#[derive(Clone)]
pub struct Identities(Option<HmacSha256>);

impl Identities {
    /// From `edge.identity_secret` (config validation has refused a short one).
    pub fn from_config(secret: Option<&str>) -> Self {
        Self(
            secret.map(|s| {
                HmacSha256::new_from_slice(s.as_bytes()).expect("HMAC takes any key length")
            }),
        )
    }

    /// The signature the site's server sends for `claimed`, if a secret is set.
    pub fn sign(&self, claimed: &str) -> Option<String> {
        let mut mac = self.0.clone()?;
        mac.update(claimed.as_bytes());
        Some(
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    fn verify(&self, mac: &HmacSha256, claimed: &str, sig: Option<&str>) -> bool {
        let Some(bytes) = sig.and_then(from_hex) else {
            return false;
        };
        let mut mac = mac.clone();
        mac.update(claimed.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    }

    /// Checks a page view's `contact_id` against `sig`, dropping it when it
    /// is not proven.
    pub fn page_view(&self, view: &mut PageView, sig: Option<&str>) -> Verdict {
        let Some(mac) = &self.0 else {
            return Verdict::Unchecked;
        };
        let Some(contact_id) = view.contact_id.as_deref() else {
            return Verdict::Anonymous;
        };
        if self.verify(mac, contact_id, sig) {
            return Verdict::Verified;
        }
        view.contact_id = None;
        dropped("page_view")
    }

    /// Checks a form's `contact_id` (else its lower-cased `email`) against
    /// `sig`; when it is not proven, the form loses `contact_id`, `email`
    /// and every email field.
    pub fn form(&self, form: &mut FormSubmission, sig: Option<&str>) -> Verdict {
        let Some(mac) = &self.0 else {
            return Verdict::Unchecked;
        };
        let claimed = match (&form.contact_id, &form.email) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(email)) => Some(email.trim().to_lowercase()),
            (None, None) => None,
        };
        let has_email_field = form.fields.keys().any(|k| is_email_field(k));
        match claimed {
            Some(c) if self.verify(mac, &c, sig) => return Verdict::Verified,
            None if !has_email_field => return Verdict::Anonymous,
            _ => {}
        }
        form.contact_id = None;
        form.email = None;
        form.fields.retain(|k, _| !is_email_field(k));
        dropped("form_submission")
    }
}

fn dropped(kind: &'static str) -> Verdict {
    metrics::counter!("hookline_edge_identity_dropped_total", "type" => kind).increment(1);
    Verdict::Dropped
}

fn is_email_field(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    EMAIL_FIELDS.contains(&norm.as_str())
}

/// 64 hex digits (either case) to 32 bytes.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() != 64 {
        return None;
    }
    s.chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SECRET: &str = "identity-secret-for-tests";

    fn view(contact: Option<&str>) -> PageView {
        serde_json::from_value(serde_json::json!({
            "content_type": "news", "content_id": "n1", "slug": "s", "contact_id": contact
        }))
        .unwrap()
    }

    fn form(contact: Option<&str>, email: Option<&str>, fields: &[(&str, &str)]) -> FormSubmission {
        let fields: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        serde_json::from_value(serde_json::json!({
            "form_id": "f1", "contact_id": contact, "email": email, "fields": fields
        }))
        .unwrap()
    }

    #[test]
    fn the_documented_signature_is_lowercase_hex_hmac_sha256() {
        // Computed with Python's hmac and Node's crypto (docs/identity.md).
        let ids = Identities::from_config(Some("secret-of-sixteen-bytes"));
        let sig = "d7b975da7d6ee4d7f15a23357f3a7a5fdd689eae68fb063779c782ec2ce54959";
        assert_eq!(ids.sign("cnt_1").as_deref(), Some(sig));
        let mut v = view(Some("cnt_1"));
        assert_eq!(ids.page_view(&mut v, Some(sig)), Verdict::Verified);
        assert_eq!(v.contact_id.as_deref(), Some("cnt_1"));
    }

    #[test]
    fn a_page_view_without_proof_loses_its_contact() {
        let ids = Identities::from_config(Some(SECRET));
        let other = ids.sign("cnt_other").unwrap();
        for sig in [None, Some("nope"), Some(other.as_str()), Some("")] {
            let mut v = view(Some("cnt_1"));
            assert_eq!(ids.page_view(&mut v, sig), Verdict::Dropped, "{sig:?}");
            assert_eq!(v.contact_id, None);
        }
        let mut v = view(None);
        assert_eq!(ids.page_view(&mut v, None), Verdict::Anonymous);
    }

    #[test]
    fn forms_sign_contact_id_else_lowercased_email() {
        let ids = Identities::from_config(Some(SECRET));
        let mut f = form(None, Some("Ann@Example.com"), &[("first_name", "Ann")]);
        let sig = ids.sign("ann@example.com").unwrap();
        assert_eq!(ids.form(&mut f, Some(&sig)), Verdict::Verified);
        assert_eq!(f.email.as_deref(), Some("Ann@Example.com"));

        let mut f = form(Some("cnt_1"), Some("ann@example.com"), &[]);
        assert_eq!(
            ids.form(&mut f, Some(&sig)),
            Verdict::Dropped,
            "signed the wrong value"
        );
        assert_eq!((f.contact_id, f.email), (None, None));

        let mut f = form(
            None,
            None,
            &[
                ("E-mail", "ann@example.com"),
                ("Mail", "x@y.z"),
                ("company", "Acme"),
            ],
        );
        assert_eq!(ids.form(&mut f, None), Verdict::Dropped);
        assert_eq!(f.fields.keys().collect::<Vec<_>>(), ["company"]);

        let mut f = form(None, None, &[("company", "Acme")]);
        assert_eq!(ids.form(&mut f, None), Verdict::Anonymous);
    }

    #[test]
    fn without_a_secret_claims_stand() {
        let ids = Identities::from_config(None);
        let mut v = view(Some("cnt_1"));
        assert_eq!(ids.page_view(&mut v, None), Verdict::Unchecked);
        assert_eq!(v.contact_id.as_deref(), Some("cnt_1"));
        assert_eq!(ids.sign("cnt_1"), None);
    }
}
