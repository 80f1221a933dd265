//! Sending a workload the way a browser would, waiting until the pipeline
//! settles, and checking the CRM tables against the workload's own figures.

use super::{CONSUMERS, Score, SendLog, Workload};
use crate::Stack;
use futures::StreamExt;
use hookline_core::lag;
use hookline_core::nats::Nats;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a client keeps retrying one event.
const CLIENT_DEADLINE: Duration = Duration::from_secs(120);

/// Sends every entry of `workload.sends` to the edge with `concurrency`
/// requests in flight, send `n` starting no earlier than `n * spacing` after
/// the first (so traffic keeps flowing while a fault is injected instead of
/// bursting through before it); `progress` counts finished sends (a fault
/// is timed on it). A 503 or a failed connection is retried after a second,
/// as a client following `Retry-After: 1` would.
pub async fn send_all(
    edge: String,
    workload: Arc<Workload>,
    concurrency: usize,
    spacing: Duration,
    progress: Arc<AtomicUsize>,
) -> SendLog {
    let started = tokio::time::Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let log = Arc::new(Mutex::new(SendLog::default()));
    futures::stream::iter(workload.sends.clone().into_iter().enumerate())
        .for_each_concurrent(concurrency, |(n, i)| {
            let (http, edge, workload, log, progress) = (
                http.clone(),
                edge.clone(),
                workload.clone(),
                log.clone(),
                progress.clone(),
            );
            async move {
                tokio::time::sleep_until(started + spacing * n as u32).await;
                let l = &workload.events[i];
                let deadline = Instant::now() + CLIENT_DEADLINE;
                loop {
                    let sent = http
                        .post(format!("{edge}{}", l.path))
                        .json(&l.body)
                        .send()
                        .await;
                    let retry = match sent {
                        Ok(r) if r.status().as_u16() == 202 => {
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            let id = body["id"].as_str().unwrap_or_default().to_string();
                            log.lock().unwrap().accepted.entry(i).or_default().push(id);
                            false
                        }
                        Ok(r) if r.status().as_u16() == 503 => {
                            let mut g = log.lock().unwrap();
                            g.unavailable += 1;
                            g.retried.insert(i);
                            true
                        }
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let text = r.text().await.unwrap_or_default();
                            log.lock().unwrap().unexpected.push((i, status, text));
                            false
                        }
                        Err(_) => {
                            let mut g = log.lock().unwrap();
                            g.transport_errors += 1;
                            g.retried.insert(i);
                            true
                        }
                    };
                    if !retry {
                        break;
                    }
                    if Instant::now() >= deadline {
                        log.lock().unwrap().gave_up.push(i);
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                progress.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    Arc::try_unwrap(log)
        .expect("senders done")
        .into_inner()
        .expect("log lock")
}

/// Waits until the pipeline has settled: `content_events` holds as many rows
/// as there are logical events, every consumer has that many
/// `processed_events`, and no stream consumer has anything pending or
/// unacknowledged. Then nothing more can arrive, and exact checks are final.
/// On time-out it panics with the lag of every consumer and the path of a
/// file holding every process's log.
pub async fn wait_settled(stack: &Stack, pool: &sqlx::PgPool, unique: usize, limit: Duration) {
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    let deadline = Instant::now() + limit;
    let mut queries = vec!["SELECT count(*) FROM content_events".to_string()];
    for c in CONSUMERS {
        queries.push(format!(
            "SELECT count(*) FROM processed_events WHERE consumer = '{c}'"
        ));
    }
    loop {
        // At or past the target: a doubled event shows as one row too many,
        // and returning lets `verify` name it instead of timing out here.
        let mut done = true;
        for q in &queries {
            done &= stack.count(pool, q).await >= Some(unique as i64);
        }
        if done {
            let streams = lag::collect(&nats).await.unwrap_or_default();
            let busy = streams
                .iter()
                .flat_map(|s| &s.consumers)
                .any(|c| c.pending > 0 || c.ack_pending > 0);
            if !busy && !streams.is_empty() {
                return;
            }
        }
        if Instant::now() >= deadline {
            let mut counts = String::new();
            for q in &queries {
                counts.push_str(&format!("  {q}: {:?}\n", stack.count(pool, q).await));
            }
            panic!(
                "pipeline did not settle on {unique} events in {limit:?}:\n{counts}{}",
                diagnose(stack, &nats).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Lag of every consumer, and every process's log saved to a file that
/// outlives the test (the stack's own dir is removed when it drops).
pub async fn diagnose(stack: &Stack, nats: &Nats) -> String {
    let mut out = String::new();
    match lag::collect(nats).await {
        Ok(streams) => {
            for s in streams {
                out.push_str(&format!("  {} messages={}\n", s.stream, s.messages));
                for c in s.consumers {
                    out.push_str(&format!(
                        "    {} pending={} ack_pending={} redelivered={} waiting={} state={}\n",
                        c.consumer, c.pending, c.ack_pending, c.redelivered, c.waiting, c.state
                    ));
                }
            }
        }
        Err(e) => out.push_str(&format!("  lag unreadable: {e}\n")),
    }
    let dir = std::env::temp_dir().join("hookline-e2e-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}.log", stack.config.nats.prefix));
    match std::fs::write(&path, stack.logs()) {
        Ok(()) => out.push_str(&format!("  process logs: {}\n", path.display())),
        Err(e) => out.push_str(&format!("  process logs not saved: {e}\n")),
    }
    out
}

/// Figures of one checked run (for RELIABILITY.md).
#[derive(Debug)]
pub struct Figures {
    /// Requests sent (first tries; retries of a 503 not counted).
    pub sends: usize,
    /// Logical events.
    pub unique: usize,
    /// Known duplicates among the sends.
    pub duplicates: usize,
    /// 503s answered by the edge.
    pub unavailable: usize,
    /// Transport errors seen by the client.
    pub transport_errors: usize,
    /// Rows lost (expected, not found): always 0 when the check passed.
    pub lost: usize,
    /// Rows doubled: always 0 when the check passed.
    pub doubled: usize,
}

/// Checks the CRM tables exactly against the workload. Panics naming the
/// first difference.
pub async fn verify(
    stack: &Stack,
    pool: &sqlx::PgPool,
    workload: &Workload,
    log: &SendLog,
) -> Figures {
    assert!(
        log.unexpected.is_empty(),
        "the edge answered something other than 202/503: {:?}",
        &log.unexpected[..log.unexpected.len().min(5)]
    );
    assert!(
        log.gave_up.is_empty(),
        "client gave up on {:?}",
        log.gave_up
    );
    let expected = workload.expected();
    let by_content: BTreeMap<&str, usize> = workload
        .events
        .iter()
        .enumerate()
        .map(|(i, l)| (l.content_id.as_str(), i))
        .collect();

    // content_events: once per logical event, and the stored event id is
    // one the edge handed out for it (unless an unanswered attempt landed).
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT event_id, content_id FROM content_events")
            .fetch_all(pool)
            .await
            .expect("content_events");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (event_id, content_id) in &rows {
        let content_id = content_id.clone().unwrap_or_default();
        let Some(&i) = by_content.get(content_id.as_str()) else {
            panic!("content_events holds an event nobody sent: {event_id} {content_id:?}");
        };
        *seen.entry(content_id).or_default() += 1;
        let accepted = log.accepted.get(&i).cloned().unwrap_or_default();
        assert!(
            accepted.contains(event_id) || log.retried.contains(&i),
            "stored event {event_id} of {} was never answered 202 (202s: {accepted:?})",
            workload.events[i].content_id
        );
    }
    let doubled: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(content_id, _)| {
            let ids: Vec<&str> = rows
                .iter()
                .filter(|(_, c)| c.as_deref() == Some(content_id.as_str()))
                .map(|(id, _)| id.as_str())
                .collect();
            (content_id, ids)
        })
        .collect();
    let lost: Vec<_> = expected
        .content_ids
        .iter()
        .filter(|c| !seen.contains_key(*c))
        .collect();
    if !doubled.is_empty() {
        panic!(
            "{} logical events stored more than once: {:?}\n{}",
            doubled.len(),
            &doubled[..doubled.len().min(5)],
            trail(stack, &doubled).await
        );
    }
    assert!(
        lost.is_empty(),
        "{} logical events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // The client got a 202 for every logical event in the end.
    for i in 0..workload.events.len() {
        assert!(
            log.accepted.contains_key(&i),
            "logical event {i} never got a 202"
        );
    }

    // processed_events: per consumer exactly the stored event ids.
    let stored: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    for c in CONSUMERS {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM processed_events WHERE consumer = $1")
                .bind(c)
                .fetch_all(pool)
                .await
                .expect("processed_events");
        let set: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), set.len(), "{c}: processed_events has doubles");
        let gaps: Vec<_> = stored.difference(&set).take(5).collect();
        let extra: Vec<_> = set.difference(&stored).take(5).collect();
        assert!(
            gaps.is_empty() && extra.is_empty(),
            "{c}: processed_events differs from content_events: missing {gaps:?}, extra {extra:?}"
        );
    }

    // engagement_scores: exactly the expected contacts and sums.
    let scores: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT contact_key, score, page_views, form_submissions FROM engagement_scores",
    )
    .fetch_all(pool)
    .await
    .expect("engagement_scores");
    let got: BTreeMap<String, Score> = scores
        .into_iter()
        .map(|(k, score, page_views, form_submissions)| {
            (
                k,
                Score {
                    score,
                    page_views,
                    form_submissions,
                },
            )
        })
        .collect();
    for (key, want) in &expected.scores {
        assert_eq!(got.get(key), Some(want), "engagement score of {key}");
    }
    assert_eq!(
        got.len(),
        expected.scores.len(),
        "engagement_scores has contacts nobody sent"
    );

    // campaign_touches.
    let touches: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT contact_key, utm_campaign, touches FROM campaign_touches")
            .fetch_all(pool)
            .await
            .expect("campaign_touches");
    let touches: BTreeMap<(String, String), i64> =
        touches.into_iter().map(|(k, c, n)| ((k, c), n)).collect();
    assert_eq!(touches, expected.touches, "campaign_touches");

    // automation_tasks: a thank-you per identified form, one SDR task per
    // contact over the threshold, nothing else.
    let thank_you: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT e.content_id FROM automation_tasks t JOIN content_events e USING (event_id) \
         WHERE t.rule = 'thank-you' AND t.fired_on = 'event'",
    )
    .fetch_all(pool)
    .await
    .expect("automation_tasks");
    let thank_set: BTreeSet<String> = thank_you.iter().flatten().cloned().collect();
    assert_eq!(thank_you.len(), thank_set.len(), "thank-you task doubled");
    assert_eq!(thank_set, expected.thank_you, "thank-you tasks");
    let sdr: Vec<String> = sqlx::query_scalar(
        "SELECT contact_key FROM automation_tasks WHERE rule = 'sdr-hot-lead' AND fired_on = 'threshold'",
    )
    .fetch_all(pool)
    .await
    .expect("automation_tasks");
    let sdr_set: BTreeSet<String> = sdr.iter().cloned().collect();
    assert_eq!(sdr.len(), sdr_set.len(), "sdr task doubled");
    assert_eq!(sdr_set, expected.sdr, "sdr-hot-lead tasks");
    let all_tasks = stack
        .count(pool, "SELECT count(*) FROM automation_tasks")
        .await
        .unwrap_or(-1);
    assert_eq!(
        all_tasks as usize,
        expected.thank_you.len() + expected.sdr.len(),
        "automation_tasks holds tasks of no rule"
    );

    // Dead-letter streams empty: nothing was given up on.
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    for s in lag::collect(&nats).await.expect("lag") {
        if s.stream.ends_with("DLQ") {
            assert_eq!(s.messages, 0, "{} is not empty", s.stream);
        }
    }

    Figures {
        sends: workload.sends.len(),
        unique: workload.events.len(),
        duplicates: workload.duplicates(),
        unavailable: log.unavailable,
        transport_errors: log.transport_errors,
        lost: 0,
        doubled: 0,
    }
}

/// Where the copies of doubled events are in the streams and buckets (every
/// message naming the content or one of its event ids), and the lag and
/// process logs: what it takes to tell which hop let a repeat through.
async fn trail(stack: &Stack, doubled: &[(&String, Vec<&str>)]) -> String {
    let texts = crate::scan::stream_texts(stack).await;
    let mut out = String::new();
    for (content_id, ids) in doubled {
        out.push_str(&format!("  {content_id}:\n"));
        for (stream, text) in &texts {
            if text.contains(content_id.as_str()) || ids.iter().any(|id| text.contains(id)) {
                let short: String = text.chars().take(600).collect();
                out.push_str(&format!("    {stream}: {short}\n"));
            }
        }
    }
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    out.push_str(&diagnose(stack, &nats).await);
    out
}
