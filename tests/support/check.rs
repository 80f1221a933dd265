//! The exact check of the CRM database against a [`Workload`].
//!
//! Run it once the pipeline is idle ([`Stack::wait_idle`]); it reads every
//! CRM table and compares it with what the workload says must be there.

use crate::stack::Stack;
use crate::workload::{Figures, Group, Kind, Outcome, Workload};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `crm.automation`'s default SDR rule: a contact at or over this score
/// gets one `sdr-hot-lead` task (restated, as the points are in the workload).
const SDR_THRESHOLD: i64 = 50;

/// The three CRM consumers.
pub const CONSUMERS: [&str; 3] = ["event-store", "engagement-score", "automation"];

/// Compares the CRM database with the workload; panics naming the first
/// difference. Returns the run's figures.
pub async fn check_crm(stack: &Stack, w: &Workload) -> Figures {
    let pool = stack.crm_pool().await;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT event_id, COALESCE(title, payload->'fields'->>'ref') FROM content_events",
    )
    .fetch_all(&pool)
    .await
    .expect("content_events");

    // Rows per group, by marker.
    let mut by_group: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (id, marker) in &rows {
        let group = marker
            .as_deref()
            .and_then(|m| m.strip_prefix('g'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|g| *g < w.groups().len())
            .unwrap_or_else(|| panic!("content_events row {id} has no known marker: {marker:?}"));
        by_group.entry(group).or_default().push(id.clone());
    }

    let accepted = w.accepted_by_group();
    let unknown_groups: BTreeSet<usize> = w
        .results()
        .iter()
        .filter(|(_, o)| !o.is_accepted())
        .map(|(g, _)| *g)
        .collect();
    let mut landed = Vec::new();
    let mut figures = Figures::default();
    for (g, group) in w.groups().iter().enumerate() {
        let found = by_group.get(&g).map(Vec::as_slice).unwrap_or_default();
        let unknown = unknown_groups.contains(&g);
        if found.len() > 1 {
            panic!(
                "group {g} ({:?}, accepted {:?}) stored {} times: {found:?}\n{}",
                group.kind,
                accepted.get(&g),
                found.len(),
                trail(stack, &group.marker, found).await
            );
        }
        match accepted.get(&g) {
            Some(ids) => {
                assert_eq!(
                    found.len(),
                    1,
                    "group {g} ({:?}, accepted {ids:?}) was lost",
                    group.kind
                );
                // An unanswered attempt of the group may be the one dedupe kept.
                assert!(
                    ids.contains(&found[0]) || unknown,
                    "group {g}: stored id {} is not one the edge returned ({ids:?})",
                    found[0]
                );
                figures.duplicates += ids.len() - 1;
                landed.push(group);
            }
            None if unknown => {
                if found.len() == 1 {
                    figures.unknown_landed += 1;
                    landed.push(group);
                }
            }
            None => assert!(found.is_empty(), "group {g} was never sent: {found:?}"),
        }
    }
    let survivors: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        survivors.len(),
        rows.len(),
        "content_events holds an id twice"
    );

    // processed_events: every stored event once per consumer, nothing else.
    for consumer in CONSUMERS {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM processed_events WHERE consumer = $1")
                .bind(consumer)
                .fetch_all(&pool)
                .await
                .expect("processed_events");
        let set: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(set.len(), ids.len(), "{consumer}: processed_events doubles");
        assert_eq!(
            set, survivors,
            "{consumer}: processed_events differs from content_events"
        );
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(total as usize, survivors.len() * CONSUMERS.len());

    let expected = Expected::from_groups(landed);
    assert_eq!(read_state(&pool).await, expected, "CRM state differs");
    let event_tasks: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM automation_tasks WHERE fired_on = 'event'")
            .fetch_all(&pool)
            .await
            .expect("tasks");
    for id in &event_tasks {
        assert!(survivors.contains(id), "task for an unstored event {id}");
    }
    pool.close().await;

    figures.sent = w.results().len();
    figures.accepted = w
        .results()
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Accepted(_)))
        .count();
    figures.unknown = figures.sent - figures.accepted;
    figures.unavailable = w
        .results()
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Unavailable))
        .count();
    figures.unique = survivors.len();
    figures.survivors = survivors;
    figures
}

