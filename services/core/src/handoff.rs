//! The body of the SDR hand-off webhook that `hookline actions` sends for an
//! `sdr_task` (schema: `proto-schemas/sdr_task.v1.json`).
//!
//! It is assembled when the task is sent, not when the rule fired, so the
//! sales team sees the contact's profile, score and touches as they are at
//! hand-off time.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One `sdr_task`, handed to the sales team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SdrHandoff {
    /// Always `sdr_task`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `automation_tasks.id`; the `webhook-id` header is `task_<id>`.
    pub task_id: i64,
    /// The automation rule that fired.
    pub rule: String,
    /// The event that fired it.
    pub event_id: String,
    /// The contact's identity on the CRM side (`contact_id`, else email).
    pub contact_key: String,
    /// Who to call.
    pub contact: SdrContact,
    /// The contact's engagement score at hand-off time (or when the rule
    /// fired, if engagement-score has not scored them yet).
    pub score: Option<i64>,
    /// The threshold the rule fires at, for threshold rules.
    pub threshold: Option<i64>,
    /// The contact's most recent stored events, newest first.
    pub last_touches: Vec<Touch>,
}

/// The contact's profile as the CRM knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SdrContact {
    /// The RC's contact id.
    pub contact_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// One stored event of the contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Touch {
    /// The event id.
    pub event_id: String,
    /// `page_view`, `form_submission`, …
    pub event: String,
    /// `event`, `resource` or `news`.
    pub content_type: Option<String>,
    /// The content's id.
    pub content_id: Option<String>,
    /// The content's slug.
    pub slug: Option<String>,
    /// The content's title.
    pub title: Option<String>,
    /// The page URL.
    pub url: Option<String>,
    /// When it happened (RFC 3339, milliseconds, UTC).
    #[serde(with = "crate::event::rfc3339_millis")]
    #[schemars(with = "DateTime<Utc>")]
    pub at: DateTime<Utc>,
}
