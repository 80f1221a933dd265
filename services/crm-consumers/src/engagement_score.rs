//! `engagement-score`: a running score per contact, and campaign touches.
//!
//! Each identified event adds its points (see [`crate::scoring`]) and bumps
//! the page-view or form counter of its contact; `last_event_at` only moves
//! forward. An event carrying `utm_campaign` (page view data or a form
//! field) records a touch of that campaign. Sums, `GREATEST` and `LEAST`
//! make the end state independent of the order events arrive in.
//! Anonymous events are not scored.

use crate::identity::{self, Contact};
use crate::scoring;
use async_trait::async_trait;
use hookline_core::config::ScoringConfig;
use hookline_core::runner::{Consumer, HandlerError};
use hookline_core::{Config, Event, EventType};
use sqlx::PgConnection;

/// The `engagement-score` consumer.
#[derive(Debug, Clone)]
pub struct EngagementScore {
    scoring: ScoringConfig,
}

impl EngagementScore {
    /// The consumer with `crm.scoring` from `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            scoring: config.crm.scoring.clone(),
        }
    }
}

#[async_trait]
impl Consumer for EngagementScore {
    fn name(&self) -> &'static str {
        "engagement-score"
    }

    fn event_types(&self) -> &[EventType] {
        &EventType::ALL
    }

    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        let Some(contact) = identity::contact(event) else {
            return Ok(());
        };
        add_points(tx, &contact, event, scoring::points(&self.scoring, event)).await?;
        if let Some(campaign) = identity::utm_campaign(event) {
            touch_campaign(tx, &contact.key, campaign, event).await?;
        }
        Ok(())
    }
}

async fn add_points(
    tx: &mut PgConnection,
    contact: &Contact,
    event: &Event,
    points: i64,
) -> Result<(), sqlx::Error> {
    let (views, forms) = match event.event_type() {
        EventType::PageView => (1_i64, 0_i64),
        EventType::FormSubmission => (0, 1),
    };
    sqlx::query(
        "INSERT INTO engagement_scores AS s \
         (contact_key, contact_id, email, score, page_views, form_submissions, last_event_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (contact_key) DO UPDATE SET \
           contact_id       = COALESCE(EXCLUDED.contact_id, s.contact_id), \
           email            = COALESCE(EXCLUDED.email, s.email), \
           score            = s.score + EXCLUDED.score, \
           page_views       = s.page_views + EXCLUDED.page_views, \
           form_submissions = s.form_submissions + EXCLUDED.form_submissions, \
           last_event_at    = GREATEST(s.last_event_at, EXCLUDED.last_event_at), \
           updated_at       = now()",
    )
    .bind(&contact.key)
    .bind(&contact.contact_id)
    .bind(&contact.email)
    .bind(points)
    .bind(views)
    .bind(forms)
    .bind(event.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn touch_campaign(
    tx: &mut PgConnection,
    contact_key: &str,
    campaign: &str,
    event: &Event,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO campaign_touches AS t \
         (contact_key, utm_campaign, first_touch_at, last_touch_at, touches) \
         VALUES ($1, $2, $3, $3, 1) \
         ON CONFLICT (contact_key, utm_campaign) DO UPDATE SET \
           first_touch_at = LEAST(t.first_touch_at, EXCLUDED.first_touch_at), \
           last_touch_at  = GREATEST(t.last_touch_at, EXCLUDED.last_touch_at), \
           touches        = t.touches + 1",
    )
    .bind(contact_key)
    .bind(campaign)
    .bind(event.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