/// Waits (up to `limit`) until the pipeline is idle, checks the CRM
/// exactly, and that nothing was dead-lettered and no process panicked;
/// returns the figures.
pub async fn settle_and_check(stack: &Stack, w: &Workload, limit: Duration) -> Figures {
    stack.wait_idle(limit).await;
    let figures = check_crm(stack, w).await;
    assert_eq!(
        stack.dead_letters().await,
        (0, 0),
        "nothing may dead-letter"
    );
    let logs = stack.logs();
    assert!(!logs.contains("panicked at"), "a process panicked:\n{logs}");
    assert_meaningful(w);
    figures
}

/// The CRM tables in the shape of [`Expected`].
pub async fn read_state(pool: &sqlx::PgPool) -> Expected {
    let scores: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT contact_key, score, page_views, form_submissions FROM engagement_scores",
    )
    .fetch_all(pool)
    .await
    .expect("engagement_scores");
    let touches: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT contact_key, utm_campaign, touches FROM campaign_touches")
            .fetch_all(pool)
            .await
            .expect("campaign_touches");
    let tasks: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT rule, contact_key, count(*) FROM automation_tasks GROUP BY rule, contact_key",
    )
    .fetch_all(pool)
    .await
    .expect("automation_tasks");
    let contacts: Vec<String> = sqlx::query_scalar("SELECT contact_key FROM contacts")
        .fetch_all(pool)
        .await
        .expect("contacts");
    Expected {
        scores: scores
            .into_iter()
            .map(|(k, s, v, f)| (k, (s, v, f)))
            .collect(),
        touches: touches.into_iter().map(|(k, c, t)| ((k, c), t)).collect(),
        tasks: tasks.into_iter().map(|(r, k, n)| ((r, k), n)).collect(),
        contacts: contacts.into_iter().collect(),
    }
}

/// Sanity of a workload: it must exercise both sides of the SDR threshold,
/// duplicates, forms and views — or the exact check proves little.
pub fn assert_meaningful(w: &Workload) {
    let e = Expected::from_groups(w.groups());
    let hot = e.tasks.keys().filter(|(r, _)| r == "sdr-hot-lead").count();
    // Quick mode sends too few events to be sure of a hot lead.
    assert!(
        hot >= 1 || crate::workload::quick(),
        "no contact crosses the SDR threshold"
    );
    assert!(
        hot < e.scores.len(),
        "every contact crosses the SDR threshold"
    );
    assert!(
        w.groups().iter().any(|g| g.copies > 1),
        "no planned duplicates"
    );
    assert!(!e.touches.is_empty(), "no campaign touches");
}

/// Every stream and bucket message that names a doubled group (its marker)
/// or one of its stored ids — the raw copies, what dedupe forwarded and the
/// key it claimed — to tell which hop let a repeat through.
async fn trail(stack: &Stack, marker: &str, ids: &[String]) -> String {
    let quoted = format!("\"{marker}\"");
    let mut out = String::new();
    for (stream, text) in crate::scan::stream_texts(stack).await {
        if text.contains(&quoted) || ids.iter().any(|id| text.contains(id.as_str())) {
            let short: String = text.chars().take(600).collect();
            out.push_str(&format!("  {stream}: {short}\n"));
        }
    }
    out
}

/// The CRM state a set of landed groups must produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// contact_key → (score, page_views, form_submissions).
    pub scores: BTreeMap<String, (i64, i64, i64)>,
    /// (contact_key, utm_campaign) → touches.
    pub touches: BTreeMap<(String, String), i64>,
    /// (rule, contact_key) → tasks.
    pub tasks: BTreeMap<(String, String), i64>,
    /// Contacts made from forms.
    pub contacts: BTreeSet<String>,
}

impl Expected {
    /// Computes the state from the groups that landed.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a Group>) -> Self {
        let mut e = Expected::default();
        for g in groups {
            let Some(key) = &g.contact_key else { continue };
            let s = e.scores.entry(key.clone()).or_default();
            s.0 += g.points;
            match g.kind {
                Kind::PageView => s.1 += 1,
                Kind::Form => {
                    s.2 += 1;
                    e.contacts.insert(key.clone());
                    *e.tasks
                        .entry(("thank-you".into(), key.clone()))
                        .or_default() += 1;
                }
            }
            if let Some(c) = &g.campaign {
                *e.touches.entry((key.clone(), c.clone())).or_default() += 1;
            }
        }
        for (key, (score, _, _)) in &e.scores {
            if *score >= SDR_THRESHOLD {
                e.tasks.insert(("sdr-hot-lead".into(), key.clone()), 1);
            }
        }
        e
    }
}
