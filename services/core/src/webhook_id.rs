//! The id of a webhook (`wh_…`).
//!
//! webhook-out mints it when a webhook is created; it then names the
//! webhook's durable consumer (`webhook-out-<id>`), its dead-letter subject
//! (`rc.dlq.<id>`) and its redrive subject, and the `hookline` CLI and the
//! reconcile config refer to webhooks by it. Because it goes into NATS
//! subjects and consumer names, an id from outside is checked once, when it
//! is parsed, and is a [`WebhookId`] from then on. On the wire (JSON, SQL,
//! subjects) it is the plain text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest part after `wh_` accepted from outside (minted ids have 26).
const MAX_TAIL_LEN: usize = 64;

/// A webhook id: `wh_` + a UUIDv7 in Crockford base32 (sortable by creation
/// time, and free of `.`, `*`, `>` and `-`, so it is safe in NATS subjects
/// and consumer names and easy to split out of `webhook-out-<id>`).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    sqlx::Type,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
#[sqlx(transparent)]
pub struct WebhookId(String);

/// Text that is not `wh_` followed by 1 to 64 ASCII letters and digits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("webhook id must be wh_ followed by 1..={MAX_TAIL_LEN} ASCII letters and digits")]
pub struct InvalidWebhookId;

impl WebhookId {
    /// Mints the id of a webhook being created now.
    pub fn new() -> Self {
        Self(format!(
            "wh_{}",
            crate::event::crockford(uuid::Uuid::now_v7().as_u128())
        ))
    }

    /// Validates an id received from outside (a path, a flag, a subject).
    pub fn parse(s: &str) -> Result<Self, InvalidWebhookId> {
        if Self::is_valid(s) {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidWebhookId)
        }
    }

    /// Whether `s` looks like a webhook id.
    pub fn is_valid(s: &str) -> bool {
        s.strip_prefix("wh_").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= MAX_TAIL_LEN
                && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WebhookId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for WebhookId {
    type Err = InvalidWebhookId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for WebhookId {
    type Error = InvalidWebhookId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<WebhookId> for String {
    fn from(id: WebhookId) -> Self {
        id.0
    }
}

impl AsRef<str> for WebhookId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a set of ids be asked about an id still in text form (a dead
/// letter's consumer header); equal ids have equal text, so hashes agree.
impl std::borrow::Borrow<str> for WebhookId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for WebhookId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_prefixed_and_parse_back() {
        let id = WebhookId::new();
        assert!(
            id.as_str().starts_with("wh_") && id.as_str().len() == 29,
            "{id}"
        );
        assert_eq!(id.as_str().parse::<WebhookId>(), Ok(id));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["wh_", "wh_a.b", "evt_1", "wh_a-b", ""] {
            assert_eq!(WebhookId::parse(bad), Err(InvalidWebhookId), "{bad}");
        }
        let long = format!("wh_{}", "A".repeat(MAX_TAIL_LEN + 1));
        assert!(WebhookId::parse(&long).is_err());
    }

    #[test]
    fn json_is_the_plain_text_and_checked() {
        let id = WebhookId::parse("wh_ABC").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"wh_ABC\"");
        assert!(serde_json::from_str::<WebhookId>("\"wh_a.b\"").is_err());
    }
}
