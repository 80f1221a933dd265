//! The event envelope and the event types.
//!
//! An event id is minted once, at the edge, and travels unchanged through
//! every stream and webhook: it is the idempotency key of every effect
//! downstream. The same types describe the raw form the edge publishes (with
//! the visitor block used for dedupe) and the form the CRM receives (without
//! it), so a field can never be added on one side and forgotten on the other.

pub use crate::content::ContentPublished;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest event id accepted from outside (ids minted here are 30 chars).
pub const MAX_EVENT_ID_LEN: usize = 128;

/// An event id: `evt_` + a UUIDv7 in Crockford base32 (26 chars, sortable by
/// time). Ids arriving from other senders (e.g. a `webhook-id` header) are
/// kept as given if they are short, printable ASCII.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct EventId(String);

/// An event id that is empty, too long or has characters outside printable ASCII.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("event id must be 1..={MAX_EVENT_ID_LEN} printable ASCII characters without spaces")]
pub struct InvalidEventId;

impl EventId {
    /// Mints a new id for an event entering the system now.
    pub fn new() -> Self {
        Self::from_uuid(uuid::Uuid::now_v7())
    }

    /// The id for a given UUID (tests and derived ids).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(format!("evt_{}", crockford(id.as_u128())))
    }

    /// Validates an id received from outside.
    pub fn parse(s: &str) -> Result<Self, InvalidEventId> {
        let ok =
            !s.is_empty() && s.len() <= MAX_EVENT_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidEventId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventId {
    type Error = InvalidEventId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> Self {
        id.0
    }
}

/// `v` in Crockford base32, 26 characters, most significant first (so ids
/// minted from UUIDv7s sort by time). Shared by every id hookline mints.
pub(crate) fn crockford(mut v: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// The kinds of event hookline carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A visitor viewed a content page.
    PageView,
    /// A visitor submitted a form.
    FormSubmission,
    /// The site published or changed a content item (see [`crate::content`]).
    ContentPublished,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 3] = [
        EventType::PageView,
        EventType::FormSubmission,
        EventType::ContentPublished,
    ];

    /// What a visitor does (page views, forms), as opposed to what the site
    /// announces (`content_published`): the types engagement scoring and
    /// automation rules count.
    pub const ENGAGEMENT: [EventType; 2] = [EventType::PageView, EventType::FormSubmission];

    /// The wire name (`page_view`, `form_submission`, `content_published`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::FormSubmission => "form_submission",
            EventType::ContentPublished => "content_published",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of Resources Centre page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    /// An event page (`/event/{slug}`).
    Event,
    /// A resource page (`/resource/{slug}`).
    Resource,
    /// A news page (`/news/{slug}`).
    News,
}

impl ContentType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Event => "event",
            ContentType::Resource => "resource",
            ContentType::News => "news",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [ContentType::Event, ContentType::Resource, ContentType::News]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// A page view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PageView {
    /// What kind of page was viewed.
    pub content_type: ContentType,
    /// The content's id in the Resources Centre.
    pub content_id: String,
    /// The page's slug.
    pub slug: String,
    /// The page title.
    #[serde(default)]
    pub title: Option<String>,
    /// The community the content belongs to.
    #[serde(default)]
    pub community: Option<String>,
    /// The CRM contact, when the visitor is known.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The page URL.
    #[serde(default)]
    pub url: Option<String>,
    /// SHA-256 of the page's normalised fields, when the site sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_checksum: Option<String>,
    /// The campaign that brought the visitor (`utm_campaign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// `utm_source`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// `utm_medium`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
}

/// A form submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FormSubmission {
    /// The form's id.
    pub form_id: String,
    /// The kind of page the form sat on, if any.
    #[serde(default)]
    pub content_type: Option<ContentType>,
    /// The content's id, if any.
    #[serde(default)]
    pub content_id: Option<String>,
    /// The page's slug, if any.
    #[serde(default)]
    pub slug: Option<String>,
    /// The CRM contact, when known.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The submitter's email, when given.
    #[serde(default)]
    pub email: Option<String>,
    /// The submitted fields (first_name, company, utm_campaign, …).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// SHA-256 of the page's normalised fields, when the site sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_checksum: Option<String>,
    /// The sender's site (OptimoCMS `siteId`), apart from the fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
}

/// An event's payload, tagged by its type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventData {
    /// `"type": "page_view"`.
    PageView(PageView),
    /// `"type": "form_submission"`.
    FormSubmission(FormSubmission),
    /// `"type": "content_published"`.
    ContentPublished(ContentPublished),
}

impl EventData {
    /// The payload's event type.
    pub fn event_type(&self) -> EventType {
        match self {
            EventData::PageView(_) => EventType::PageView,
            EventData::FormSubmission(_) => EventType::FormSubmission,
            EventData::ContentPublished(_) => EventType::ContentPublished,
        }
    }

    /// The CRM contact named by the event, if any.
    pub fn contact_id(&self) -> Option<&str> {
        match self {
            EventData::PageView(p) => p.contact_id.as_deref(),
            EventData::FormSubmission(f) => f.contact_id.as_deref(),
            EventData::ContentPublished(_) => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// The content item and the checksum a visitor saw, for the drift check:
    /// a page view's, or a form's when it names its page; `None` when the
    /// event carries no checksum (or is not a visitor's).
    pub fn seen_checksum(&self) -> Option<(ContentType, &str, &str)> {
        let (kind, id, sum) = match self {
            EventData::PageView(p) => (
                Some(p.content_type),
                Some(p.content_id.as_str()),
                p.content_checksum.as_deref(),
            ),
            EventData::FormSubmission(f) => (
                f.content_type,
                f.content_id.as_deref(),
                f.content_checksum.as_deref(),
            ),
            EventData::ContentPublished(_) => (None, None, None),
        };
        let sum = sum.map(str::trim).filter(|s| !s.is_empty())?;
        Some((kind?, id.filter(|i| !i.is_empty())?, sum))
    }
}

/// The envelope every hop carries: `{id, type, occurred_at, data}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Assigned once at the edge; never changes.
    pub id: EventId,
    /// When the edge accepted the event (RFC 3339, milliseconds, UTC).
    #[serde(with = "rfc3339_millis")]
    #[schemars(with = "DateTime<Utc>")]
    pub occurred_at: DateTime<Utc>,
    /// The type and payload.
    #[serde(flatten)]
    pub data: EventData,
}

impl Event {
    /// A new event, with a fresh id, occurring now.
    pub fn new(data: EventData) -> Self {
        Self {
            id: EventId::new(),
            // Milliseconds, like the wire format, so a round trip is exact.
            occurred_at: Utc::now().trunc_subsecs(3),
            data,
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}

/// Who did it, in the privacy-safe form dedupe needs. Only on raw events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Visitor {
    /// Keyed HMAC of IP and user agent with a daily salt; absent in GDPR mode
    /// or when the visitor is known by `contact_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The user agent looks like a crawler.
    #[serde(default)]
    pub bot: bool,
}

/// What the edge publishes on `rc.raw.*`: the event plus the visitor block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RawEvent {
    /// The event as it will travel on.
    #[serde(flatten)]
    pub event: Event,
    /// Used by dedupe, never forwarded.
    pub visitor: Visitor,
}

/// RFC 3339 with milliseconds and `Z`, the legacy Node app's `toISOString()` format.
pub mod rfc3339_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    /// Formats a timestamp as `2026-10-13T07:58:00.000Z`.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Serde serializer.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    /// Serde deserializer (any RFC 3339 timestamp).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod new;

#[cfg(test)]
mod tests;
