//! Engagement points of an event, from `crm.scoring`.
//!
//! One function, used by engagement-score for `engagement_scores` and by
//! automation for its threshold rules, so the two can never disagree.

use hookline_core::config::ScoringConfig;
use hookline_core::event::ContentType;
use hookline_core::{Event, EventData};

/// Points an event adds to its contact's score: the event type's points plus
/// the bonus of the content type it happened on (forms on no page get none).
pub fn points(scoring: &ScoringConfig, event: &Event) -> i64 {
    let (base, content_type) = match &event.data {
        EventData::PageView(p) => (scoring.page_view, Some(p.content_type)),
        EventData::FormSubmission(f) => (scoring.form_submission, f.content_type),
        // Not a visitor's event: it scores nothing.
        EventData::ContentPublished(_) => (0, None),
    };
    base + content_type.map_or(0, |t| bonus(scoring, t))
}

fn bonus(scoring: &ScoringConfig, content_type: ContentType) -> i64 {
    scoring
        .content_type
        .get(content_type.as_str())
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::{FormSubmission, PageView};

    #[test]
    fn defaults_add_type_points_and_content_bonus() {
        let s = ScoringConfig::default();
        let view = Event::new(EventData::PageView(PageView {
            content_type: ContentType::Resource,
            content_id: "r1".into(),
            slug: "s".into(),
            title: None,
            community: None,
            contact_id: None,
            url: None,
            content_checksum: None,
            utm_campaign: None,
            utm_source: None,
            utm_medium: None,
        }));
        assert_eq!(points(&s, &view), 1 + 3);
        let form = Event::new(EventData::FormSubmission(FormSubmission {
            form_id: "f".into(),
            content_type: None,
            content_id: None,
            slug: None,
            contact_id: None,
            email: None,
            fields: Default::default(),
            content_checksum: None,
            site_id: None,
        }));
        assert_eq!(points(&s, &form), 10);
    }
}
