//! `GET /api/health-sync` against the real NATS: off without a key, the
//! counts and digests of what `RC_EVENTS` holds (bucketed by the ids' time,
//! one per id, only the compared types), the ids of one hour, and named 400s.

use crate::support::{Edge, config};
use chrono::{TimeDelta, Utc};
use hookline_core::health_sync::{digest, hour_start};
use hookline_core::publish::{Outgoing, publish};
use hookline_core::{EventId, EventType};
use serde_json::Value;

const KEY: &str = "a-health-sync-key-for-tests";

async fn get(edge: &Edge, path: &str, query: &[(&str, String)]) -> (u16, Value) {
    let r = edge
        .http
        .get(edge.url(path))
        .query(query)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn off_without_a_key() {
    let edge = Edge::start(config()).await;
    let from = (Utc::now() - TimeDelta::hours(1)).to_rfc3339();
    let (status, v) = get(&edge, "/api/health-sync", &[("from", from)]).await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("edge.health_sync_api_key")
    );
    edge.stop().await;
}

#[tokio::test]
async fn counts_and_digests_what_rc_events_holds() {
    let mut c = config();
    c.edge.health_sync_api_key = Some(KEY.into());
    let edge = Edge::start(c).await;
    let names = edge.config.names();
    // Minted half an hour into the previous hour, whatever the clock says.
    let now = Utc::now();
    let hour = hour_start(now) - TimeDelta::hours(1);
    let minted = (hour + TimeDelta::minutes(30)).timestamp_millis() as u128;
    let id = |n: u128| {
        let v = (minted << 80) | (0x7 << 76) | (0x2 << 62) | n;
        EventId::from_uuid(uuid::Uuid::from_u128(v))
            .as_str()
            .to_string()
    };
    let views: Vec<String> = (1..=3).map(id).collect();
    let form = id(4);
    let body = bytes::Bytes::from_static(b"{}");
    let mut messages: Vec<Outgoing> = views
        .iter()
        .map(|id| {
            Outgoing::new(
                names.rc_event_subject(EventType::PageView),
                id,
                body.clone(),
            )
        })
        .collect();
    let form_subject = names.rc_event_subject(EventType::FormSubmission);
    messages.push(Outgoing::new(form_subject, &form, body.clone()));
    // A redriven copy is not a second event.
    let redrive = names.subject("rc.events.redrive.wh_x");
    messages.push(Outgoing::new(redrive, "redrive:RC_DLQ:1", body.clone()));
    for m in &messages {
        publish(&edge.nats.js, m).await.unwrap();
    }

    let q = [
        ("from", hour.to_rfc3339()),
        ("to", (now + TimeDelta::seconds(1)).to_rfc3339()),
    ];
    let (status, v) = get(&edge, "/api/health-sync", &q).await;
    assert_eq!(status, 200, "{v}");
    let entry = |kind: &str| {
        v["hours"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| {
                h["type"] == kind
                    && h["hour"] == hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} entry for {hour}: {v}"))
    };
    let mut sorted = views.clone();
    sorted.sort();
    assert_eq!(entry("page_view")["count"], 3, "{v}");
    assert_eq!(entry("page_view")["digest"], digest(&sorted).as_str());
    assert_eq!(entry("form_submission")["count"], 1);
    assert_eq!(
        v["hours"].as_array().unwrap().len(),
        4,
        "two hours × two types"
    );

    let q = [("hour", hour.to_rfc3339()), ("type", "page_view".into())];
    let (status, v) = get(&edge, "/api/health-sync/ids", &q).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ids"], serde_json::json!(sorted));

    let q = [("hour", now.to_rfc3339()), ("type", "page_view".into())];
    let (status, v) = get(&edge, "/api/health-sync/ids", &q).await;
    assert!(
        status == 400 && v["message"].as_str().unwrap().contains("`hour`"),
        "{v}"
    );
    let q = [("hour", hour.to_rfc3339()), ("type", "click".into())];
    let (status, v) = get(&edge, "/api/health-sync/ids", &q).await;
    assert!(
        status == 400 && v["message"].as_str().unwrap().contains("`type`"),
        "{v}"
    );
    let (status, v) = get(&edge, "/api/health-sync", &[]).await;
    assert!(
        status == 400 && v["message"].as_str().unwrap().contains("`from`"),
        "{v}"
    );
    edge.stop().await;
}
