//! The dedupe rules: keys, first-seen windows, forms, bots, several
//! instances.

use crate::support::{Stack, form, ids, view, view_at};
use chrono::{TimeZone, Utc};
use hookline_core::testing;
use rc_edge::fingerprint::Fingerprinter;
use std::time::{Duration, Instant};

#[tokio::test]
async fn views_at_2359_and_0001_count_once() {
    let mut stack = Stack::start(testing::isolated_config()).await;
    stack.spawn_worker();
    let before = Utc.with_ymd_and_hms(2026, 10, 13, 23, 59, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 10, 14, 0, 1, 0).unwrap();
    // A known contact: keyed by contact id, whatever the timestamps say.
    let a = view_at(before, "c1", Some("cnt_1"), None);
    let b = view_at(after, "c1", Some("cnt_1"), None);
    // An anonymous visitor: the fingerprint's day key rotates at midnight,
    // yet the two views are one visit.
    let f = Fingerprinter::new("k");
    let ip = "203.0.113.5".parse().unwrap();
    let fp_before = f.visitor(before, ip, "Mozilla/5.0");
    let fp_after = f.visitor(after, ip, "Mozilla/5.0");
    assert_ne!(fp_before, fp_after);
    let c = view_at(before, "c1", None, Some(&fp_before));
    let d = view_at(after, "c1", None, Some(&fp_after));
    stack.publish(std::slice::from_ref(&a)).await;
    stack.publish(std::slice::from_ref(&c)).await;
    stack.settle().await;
    stack.publish(&[b, d]).await;
    stack.settle().await;
    let forwarded = stack.forwarded().await;
    assert_eq!(ids(&forwarded), vec![a.event.id, c.event.id]);
    // Only the envelope travels on: no visitor block.
    assert!(forwarded.iter().all(|e| e.get("visitor").is_none()));
    stack.stop().await;
}

#[tokio::test]
async fn after_the_window_a_view_counts_again() {
    let mut config = testing::isolated_config();
    config.dedupe.page_view_window = Duration::from_secs(2);
    let mut stack = Stack::start(config).await;
    stack.spawn_worker();
    stack.publish(&[view("c1", Some("cnt_1"), None)]).await;
    stack.settle().await;
    stack.publish(&[view("c1", Some("cnt_1"), None)]).await;
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 1, "inside the window");

    // Keep viewing until the window (from the first view) has passed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.forwarded_count().await < 2 {
        assert!(Instant::now() < deadline, "the window never ended");
        stack.publish(&[view("c1", Some("cnt_1"), None)]).await;
        stack.settle().await;
    }
    assert_eq!(stack.forwarded_count().await, 2);
    // A new window started with that view.
    stack.publish(&[view("c1", Some("cnt_1"), None)]).await;
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 2);
    stack.stop().await;
}

#[tokio::test]
async fn forms_dedupe_on_form_identity_and_fields() {
    let mut stack = Stack::start(testing::isolated_config()).await;
    stack.spawn_worker();
    let first = form(
        None,
        Some("ada@example.com"),
        &[("company", "AE"), ("role", "eng")],
    );
    let same = form(
        None,
        Some("ADA@example.com"),
        &[("role", "eng"), ("company", "AE")],
    );
    let changed = form(
        None,
        Some("ada@example.com"),
        &[("company", "AE"), ("role", "cto")],
    );
    let other = form(
        None,
        Some("bob@example.com"),
        &[("company", "AE"), ("role", "eng")],
    );
    let contact = form(
        Some("cnt_7"),
        Some("ada@example.com"),
        &[("company", "AE"), ("role", "eng")],
    );
    let contact_again = form(Some("cnt_7"), None, &[("company", "AE"), ("role", "eng")]);
    for raw in [&first, &same, &changed, &other, &contact, &contact_again] {
        stack.publish(std::slice::from_ref(raw)).await;
        stack.settle().await;
    }
    assert_eq!(
        ids(&stack.forwarded().await),
        vec![
            first.event.id,
            changed.event.id,
            other.event.id,
            contact.event.id
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn bots_are_dropped_and_counted_unidentified_are_forwarded() {
    let metrics = hookline_core::telemetry::prometheus();
    let mut stack = Stack::start(testing::isolated_config()).await;
    stack.spawn_worker();
    let mut raws = Vec::new();
    for i in 0..3 {
        let mut bot = view(&format!("c{i}"), None, Some("fp"));
        bot.visitor.bot = true;
        raws.push(bot);
    }
    // GDPR visitors without contact id: nothing to dedupe on, so each counts.
    let gdpr: Vec<_> = (0..2).map(|_| view("c1", None, None)).collect();
    raws.extend(gdpr.iter().cloned());
    stack.publish(&raws).await;
    stack.settle().await;
    let forwarded = ids(&stack.forwarded().await);
    assert_eq!(forwarded.len(), 2);
    assert!(gdpr.iter().all(|g| forwarded.contains(&g.event.id)));
    let text = metrics.render();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("hookline_dedupe_bot_total{type=\"page_view\"}") >= 3.0,
        "{text}"
    );
    assert!(value("hookline_dedupe_unidentified_total{type=\"page_view\"}") >= 2.0);
    stack.stop().await;
}

#[tokio::test]
async fn two_instances_still_forward_each_key_once() {
    let mut config = testing::isolated_config();
    config.dedupe.batch_size = 16;
    let mut stack = Stack::start(config).await;
    stack.spawn_worker();
    stack.spawn_worker();
    // 100 (content, visitor) pairs, each seen 10 times, interleaved.
    let mut raws = Vec::new();
    for round in 0..10 {
        for pair in 0..100 {
            let content = format!("c{}", pair % 10);
            if pair < 50 {
                raws.push(view(&content, Some(&format!("cnt_{}", pair / 10)), None));
            } else {
                raws.push(view(
                    &content,
                    None,
                    Some(&format!("fp{}.old{round}", pair / 10)),
                ));
            }
        }
    }
    for chunk in raws.chunks(250) {
        stack.publish(chunk).await;
    }
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 100);
    stack.stop().await;
}
