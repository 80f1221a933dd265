//! `engagement-score`: a running score per contact, and campaign touches.
//!
//! Each identified event adds its points (see [`crate::scoring`]) and bumps
//! the page-view or form counter of its contact; `last_event_at` only moves
//! forward. An event carrying `utm_campaign` (page view data or a form
//! field) records a touch of that campaign. Sums, `GREATEST` and `LEAST`
//! make the end state independent of the order events arrive in.
//! Anonymous events are not scored.

use crate::identity::{self, Contact};
use crate::runner::{Consumer, HandlerError};
use crate::scoring;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hookline_core::config::ScoringConfig;
use hookline_core::{Config, Event, EventType};
use sqlx::PgConnection;
use std::collections::BTreeMap;

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
        // A visitor's events only: a content announcement names no contact.
        &EventType::ENGAGEMENT
    }

    /// One event is a batch of one: one SQL path for both.
    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        self.handle_batch(std::slice::from_ref(&event), tx).await
    }

    /// The batch folded per contact and per (contact, campaign) first —
    /// sums, latest non-null identity, earliest and latest times — then one
    /// upsert per table. One statement cannot update a row twice, and the
    /// folded rows give the state `handle` reaches event by event.
    async fn handle_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        // BTreeMaps: rows are written in key order, so two instances lock
        // them in the same order and cannot deadlock.
        let mut scores: BTreeMap<String, Fold> = BTreeMap::new();
        let mut touches: BTreeMap<(String, String), Touch> = BTreeMap::new();
        for event in events {
            let Some(contact) = identity::contact(event) else {
                continue;
            };
            let f = scores.entry(contact.key.clone()).or_insert_with(|| Fold {
                last_event_at: event.occurred_at,
                ..Fold::default()
            });
            f.add(&contact, event, scoring::points(&self.scoring, event));
            if let Some(campaign) = identity::utm_campaign(event) {
                touches
                    .entry((contact.key, campaign.to_string()))
                    .and_modify(|t| t.add(event.occurred_at))
                    .or_insert(Touch {
                        first: event.occurred_at,
                        last: event.occurred_at,
                        count: 1,
                    });
            }
        }
        if !scores.is_empty() {
            add_points_batch(tx, &scores).await?;
        }
        if !touches.is_empty() {
            touch_campaigns_batch(tx, &touches).await?;
        }
        Ok(())
    }
}

/// One contact's share of a batch.
#[derive(Default)]
struct Fold {
    contact_id: Option<String>,
    email: Option<String>,
    score: i64,
    page_views: i64,
    form_submissions: i64,
    last_event_at: DateTime<Utc>,
}

impl Fold {
    fn add(&mut self, contact: &Contact, event: &Event, points: i64) {
        // `COALESCE(EXCLUDED.x, s.x)` event after event: the latest non-null wins.
        if contact.contact_id.is_some() {
            self.contact_id.clone_from(&contact.contact_id);
        }
        if contact.email.is_some() {
            self.email.clone_from(&contact.email);
        }
        self.score += points;
        match event.event_type() {
            EventType::PageView => self.page_views += 1,
            EventType::FormSubmission => self.form_submissions += 1,
            EventType::ContentPublished => {}
        }
        self.last_event_at = self.last_event_at.max(event.occurred_at);
    }
}

/// One (contact, campaign)'s share of a batch.
struct Touch {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: i64,
}

impl Touch {
    fn add(&mut self, at: DateTime<Utc>) {
        self.first = self.first.min(at);
        self.last = self.last.max(at);
        self.count += 1;
    }
}

async fn add_points_batch(
    tx: &mut PgConnection,
    scores: &BTreeMap<String, Fold>,
) -> Result<(), sqlx::Error> {
    let keys: Vec<&str> = scores.keys().map(String::as_str).collect();
    let folds: Vec<&Fold> = scores.values().collect();
    let contact_ids: Vec<Option<&str>> = folds.iter().map(|f| f.contact_id.as_deref()).collect();
    let emails: Vec<Option<&str>> = folds.iter().map(|f| f.email.as_deref()).collect();
    let points: Vec<i64> = folds.iter().map(|f| f.score).collect();
    let views: Vec<i64> = folds.iter().map(|f| f.page_views).collect();
    let forms: Vec<i64> = folds.iter().map(|f| f.form_submissions).collect();
    let last: Vec<DateTime<Utc>> = folds.iter().map(|f| f.last_event_at).collect();
    sqlx::query(
        "INSERT INTO engagement_scores AS s \
         (contact_key, contact_id, email, score, page_views, form_submissions, last_event_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], \
           $6::int8[], $7::timestamptz[]) \
         ON CONFLICT (contact_key) DO UPDATE SET \
           contact_id       = COALESCE(EXCLUDED.contact_id, s.contact_id), \
           email            = COALESCE(EXCLUDED.email, s.email), \
           score            = s.score + EXCLUDED.score, \
           page_views       = s.page_views + EXCLUDED.page_views, \
           form_submissions = s.form_submissions + EXCLUDED.form_submissions, \
           last_event_at    = GREATEST(s.last_event_at, EXCLUDED.last_event_at), \
           updated_at       = now()",
    )
    .bind(&keys)
    .bind(&contact_ids)
    .bind(&emails)
    .bind(&points)
    .bind(&views)
    .bind(&forms)
    .bind(&last)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn touch_campaigns_batch(
    tx: &mut PgConnection,
    touches: &BTreeMap<(String, String), Touch>,
) -> Result<(), sqlx::Error> {
    let keys: Vec<&str> = touches.keys().map(|(k, _)| k.as_str()).collect();
    let campaigns: Vec<&str> = touches.keys().map(|(_, c)| c.as_str()).collect();
    let first: Vec<DateTime<Utc>> = touches.values().map(|t| t.first).collect();
    let last: Vec<DateTime<Utc>> = touches.values().map(|t| t.last).collect();
    let counts: Vec<i64> = touches.values().map(|t| t.count).collect();
    sqlx::query(
        "INSERT INTO campaign_touches AS t \
         (contact_key, utm_campaign, first_touch_at, last_touch_at, touches) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], \
           $5::int8[]) \
         ON CONFLICT (contact_key, utm_campaign) DO UPDATE SET \
           first_touch_at = LEAST(t.first_touch_at, EXCLUDED.first_touch_at), \
           last_touch_at  = GREATEST(t.last_touch_at, EXCLUDED.last_touch_at), \
           touches        = t.touches + EXCLUDED.touches",
    )
    .bind(&keys)
    .bind(&campaigns)
    .bind(&first)
    .bind(&last)
    .bind(&counts)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
