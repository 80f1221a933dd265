//! `automation`: rules from `crm.automation` create rows in
//! `automation_tasks` for workers to act on.
//!
//! - An **event rule** (`event_type`, optionally `form_id`) fires on every
//!   matching event of an identified contact: at most once per (rule, event).
//! - A **threshold rule** (`score_threshold`) fires once per contact, on the
//!   first event after which the contact's score is at or above the
//!   threshold: at most once per (rule, contact).
//!
//! ## Where the score comes from
//!
//! engagement-score and automation are separate consumers with separate
//! durables: either may be ahead of the other, by a batch or by an outage.
//! Reading `engagement_scores` here would make "did the score cross?" depend
//! on that race (a task fired early, late, or never if automation ran first
//! and no later event came). So automation keeps its own running score per
//! contact in `automation_contact_scores`, computed with the same
//! [`crate::scoring::points`] and updated in the same transaction as the
//! tasks. Both tables apply each event exactly once, so after all events they
//! hold the same numbers, and whether a threshold task exists depends only on
//! the set of events, not on which consumer ran first.
//!
//! With non-negative points (the defaults) scores only grow, so a threshold
//! task exists exactly when the final score reaches the threshold. The
//! task's `event_id` is the event that took the score over in automation's
//! processing order. A rule added later fires for a contact already above
//! its threshold on that contact's next event.
//!
//! Anonymous events (no `contact_id`, no email) create no task: there is no
//! one to thank or call.

mod batch;

use crate::identity::{self, Contact};
use crate::runner::{Consumer, HandlerError};
use async_trait::async_trait;
use hookline_core::config::{AutomationRule, ScoringConfig};
use hookline_core::event::rfc3339_millis;
use hookline_core::{Config, Event, EventData, EventType};
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::collections::HashSet;

/// The `automation` consumer.
#[derive(Debug, Clone)]
pub struct Automation {
    rules: Vec<AutomationRule>,
    scoring: ScoringConfig,
}

/// A rule set that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("crm.automation: {0}")]
pub struct RuleError(String);

impl Automation {
    /// The consumer with the rules and scoring of `config` (check them first
    /// with [`validate`]).
    pub fn new(config: &Config) -> Self {
        Self {
            rules: config.crm.automation.clone(),
            scoring: config.crm.scoring.clone(),
        }
    }
}

/// Checks what config validation does not: unique, non-empty names and
/// tasks, and `form_id` only on form rules.
pub fn validate(rules: &[AutomationRule]) -> Result<(), RuleError> {
    let mut names = HashSet::new();
    for rule in rules {
        if rule.name.trim().is_empty() || rule.task.trim().is_empty() {
            return Err(RuleError(
                "every rule needs a non-empty `name` and `task`".into(),
            ));
        }
        if !names.insert(rule.name.as_str()) {
            return Err(RuleError(format!(
                "two rules are named {:?}; names must be unique",
                rule.name
            )));
        }
        if rule.event_type.is_some() == rule.score_threshold.is_some() {
            return Err(RuleError(format!(
                "rule {:?} needs exactly one of `event_type` or `score_threshold`",
                rule.name
            )));
        }
        if let Some(kind) = rule.event_type
            && !EventType::ENGAGEMENT.contains(&kind)
        {
            return Err(RuleError(format!(
                "rule {:?}: `event_type` must be a visitor's event (page_view or form_submission)",
                rule.name
            )));
        }
        if rule.form_id.is_some() && rule.event_type != Some(EventType::FormSubmission) {
            return Err(RuleError(format!(
                "rule {:?}: `form_id` needs `event_type = \"form_submission\"`",
                rule.name
            )));
        }
    }
    Ok(())
}

fn matches(rule: &AutomationRule, event: &Event) -> bool {
    if rule.event_type != Some(event.event_type()) {
        return false;
    }
    match (&rule.form_id, &event.data) {
        (None, _) => true,
        (Some(want), EventData::FormSubmission(f)) => f.form_id == *want,
        (Some(_), EventData::PageView(_) | EventData::ContentPublished(_)) => false,
    }
}

#[async_trait]
impl Consumer for Automation {
    fn name(&self) -> &'static str {
        "automation"
    }

    fn event_types(&self) -> &[EventType] {
        // Every visitor event: each one moves the score threshold rules
        // watch (a content announcement names no contact).
        &EventType::ENGAGEMENT
    }

    /// One event is a batch of one: one SQL path for both.
    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        self.apply_batch(std::slice::from_ref(&event), tx).await
    }

    /// A whole batch in four statements (see [`batch`]).
    async fn handle_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        self.apply_batch(events, tx).await
    }
}

/// A contact as automation's own score view knows them.
struct ScoreView {
    score: i64,
    contact_id: Option<String>,
    email: Option<String>,
}

/// What a worker needs to act on an event rule's task.
fn event_payload(rule: &AutomationRule, contact: &Contact, event: &Event) -> Value {
    let mut payload = json!({
        "rule": rule.name,
        "task": rule.task,
        "event_id": event.id,
        "event_type": event.event_type(),
        "occurred_at": rfc3339_millis::format(&event.occurred_at),
        "contact_key": contact.key,
        "contact_id": contact.contact_id,
        "email": contact.email,
    });
    let extra = match &event.data {
        EventData::PageView(p) => json!({
            "content_type": p.content_type.as_str(),
            "content_id": p.content_id,
            "slug": p.slug,
            "title": p.title,
            "url": p.url,
        }),
        EventData::FormSubmission(f) => {
            let profile = identity::profile(f);
            json!({
                "form_id": f.form_id,
                "content_type": f.content_type.map(|t| t.as_str()),
                "content_id": f.content_id,
                "slug": f.slug,
                "first_name": profile.first_name,
                "last_name": profile.last_name,
                "fields": f.fields,
            })
        }
        // Never reaches automation (not a visitor's event).
        EventData::ContentPublished(_) => json!({}),
    };
    if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
        p.extend(e);
    }
    payload
}

/// What a worker needs to act on a threshold rule's task.
fn threshold_payload(
    rule: &AutomationRule,
    contact: &Contact,
    view: &ScoreView,
    threshold: i64,
    event: &Event,
) -> Value {
    json!({
        "rule": rule.name,
        "task": rule.task,
        "contact_key": contact.key,
        "contact_id": view.contact_id,
        "email": view.email,
        "score": view.score,
        "threshold": threshold,
        "event_id": event.id,
        "event_type": event.event_type(),
        "reached_at": rfc3339_millis::format(&event.occurred_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> AutomationRule {
        AutomationRule {
            name: name.into(),
            task: "t".into(),
            event_type: Some(EventType::FormSubmission),
            form_id: None,
            score_threshold: None,
        }
    }

    #[test]
    fn default_rules_are_valid() {
        validate(&Config::default().crm.automation).unwrap();
    }

    #[test]
    fn bad_rule_sets_are_refused_with_the_rule_named() {
        assert!(validate(&[rule("a"), rule("a")]).is_err());
        let mut r = rule("views");
        r.event_type = Some(EventType::PageView);
        r.form_id = Some("frm_1".into());
        let err = validate(&[r]).unwrap_err().to_string();
        assert!(err.contains("views"), "{err}");
        let mut r = rule("both");
        r.score_threshold = Some(5);
        assert!(validate(&[r]).is_err());
    }
}
