//! The consumers' end state depends on the set of events, not their order,
//! nor on which consumer runs first.

use crate::consumers::{ScoreRow, TouchRow, configure, script};
use crate::support::*;
use std::collections::BTreeSet;

/// Scores, touches and the set of tasks as order-independent facts.
async fn end_state(stack: &Stack) -> (Vec<ScoreRow>, Vec<TouchRow>, BTreeSet<String>) {
    let scores = sqlx::query_as(
        "SELECT contact_key, score, page_views, form_submissions, last_event_at \
         FROM engagement_scores ORDER BY contact_key",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let touches = sqlx::query_as(
        "SELECT contact_key, utm_campaign, first_touch_at, last_touch_at, touches \
         FROM campaign_touches ORDER BY contact_key, utm_campaign",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    // A threshold task's event is whichever event tipped the score in
    // processing order; what must not vary is that it exists.
    let tasks: Vec<String> = sqlx::query_scalar(
        "SELECT rule || '/' || kind || '/' || contact_key || '/' || \
                CASE WHEN fired_on = 'event' THEN event_id ELSE '' END \
         FROM automation_tasks",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    (scores, touches, tasks.into_iter().collect())
}

#[tokio::test]
async fn the_end_state_does_not_depend_on_event_order() {
    let events = script();
    let mut states = Vec::new();
    for order in [
        events.clone(),
        events.iter().rev().cloned().collect::<Vec<_>>(),
    ] {
        let stack = Stack::new(configure).await;
        // Automation first and alone, engagement-score only afterwards:
        // the threshold rule must not depend on engagement-score.
        let config = stack.config.clone();
        let automation = stack.start(vec![std::sync::Arc::new(
            crm_consumers::automation::Automation::new(&config),
        )]);
        for e in &order {
            stack.publish(e).await;
        }
        eventually("automation done", || async {
            stack.backlog("automation").await == (0, 0)
                && stack.count("SELECT count(*) FROM processed_events").await == 8
        })
        .await;
        let scoring = stack.start(vec![std::sync::Arc::new(
            crm_consumers::engagement_score::EngagementScore::new(&config),
        )]);
        eventually("engagement-score done", || async {
            stack.backlog("engagement-score").await == (0, 0)
                && stack.count("SELECT count(*) FROM processed_events").await == 16
        })
        .await;
        states.push(end_state(&stack).await);
        automation.stop().await;
        scoring.stop().await;
        stack.cleanup().await;
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[0].2.len(), 5, "{:?}", states[0].2);
}
