//! Stream, subject, bucket and consumer names under `nats.prefix`.
//!
//! Every name a service uses comes from here, so a prefix isolates a whole
//! stack (or a test) on a shared NATS server: streams become `P_RC_RAW`,
//! subjects `P.rc.raw.page_view`, buckets `P_rc_dedupe_page_view`.

use crate::event::EventType;

/// Names for one stack, derived from its prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

/// Stream of raw events published by the edge.
pub const RC_RAW: &str = "RC_RAW";
/// Stream of unique events published by dedupe.
pub const RC_EVENTS: &str = "RC_EVENTS";
/// Dead letters of webhook-out, one subject per webhook.
pub const RC_DLQ: &str = "RC_DLQ";
/// Stream of verified deliveries published by crm-ingest.
pub const CRM_EVENTS: &str = "CRM_EVENTS";
/// Dead letters of the CRM consumers, one subject per consumer.
pub const CRM_DLQ: &str = "CRM_DLQ";

/// Base of the subjects of events hookline does not model, in `CRM_EVENTS`.
pub const CRM_OTHER: &str = "crm.events.other.";

impl Names {
    /// Names under `prefix` (empty: the plain names, `RC_RAW`, `rc.raw.page_view`, …). The prefix
    /// must already be validated (letters, digits, `_` and `-`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix, possibly empty.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A stream name, e.g. `stream(RC_RAW)`.
    pub fn stream(&self, base: &str) -> String {
        if self.prefix.is_empty() {
            base.to_string()
        } else {
            format!("{}_{base}", self.prefix)
        }
    }

    /// A subject, e.g. `subject("rc.raw.page_view")`.
    pub fn subject(&self, base: &str) -> String {
        if self.prefix.is_empty() {
            base.to_string()
        } else {
            format!("{}.{base}", self.prefix)
        }
    }

    /// A KV bucket name, e.g. `bucket("rc_dedupe_page_view")`.
    pub fn bucket(&self, base: &str) -> String {
        self.stream(base)
    }

    /// `rc.raw.<type>`.
    pub fn raw_subject(&self, kind: EventType) -> String {
        self.subject(&format!("rc.raw.{}", kind.as_str()))
    }

    /// `rc.events.<type>`.
    pub fn rc_event_subject(&self, kind: EventType) -> String {
        self.subject(&format!("rc.events.{}", kind.as_str()))
    }

    /// `crm.events.<type>`.
    pub fn crm_event_subject(&self, kind: EventType) -> String {
        self.subject(&format!("crm.events.{}", kind.as_str()))
    }

    /// `crm.events.other.<type token>`: an event of a type hookline does not
    /// model (see [`crate::other_event::subject_token`]).
    pub fn crm_other_subject(&self, kind: &str) -> String {
        self.subject(&format!(
            "{CRM_OTHER}{}",
            crate::other_event::subject_token(kind)
        ))
    }

    /// Whether `subject` carries an other-type event.
    pub fn is_crm_other_subject(&self, subject: &str) -> bool {
        self.unprefixed(subject).starts_with(CRM_OTHER)
    }

    /// `rc.dlq.<webhook id>`.
    pub fn rc_dlq_subject(&self, webhook_id: &str) -> String {
        self.subject(&format!("rc.dlq.{webhook_id}"))
    }

    /// `crm.dlq.<consumer>`.
    pub fn crm_dlq_subject(&self, consumer: &str) -> String {
        self.subject(&format!("crm.dlq.{consumer}"))
    }

    /// The dedupe bucket for one event type: `rc_dedupe_<type>`.
    pub fn dedupe_bucket(&self, kind: EventType) -> String {
        self.bucket(&format!("rc_dedupe_{}", kind.as_str()))
    }

    /// crm-ingest's bucket of form fingerprints: `crm_form_dedupe`. A form
    /// that reaches the CRM by two senders is published once, under the
    /// first one's event id (see crm-ingest's `form_dedupe`).
    pub fn crm_form_bucket(&self) -> String {
        self.bucket("crm_form_dedupe")
    }

    /// Every KV bucket of the stack.
    pub fn buckets(&self) -> Vec<String> {
        let mut all: Vec<String> = EventType::ALL
            .iter()
            .map(|k| self.dedupe_bucket(*k))
            .collect();
        all.push(self.crm_form_bucket());
        all
    }

    /// Strips the prefix from a subject, for matching on the base name.
    pub fn unprefixed<'a>(&self, subject: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            return subject;
        }
        subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_prefix_gives_design_names() {
        let n = Names::default();
        assert_eq!(n.stream(RC_RAW), "RC_RAW");
        assert_eq!(n.raw_subject(EventType::PageView), "rc.raw.page_view");
        assert_eq!(
            n.dedupe_bucket(EventType::FormSubmission),
            "rc_dedupe_form_submission"
        );
        assert_eq!(n.rc_dlq_subject("wh_1"), "rc.dlq.wh_1");
        assert_eq!(n.crm_form_bucket(), "crm_form_dedupe");
    }

    #[test]
    fn prefix_namespaces_everything() {
        let n = Names::new("t1");
        assert_eq!(n.stream(CRM_EVENTS), "t1_CRM_EVENTS");
        assert_eq!(
            n.crm_event_subject(EventType::PageView),
            "t1.crm.events.page_view"
        );
        assert_eq!(
            n.dedupe_bucket(EventType::PageView),
            "t1_rc_dedupe_page_view"
        );
        assert_eq!(n.crm_form_bucket(), "t1_crm_form_dedupe");
        assert_eq!(
            n.crm_other_subject("order.created"),
            "t1.crm.events.other.order_created"
        );
        assert!(n.is_crm_other_subject("t1.crm.events.other.order_created"));
        assert!(!n.is_crm_other_subject("t1.crm.events.page_view"));
        assert_eq!(
            n.unprefixed("t1.rc.events.page_view"),
            "rc.events.page_view"
        );
    }
}
