//! `content_published`: the Resources Centre telling the CRM which version
//! of a content item is live, and the checksum that names that version.
//!
//! The site's backend sends one whenever an item is published or changed.
//! The CRM keeps the latest checksum per item (`content_catalog`); a page
//! view or form that carries a different `content_checksum` shows a visitor
//! saw a version the CRM never synced ("drift").
//!
//! # The checksum
//!
//! `checksum` is the lowercase hex SHA-256 of the item's normalised fields,
//! computed by the site over whatever fields it publishes (at least
//! `content_type`, `content_id`, `slug` and `title`; usually the body,
//! summary, dates too). The same function must produce the page's
//! `content_checksum`, so [`checksum`] is the reference:
//!
//! 1. every field value: line endings become `\n`, then every run of
//!    whitespace (spaces, tabs, newlines) becomes one space, then leading and
//!    trailing whitespace is removed;
//! 2. field names are lowercased and trimmed; fields whose normalised value
//!    is empty are left out (so an absent field and an empty one agree);
//! 3. the fields are sorted by name and written as `name` `\t` `value` `\n`
//!    each, UTF-8 (after step 1 no value holds a tab or a newline, so the
//!    text is unambiguous);
//! 4. SHA-256 of those bytes, as 64 lowercase hex digits.
//!
//! hookline never recomputes it (it does not see the body); it checks the
//! shape — 64 hex digits — and stores it lowercased.

use crate::event::ContentType;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Hex digits in a checksum (SHA-256).
pub const CHECKSUM_HEX_LEN: usize = 64;

/// A content item was published or changed on the Resources Centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContentPublished {
    /// The kind of page.
    pub content_type: ContentType,
    /// The content's id in the Resources Centre.
    pub content_id: String,
    /// The page's slug (it may change between versions).
    pub slug: String,
    /// The page title.
    pub title: String,
    /// SHA-256 of the item's normalised fields, 64 hex digits (the
    /// normalisation: docs/adding-an-event-type.md).
    pub checksum: Checksum,
}

/// A content checksum: exactly 64 hex digits, kept lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Checksum(String);

impl JsonSchema for Checksum {
    fn schema_name() -> Cow<'static, str> {
        "Checksum".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9a-fA-F]{64}$",
            "description": "SHA-256 of the item's normalised fields, 64 hex digits"
        })
    }
}

/// A checksum that is not 64 hex digits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be the SHA-256 as {CHECKSUM_HEX_LEN} hex digits")]
pub struct InvalidChecksum;

impl Checksum {
    /// Validates and lowercases a checksum received from outside.
    pub fn parse(s: &str) -> Result<Self, InvalidChecksum> {
        let s = s.trim();
        if s.len() == CHECKSUM_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidChecksum)
        }
    }

    /// The checksum as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Checksum {
    type Error = InvalidChecksum;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Checksum> for String {
    fn from(c: Checksum) -> Self {
        c.0
    }
}

/// One field value, normalised (step 1 of the module docs).
pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The reference checksum of a content item's fields (module docs, steps
/// 1–4). Sites in other languages reproduce it from the docs; the test
/// vector below pins it.
pub fn checksum<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Checksum {
    let sorted: BTreeMap<String, String> = fields
        .into_iter()
        .map(|(name, value)| (name.trim().to_lowercase(), normalise(value)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let mut h = Sha256::new();
    for (name, value) in &sorted {
        h.update(name.as_bytes());
        h.update(b"\t");
        h.update(value.as_bytes());
        h.update(b"\n");
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Checksum(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_layout_but_not_words() {
        let a = checksum([
            ("content_type", "news"),
            ("content_id", "n1"),
            ("title", "  Hello\r\n  world "),
            ("summary", ""),
        ]);
        let b = checksum([
            ("Title", "Hello world"),
            ("content_id", "n1"),
            ("content_type", "news"),
        ]);
        assert_eq!(a, b);
        let c = checksum([
            ("content_type", "news"),
            ("content_id", "n1"),
            ("title", "Hello, world"),
        ]);
        assert_ne!(a, c);
    }

    #[test]
    fn test_vector() {
        // printf 'content_id\tn1\ncontent_type\tnews\ntitle\tHello world\n' | sha256sum
        let sum = checksum([
            ("content_type", "news"),
            ("content_id", "n1"),
            ("title", "Hello world"),
        ]);
        assert_eq!(sum.as_str().len(), CHECKSUM_HEX_LEN);
        assert_eq!(
            sum.as_str(),
            "145d93ac4341f63f9fe265859db9b03ccb7732f9d80ec5bb52eb21ae6d5d2d70"
        );
    }

    #[test]
    fn checksums_are_64_hex_digits_kept_lowercase() {
        let upper = "AB".repeat(32);
        assert_eq!(Checksum::parse(&upper).unwrap().as_str(), "ab".repeat(32));
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(Checksum::parse(bad), Err(InvalidChecksum), "{bad}");
        }
        let json = serde_json::json!("zz");
        assert!(serde_json::from_value::<Checksum>(json).is_err());
    }
}
