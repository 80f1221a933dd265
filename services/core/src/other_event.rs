//! Events of types hookline does not model (`order.created`,
//! `booking.created`, `page.published`, …), kept as received.
//!
//! A sender may deliver any type; refusing the ones hookline has no schema
//! for would lose them (the sender retries, then gives up), so crm-ingest
//! publishes them on their own subjects under `crm.events.other.` and the
//! event store keeps each in `other_events`. They never become an
//! [`crate::Event`]: the typed consumers (score, automation) cannot
//! mistake one for a page view or a form, and a consumer that wants them
//! opts in through `other_event_types` (crm-consumers' `runner::Consumer`).

use crate::event::{EventId, rfc3339_millis};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest type name accepted.
pub const MAX_TYPE_LEN: usize = 64;

/// An event of a type hookline does not model, as crm-ingest received it.
/// This is the message on `crm.events.other.<type>` and the row of
/// `other_events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherEvent {
    /// The sender's id (the body's `id`, the `webhook-id`), else one derived
    /// from the signed body.
    pub id: EventId,
    /// The type exactly as sent (e.g. `order.created`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Which ingest path took it: `resources-centre` or `optimocms`.
    pub source: String,
    /// When crm-ingest accepted it (RFC 3339, milliseconds, UTC).
    #[serde(with = "rfc3339_millis")]
    #[schemars(with = "DateTime<Utc>")]
    pub received_at: DateTime<Utc>,
    /// The verified body as received (a legacy body's `api_key` removed).
    pub payload: Map<String, Value>,
}

/// Whether `kind` is a type name an other-event may carry: 1 to
/// [`MAX_TYPE_LEN`] printable ASCII characters, no spaces.
pub fn is_well_formed(kind: &str) -> bool {
    !kind.is_empty() && kind.len() <= MAX_TYPE_LEN && kind.bytes().all(|b| b.is_ascii_graphic())
}

/// The subject token of a type: every character other than letters,
/// digits, `-` and `_` becomes `_` (`order.created` → `order_created`), so
/// a type can never add subject levels or wildcards.
pub fn subject_token(kind: &str) -> String {
    kind.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether a consumer asking for `wanted` types (`"*"` for all) wants `kind`.
pub fn wants(wanted: &[&str], kind: &str) -> bool {
    wanted.iter().any(|w| *w == "*" || *w == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_tokens_cannot_escape_a_level() {
        assert!(is_well_formed("order.created"));
        assert!(is_well_formed("page.published"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("has space"));
        assert!(!is_well_formed(&"x".repeat(65)));
        assert_eq!(subject_token("order.created"), "order_created");
        assert_eq!(subject_token("a.*.>"), "a____");
        assert_eq!(subject_token("site-published_2"), "site-published_2");
    }

    #[test]
    fn wildcard_and_exact_wants() {
        assert!(wants(&["*"], "order.created"));
        assert!(wants(&["order.created"], "order.created"));
        assert!(!wants(&["order.created"], "booking.created"));
        assert!(!wants(&[], "order.created"));
    }
}
