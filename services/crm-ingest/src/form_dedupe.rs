//! One form, two senders, one event.
//!
//! A site may send the same form submission to the CRM twice: through
//! hookline (rc-edge → dedupe → webhook-out, carrying the edge's `evt_` id)
//! and directly from its own server in the legacy body (no id, so crm-ingest
//! derives one) or from another sender. The ids differ, so id-based
//! idempotency alone would count the form twice.
//!
//! Before a form is published, crm-ingest computes its *fingerprint*: a
//! SHA-256 over the form id, the identity (the `contact_id`, else the
//! trimmed, lower-cased email) and the submitted fields (a `BTreeMap`, so
//! the same fields always serialise to the same text). It then `create`s
//! the fingerprint in the `crm_form_dedupe` KV bucket with the event's id as
//! the value. The bucket's max age is `crm.form_dedupe_window`, so the
//! window runs from the first copy (nats-server 2.9 has no per-key TTL,
//! hence one bucket for one window).
//!
//! - The create succeeds: this copy is the first; it is published under its
//!   own id.
//! - The key exists: the copy is published under the id stored there, the
//!   first copy's. `CRM_EVENTS` drops it as a duplicate (`Nats-Msg-Id`)
//!   inside the stream's duplicate window, and every consumer's
//!   `processed_events` skips it after that. So there is one `content_events`
//!   row, one score increment and one task, whichever copy came first.
//!
//! Why a KV create and not a unique key in Postgres: crm-ingest has no
//! database (it answers after the PubAck), and the create is atomic across
//! any number of instances and survives restarts, as dedupe's claims do on
//! the RC side. Races: two instances creating the same key at once — one
//! wins, the other reads the winner's id. A crash between the create and the
//! publish is harmless: the first sender got no 200 and retries with the
//! same id, which finds its own id in the bucket; and if it never retries,
//! the second copy is published under the first id, so the form still
//! arrives once. A form with neither contact id nor email is not
//! fingerprinted (nothing says two such forms are the same person).

use async_nats::jetstream::kv::{self, CreateErrorKind};
use bytes::Bytes;
use hookline_core::event::{EventId, FormSubmission};
use sha2::{Digest, Sha256};

/// Domain separation of the fingerprint hash.
const NAMESPACE: &str = "hookline/crm-ingest/form-fingerprint/v1";

/// Creates retried when the key vanished between our create and our read
/// (its window ended in between).
const ATTEMPTS: usize = 4;

/// The bucket could not be used; the delivery is answered 503 and retried.
#[derive(Debug, thiserror::Error)]
pub enum FormDedupeError {
    /// Creating the key failed.
    #[error("form fingerprint create: {0}")]
    Create(#[from] kv::CreateError),
    /// Reading the first id failed.
    #[error("form fingerprint read: {0}")]
    Read(#[from] kv::EntryError),
    /// The key kept appearing and vanishing.
    #[error("form fingerprint kept changing; giving up for now")]
    Contended,
}

/// The form-fingerprint bucket shared by every crm-ingest instance.
#[derive(Clone)]
pub struct FormDedupe {
    store: kv::Store,
}

impl FormDedupe {
    /// Fingerprints go to `store` (the `crm_form_dedupe` bucket).
    pub fn new(store: kv::Store) -> Self {
        Self { store }
    }

    /// The id the form must be published under: `id` when it is the first
    /// copy inside the window (or a retry of the first copy), else the first
    /// copy's id.
    pub async fn first_id(
        &self,
        form: &FormSubmission,
        id: &EventId,
    ) -> Result<EventId, FormDedupeError> {
        let Some(key) = fingerprint(form) else {
            return Ok(id.clone());
        };
        let value = Bytes::copy_from_slice(id.as_str().as_bytes());
        for _ in 0..ATTEMPTS {
            match self.store.create(&key, value.clone()).await {
                Ok(_) => return Ok(id.clone()),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                    if let Some(first) = self.store.get(&key).await? {
                        // Only crm-ingest writes here; a value that is not an
                        // id cannot occur, and then this copy keeps its own.
                        let first = String::from_utf8_lossy(&first);
                        return Ok(EventId::parse(&first).unwrap_or_else(|_| id.clone()));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(FormDedupeError::Contended)
    }
}

/// The form's fingerprint (hex SHA-256: a valid KV key of fixed size), or
/// `None` when the form names no one.
pub fn fingerprint(form: &FormSubmission) -> Option<String> {
    let blank = |s: &&str| s.is_empty();
    let identity = match form.contact_id.as_deref().map(str::trim) {
        Some(contact) if !blank(&contact) => ("contact", contact.to_string()),
        _ => {
            let email = form.email.as_deref().map(str::trim).filter(|e| !blank(e))?;
            ("email", email.to_lowercase())
        }
    };
    // A JSON array cannot be read two ways: no part runs into the next.
    let text = serde_json::to_vec(&(NAMESPACE, &form.form_id, identity, &form.fields)).ok()?;
    Some(format!("{:x}", Sha256::digest(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(contact: Option<&str>, email: Option<&str>, fields: &[(&str, &str)]) -> FormSubmission {
        FormSubmission::new("frm_1", contact, email, fields)
    }

    #[test]
    fn same_form_identity_and_fields_same_fingerprint() {
        let a = fingerprint(&form(
            None,
            Some("Ann@Example.com "),
            &[("a", "1"), ("b", "2")],
        ));
        let b = fingerprint(&form(
            None,
            Some("ann@example.com"),
            &[("b", "2"), ("a", "1")],
        ));
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(a.unwrap().len(), 64);
    }

    #[test]
    fn contact_id_wins_over_email_and_differences_count() {
        let base = fingerprint(&form(Some("cnt_1"), Some("a@x.io"), &[("a", "1")]));
        assert_eq!(
            base,
            fingerprint(&form(Some("cnt_1"), Some("b@x.io"), &[("a", "1")]))
        );
        assert_ne!(
            base,
            fingerprint(&form(Some("cnt_2"), Some("a@x.io"), &[("a", "1")]))
        );
        assert_ne!(base, fingerprint(&form(Some("cnt_1"), None, &[("a", "2")])));
        let mut other = form(Some("cnt_1"), None, &[("a", "1")]);
        other.form_id = "frm_2".into();
        assert_ne!(base, fingerprint(&other));
        // A contact id that reads like an email is still not that email.
        assert_ne!(
            fingerprint(&form(Some("a@x.io"), None, &[])),
            fingerprint(&form(None, Some("a@x.io"), &[]))
        );
    }

    #[test]
    fn anonymous_forms_are_not_fingerprinted() {
        assert_eq!(fingerprint(&form(None, None, &[])), None);
        assert_eq!(fingerprint(&form(Some(" "), Some(""), &[])), None);
    }
}
