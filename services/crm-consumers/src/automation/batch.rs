//! automation's one SQL path (a single event is a batch of one), in four
//! statements whatever the batch's size: read the batch's contacts (locking
//! them, in key order), replay the batch's events in memory one by one, then
//! write every score with one upsert and every task with one insert.
//!
//! The replay starts from each contact's stored row and its true score
//! before the batch (the upsert's result minus the batch's points, right even
//! if another instance added points in between), so each task gets the
//! payload it would get had the events come one batch each: event rules fire
//! on every matching event, a threshold rule on the first event at or above
//! its threshold (the unique indexes keep only the first across batches).

use super::{Automation, ScoreView, event_payload, matches, threshold_payload};
use crate::identity::{self, Contact};
use crate::runner::HandlerError;
use crate::scoring;
use hookline_core::Event;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One task row to insert.
struct Task<'a> {
    rule: &'a str,
    kind: &'a str,
    fired_on: &'static str,
    contact_key: String,
    event_id: &'a str,
    payload: Value,
}

/// A contact's running state while the batch is replayed.
#[derive(Default)]
struct Running {
    contact_id: Option<String>,
    email: Option<String>,
    score: i64,
    /// Points this batch adds.
    delta: i64,
    /// The latest non-null identity of the batch (what the upsert writes).
    new_contact_id: Option<String>,
    new_email: Option<String>,
}

impl Automation {
    /// [`Consumer::handle_batch`](crate::runner::Consumer::handle_batch) of automation.
    pub(super) async fn apply_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let identified: Vec<(&Event, Contact)> = events
            .iter()
            .filter_map(|e| identity::contact(e).map(|c| (*e, c)))
            .collect();
        if identified.is_empty() {
            return Ok(());
        }
        let mut state = self.batch_points(&identified);
        let keys: Vec<&str> = state.keys().map(String::as_str).collect();
        let stored: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT contact_key, contact_id, email FROM automation_contact_scores \
             WHERE contact_key = ANY($1) ORDER BY contact_key FOR UPDATE",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
        for (key, contact_id, email) in stored {
            if let Some(r) = state.get_mut(&key) {
                r.contact_id = contact_id;
                r.email = email;
            }
        }
        let finals = upsert_scores(tx, &state).await?;
        for (key, score) in finals {
            if let Some(r) = state.get_mut(&key) {
                r.score = score - r.delta;
            }
        }
        let tasks = self.replay(&identified, &mut state);
        if !tasks.is_empty() {
            insert_tasks(tx, &tasks).await?;
        }
        Ok(())
    }

    /// Each contact's points from this batch and its latest identity.
    fn batch_points(&self, identified: &[(&Event, Contact)]) -> BTreeMap<String, Running> {
        let mut state: BTreeMap<String, Running> = BTreeMap::new();
        for (event, contact) in identified {
            let r = state.entry(contact.key.clone()).or_default();
            r.delta += scoring::points(&self.scoring, event);
            if contact.contact_id.is_some() {
                r.new_contact_id.clone_from(&contact.contact_id);
            }
            if contact.email.is_some() {
                r.new_email.clone_from(&contact.email);
            }
        }
        state
    }

    /// Replays the batch's events in order from each contact's score before
    /// the batch: the tasks their rules fire.
    fn replay<'a>(
        &'a self,
        identified: &'a [(&'a Event, Contact)],
        state: &mut BTreeMap<String, Running>,
    ) -> Vec<Task<'a>> {
        let mut tasks = Vec::new();
        let mut fired: HashSet<(&str, &str)> = HashSet::new();
        for (event, contact) in identified {
            for rule in self.rules.iter().filter(|r| matches(r, event)) {
                tasks.push(Task {
                    rule: &rule.name,
                    kind: &rule.task,
                    fired_on: "event",
                    contact_key: contact.key.clone(),
                    event_id: event.id.as_str(),
                    payload: event_payload(rule, contact, event),
                });
            }
            let Some(r) = state.get_mut(&contact.key) else {
                continue;
            };
            r.score += scoring::points(&self.scoring, event);
            if contact.contact_id.is_some() {
                r.contact_id.clone_from(&contact.contact_id);
            }
            if contact.email.is_some() {
                r.email.clone_from(&contact.email);
            }
            let view = ScoreView {
                score: r.score,
                contact_id: r.contact_id.clone(),
                email: r.email.clone(),
            };
            for rule in &self.rules {
                let Some(threshold) = rule.score_threshold else {
                    continue;
                };
                if view.score >= threshold && fired.insert((&rule.name, &contact.key)) {
                    tasks.push(Task {
                        rule: &rule.name,
                        kind: &rule.task,
                        fired_on: "threshold",
                        contact_key: contact.key.clone(),
                        event_id: event.id.as_str(),
                        payload: threshold_payload(rule, contact, &view, threshold, event),
                    });
                }
            }
        }
        tasks
    }
}

/// Adds each contact's batch points; returns each contact's score after.
async fn upsert_scores(
    tx: &mut PgConnection,
    state: &BTreeMap<String, Running>,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let keys: Vec<&str> = state.keys().map(String::as_str).collect();
    let ids: Vec<Option<&str>> = state
        .values()
        .map(|r| r.new_contact_id.as_deref())
        .collect();
    let emails: Vec<Option<&str>> = state.values().map(|r| r.new_email.as_deref()).collect();
    let deltas: Vec<i64> = state.values().map(|r| r.delta).collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO automation_contact_scores AS s (contact_key, contact_id, email, score) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) \
         ON CONFLICT (contact_key) DO UPDATE SET \
           contact_id = COALESCE(EXCLUDED.contact_id, s.contact_id), \
           email      = COALESCE(EXCLUDED.email, s.email), \
           score      = s.score + EXCLUDED.score, \
           updated_at = now() \
         RETURNING contact_key, score",
    )
    .bind(&keys)
    .bind(&ids)
    .bind(&emails)
    .bind(&deltas)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts the tasks; the partial unique indexes drop what already fired.
async fn insert_tasks(tx: &mut PgConnection, tasks: &[Task<'_>]) -> Result<(), sqlx::Error> {
    let rules: Vec<&str> = tasks.iter().map(|t| t.rule).collect();
    let kinds: Vec<&str> = tasks.iter().map(|t| t.kind).collect();
    let fired_on: Vec<&str> = tasks.iter().map(|t| t.fired_on).collect();
    let contacts: Vec<&str> = tasks.iter().map(|t| t.contact_key.as_str()).collect();
    let event_ids: Vec<&str> = tasks.iter().map(|t| t.event_id).collect();
    let payloads: Vec<Json<&Value>> = tasks.iter().map(|t| Json(&t.payload)).collect();
    let created: Vec<(String, String, String)> = sqlx::query_as(
        "INSERT INTO automation_tasks (rule, kind, fired_on, contact_key, event_id, payload) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
           $6::jsonb[]) \
         ON CONFLICT DO NOTHING RETURNING rule, kind, event_id",
    )
    .bind(&rules)
    .bind(&kinds)
    .bind(&fired_on)
    .bind(&contacts)
    .bind(&event_ids)
    .bind(&payloads)
    .fetch_all(&mut *tx)
    .await?;
    for (rule, task, event_id) in created {
        tracing::info!(event_id = %event_id, rule = %rule, task = %task, "automation task created");
    }
    Ok(())
}
