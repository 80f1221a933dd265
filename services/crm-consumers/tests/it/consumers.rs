//! The three CRM consumers on a scripted sequence of events, with every
//! expected row worked out by hand.

use crate::support::*;
use chrono::{DateTime, Utc};
use hookline_core::config::{AutomationRule, Config};
use hookline_core::event::ContentType::{Event as EventPage, News, Resource};
use hookline_core::ops::Readiness;
use hookline_core::{Event, EventType, Shutdown};
use serde_json::Value;

/// Default scoring (page view 1, form 10; bonus event 2, resource 3, news 0)
/// and three rules: the default thank-you on every form, an SDR task for the
/// demo form, and an SDR task when a score reaches 15.
pub fn configure(config: &mut Config) {
    config.crm.automation = vec![
        AutomationRule {
            name: "thank-you".into(),
            task: "thank_you_email".into(),
            event_type: Some(EventType::FormSubmission),
            form_id: None,
            score_threshold: None,
        },
        AutomationRule {
            name: "demo-request".into(),
            task: "sdr_task".into(),
            event_type: Some(EventType::FormSubmission),
            form_id: Some("frm_demo".into()),
            score_threshold: None,
        },
        AutomationRule {
            name: "hot-lead".into(),
            task: "sdr_task".into(),
            event_type: None,
            form_id: None,
            score_threshold: Some(15),
        },
    ];
}

/// The script. Points per event in the comments.
pub fn script() -> Vec<Event> {
    vec![
        // 1. A views a resource from the Q4 campaign: 1 + 3 = 4 (A = 4).
        timed(page_view(Some("cnt_A"), Resource, "r1", Some("Q4")), 1),
        // 2. Someone anonymous views an event page: stored, not scored.
        timed(page_view(None, EventPage, "e1", None), 2),
        // 3. A fills the newsletter form on an event page, all fields,
        //    HubSpot-style names: 10 + 2 = 12 (A = 16 ≥ 15: hot lead).
        timed(
            form(
                "frm_newsletter",
                Some("cnt_A"),
                Some("a@acme.com"),
                Some(EventPage),
                &[
                    ("firstname", "Ann"),
                    ("last_name", "Lee"),
                    ("company", "Acme"),
                    ("jobtitle", "CFO"),
                    ("country", "US"),
                    ("utm_campaign", "Q4"),
                ],
            ),
            3,
        ),
        // 4. A requests a demo, blanks everywhere but a new company name:
        //    10 (A = 26). The blanks must not erase what form 3 told us.
        timed(
            form(
                "frm_demo",
                Some("cnt_A"),
                Some(""),
                None,
                &[("firstName", ""), ("company", "Acme Ltd"), ("country", " ")],
            ),
            4,
        ),
        // 5. Bob, known only by email (mixed case), full name in one field:
        //    10 (B = 10).
        timed(
            form(
                "frm_newsletter",
                None,
                Some("Bob@Example.com"),
                None,
                &[("name", "Bob Stone"), ("job_title", "Engineer")],
            ),
            5,
        ),
        // 6. C views a news page from Q4: 1 + 0 = 1 (C = 1).
        timed(page_view(Some("cnt_C"), News, "n1", Some("Q4")), 6),
        // 7. C views an event page from SPRING: 1 + 2 = 3 (C = 4).
        timed(page_view(Some("cnt_C"), EventPage, "e1", Some("SPRING")), 7),
        // 8. An anonymous form ("n/a" is not an email): stored only.
        timed(
            form(
                "frm_newsletter",
                None,
                Some("n/a"),
                None,
                &[("first_name", "X")],
            ),
            8,
        ),
    ]
}

type ContentRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type ContactRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
pub type ScoreRow = (String, i64, i64, i64, DateTime<Utc>);
pub type TouchRow = (String, String, DateTime<Utc>, DateTime<Utc>, i64);

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

async fn settled(stack: &Stack, total: u64) {
    for name in crm_consumers::names() {
        eventually(&format!("{name} took every event"), || async {
            let (pending, ack_pending) = stack.backlog(name).await;
            pending == 0
                && ack_pending == 0
                && stack
                    .count(&format!(
                        "SELECT count(*) FROM processed_events WHERE consumer = '{name}'"
                    ))
                    .await as u64
                    == total
        })
        .await;
    }
}

