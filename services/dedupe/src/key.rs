//! Which raw events are "the same": the dedupe key.
//!
//! - page_view: `content_id` + visitor (`contact_id`, else fingerprint).
//! - form_submission: `form_id` + identity (`contact_id`, else `email`, else
//!   fingerprint) + the submitted fields. (The rule names contact and email; a
//!   submitter with neither falls back to the fingerprint, so a double click
//!   by an anonymous visitor still collapses.)
//!
//! - content_published: content type + `content_id`, whose KV value is the
//!   latest checksum (see [`crate::latest`]): a repeat of the same checksum
//!   is dropped, a changed one always passes.
//!
//! The parts are length-prefixed and hashed with SHA-256 into a hex KV key:
//! KV keys allow only a few characters, a hash has a fixed size whatever the
//! input, and no part can run into the next. Identities carry a tag, so a
//! contact id can never collide with an email or a fingerprint.
//!
//! The edge publishes fingerprints as `<today>.<yesterday>` (two day keys, see
//! rc-edge's `fingerprint` module); an anonymous event therefore has a
//! current key and, across midnight, a previous one to look at.

use hookline_core::event::{ContentPublished, EventData, RawEvent};
use sha2::{Digest, Sha256};

/// What dedupe does with a raw event before touching the KV store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// A crawler: dropped and counted.
    Bot,
    /// Nothing identifies the visitor (GDPR mode without `contact_id`):
    /// forwarded as it is, since two such views cannot be told apart from
    /// two visitors.
    Unidentified,
    /// Deduplicated by these keys.
    Keyed(Keys),
    /// Deduplicated by the latest checksum remembered under `key`.
    Latest {
        /// The content item's KV key.
        key: String,
        /// The checksum this event announces.
        checksum: String,
    },
}

/// The KV keys of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The key claimed for this event.
    pub current: String,
    /// The same visitor's key under yesterday's fingerprint key, checked
    /// (never claimed) so a window can span the daily rotation.
    pub previous: Option<String>,
}

enum Identity<'a> {
    Contact(&'a str),
    Email(String),
    Fingerprint {
        current: &'a str,
        previous: Option<&'a str>,
    },
}

/// Classifies a raw event and derives its keys.
pub fn classify(raw: &RawEvent) -> Class {
    if let EventData::ContentPublished(c) = &raw.event.data {
        // Sent by the site's backend, never by a visitor: no bot check.
        return latest(c);
    }
    if raw.visitor.bot {
        return Class::Bot;
    }
    let fingerprint = || {
        raw.visitor
            .fingerprint
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| match f.split_once('.') {
                Some((current, previous)) => Identity::Fingerprint {
                    current,
                    previous: Some(previous).filter(|p| !p.is_empty()),
                },
                None => Identity::Fingerprint {
                    current: f,
                    previous: None,
                },
            })
    };
    let contact = raw.event.data.contact_id().map(Identity::Contact);
    match &raw.event.data {
        EventData::PageView(view) => {
            let Some(identity) = contact.or_else(fingerprint) else {
                return Class::Unidentified;
            };
            Class::Keyed(keys("page_view", &[&view.content_id], identity, None))
        }
        EventData::FormSubmission(form) => {
            let email = form
                .email
                .as_deref()
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .map(Identity::Email);
            let Some(identity) = contact.or(email).or_else(fingerprint) else {
                return Class::Unidentified;
            };
            // BTreeMap serialises in key order: the same fields, the same text.
            let fields = serde_json::to_string(&form.fields).unwrap_or_default();
            Class::Keyed(keys(
                "form_submission",
                &[&form.form_id],
                identity,
                Some(&fields),
            ))
        }
        EventData::ContentPublished(c) => latest(c),
    }
}

/// The key of one content item (not of its version: the checksum is the
/// value compared, so a revert to an earlier version passes too).
fn latest(c: &ContentPublished) -> Class {
    let mut h = Sha256::new();
    for p in ["hookline-dedupe-v1", "content_published"] {
        part(&mut h, p);
    }
    part(&mut h, c.content_type.as_str());
    part(&mut h, &c.content_id);
    Class::Latest {
        key: hex(&h.finalize()),
        checksum: c.checksum.as_str().to_string(),
    }
}

fn keys(kind: &str, subject: &[&str], identity: Identity<'_>, extra: Option<&str>) -> Keys {
    let hash = |tag: &str, id: &str| {
        let mut h = Sha256::new();
        part(&mut h, "hookline-dedupe-v1");
        part(&mut h, kind);
        for s in subject {
            part(&mut h, s);
        }
        part(&mut h, tag);
        part(&mut h, id);
        if let Some(extra) = extra {
            part(&mut h, extra);
        }
        hex(&h.finalize())
    };
    match identity {
        Identity::Contact(c) => Keys {
            current: hash("contact", c),
            previous: None,
        },
        Identity::Email(e) => Keys {
            current: hash("email", &e),
            previous: None,
        },
        Identity::Fingerprint { current, previous } => Keys {
            current: hash("fingerprint", current),
            previous: previous.map(|p| hash("fingerprint", p)),
        },
    }
}

fn part(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests;