#[tokio::test]
async fn a_scripted_sequence_gives_exactly_the_expected_rows() {
    let stack = Stack::new(configure).await;
    let shutdown = Shutdown::new();
    let work = tokio::spawn(crm_consumers::work(
        stack.config.clone(),
        Vec::new(),
        Readiness::new(),
        shutdown.clone(),
    ));
    let events = script();
    for e in &events {
        stack.publish(e).await;
    }
    // Event 3 again under another message id: a copy from beyond the
    // duplicate window. It must change nothing.
    stack.publish_as(&events[2], "late-copy").await;
    settled(&stack, events.len() as u64).await;
    let id = |i: usize| events[i - 1].id.to_string();

    let content: Vec<ContentRow> = stack
        .rows(
            "SELECT event_id, event_name, content_type, content_id, contact_id, email, title \
         FROM content_events ORDER BY ts",
        )
        .await;
    let (pv, fs) = ("page_view".to_string(), "form_submission".to_string());
    assert_eq!(
        content,
        vec![
            (
                id(1),
                pv.clone(),
                s("resource"),
                s("r1"),
                s("cnt_A"),
                None,
                s("Title of r1")
            ),
            (
                id(2),
                pv.clone(),
                s("event"),
                s("e1"),
                None,
                None,
                s("Title of e1")
            ),
            (
                id(3),
                fs.clone(),
                s("event"),
                s("c1"),
                s("cnt_A"),
                s("a@acme.com"),
                None
            ),
            (id(4), fs.clone(), None, None, s("cnt_A"), None, None),
            (
                id(5),
                fs.clone(),
                None,
                None,
                None,
                s("Bob@Example.com"),
                None
            ),
            (
                id(6),
                pv.clone(),
                s("news"),
                s("n1"),
                s("cnt_C"),
                None,
                s("Title of n1")
            ),
            (
                id(7),
                pv.clone(),
                s("event"),
                s("e1"),
                s("cnt_C"),
                None,
                s("Title of e1")
            ),
            (id(8), fs.clone(), None, None, None, None, None),
        ]
    );
    let (payload, ts): (Value, DateTime<Utc>) =
        sqlx::query_as("SELECT payload, ts FROM content_events WHERE event_id = $1")
            .bind(id(3))
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    assert_eq!(payload["form_id"], "frm_newsletter");
    assert_eq!(payload["fields"]["jobtitle"], "CFO");
    assert_eq!(ts, at(3));

    let contacts: Vec<ContactRow> = stack
        .rows(
        "SELECT contact_key, contact_id, email, first_name, last_name, company, job_title, country \
         FROM contacts ORDER BY contact_key",
        )
        .await;
    assert_eq!(
        contacts,
        vec![
            (
                "bob@example.com".into(),
                None,
                s("Bob@Example.com"),
                s("Bob"),
                s("Stone"),
                None,
                s("Engineer"),
                None
            ),
            (
                "cnt_A".into(),
                s("cnt_A"),
                s("a@acme.com"),
                s("Ann"),
                s("Lee"),
                s("Acme Ltd"),
                s("CFO"),
                s("US")
            ),
        ]
    );

    let scores: Vec<ScoreRow> = stack
        .rows(
            "SELECT contact_key, score, page_views, form_submissions, last_event_at \
         FROM engagement_scores ORDER BY contact_key",
        )
        .await;
    assert_eq!(
        scores,
        vec![
            ("bob@example.com".into(), 10, 0, 1, at(5)),
            ("cnt_A".into(), 26, 1, 2, at(4)),
            ("cnt_C".into(), 4, 2, 0, at(7)),
        ]
    );
    // automation's own view agrees with engagement-score.
    let view: Vec<(String, i64)> = stack
        .rows("SELECT contact_key, score FROM automation_contact_scores ORDER BY contact_key")
        .await;
    let expected: Vec<(String, i64)> = scores.iter().map(|r| (r.0.clone(), r.1)).collect();
    assert_eq!(view, expected);

    let touches: Vec<TouchRow> = stack
        .rows(
            "SELECT contact_key, utm_campaign, first_touch_at, last_touch_at, touches \
         FROM campaign_touches ORDER BY contact_key, utm_campaign",
        )
        .await;
    assert_eq!(
        touches,
        vec![
            ("cnt_A".into(), "Q4".into(), at(1), at(3), 2),
            ("cnt_C".into(), "Q4".into(), at(6), at(6), 1),
            ("cnt_C".into(), "SPRING".into(), at(7), at(7), 1),
        ]
    );

    let tasks: Vec<(String, String, String, String, String)> = stack
        .rows(
            "SELECT rule, kind, fired_on, contact_key, event_id FROM automation_tasks \
         ORDER BY rule, event_id",
        )
        .await;
    let mut want = vec![
        ("demo-request", "sdr_task", "event", "cnt_A", id(4)),
        ("hot-lead", "sdr_task", "threshold", "cnt_A", id(3)),
        ("thank-you", "thank_you_email", "event", "cnt_A", id(3)),
        ("thank-you", "thank_you_email", "event", "cnt_A", id(4)),
        (
            "thank-you",
            "thank_you_email",
            "event",
            "bob@example.com",
            id(5),
        ),
    ]
    .into_iter()
    .map(|(a, b, c, d, e)| (a.into(), b.into(), c.into(), d.into(), e))
    .collect::<Vec<(String, String, String, String, String)>>();
    want.sort_by(|x, y| (&x.0, &x.4).cmp(&(&y.0, &y.4)));
    assert_eq!(tasks, want);
    let (hot, thanks): (Value, Value) = sqlx::query_as(
        "SELECT (SELECT payload FROM automation_tasks WHERE rule = 'hot-lead'), \
                (SELECT payload FROM automation_tasks WHERE rule = 'thank-you' AND event_id = $1)",
    )
    .bind(id(5))
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    assert_eq!(hot["score"], 16);
    assert_eq!(hot["threshold"], 15);
    assert_eq!(hot["email"], "a@acme.com");
    assert_eq!(thanks["email"], "Bob@Example.com");
    assert_eq!(thanks["first_name"], "Bob");
    assert_eq!(thanks["form_id"], "frm_newsletter");

    shutdown.trigger();
    work.await.unwrap().expect("work ends cleanly");
    stack.cleanup().await;
}
