//! Sending a workload to the edge: lanes, pacing, and what each request's
//! answer means.

use crate::stack::{Service, Stack};
use crate::workload::{Outcome, Planned, Workload};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How to send a batch.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Requests in flight at once.
    pub lanes: usize,
    /// Pause of each lane between its requests, so a batch lasts long enough
    /// for a fault to hit it mid-stream (not a wait for an outcome).
    pub gap: Duration,
    /// What a request without a 202 means.
    pub on_refusal: OnRefusal,
}

/// What a lane does with a request the edge did not answer 202.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// The test fails: every request must be answered 202.
    Fail,
    /// Expected (the edge is being killed): recorded as unknown, then the
    /// lane waits for the edge's `/healthz` before going on.
    Record,
    /// Sent again a second later, as a browser following `Retry-After: 1`
    /// would, until it gets a 202 (for up to [`RESEND_FOR`]). Every attempt
    /// is recorded: an unanswered one may still have landed.
    Resend,
}

impl Pace {
    /// As fast as 8 lanes go; every request must be accepted.
    pub const FAST: Pace = Pace {
        lanes: 8,
        gap: Duration::ZERO,
        on_refusal: OnRefusal::Fail,
    };
}

/// How long a resending lane keeps trying one event.
pub const RESEND_FOR: Duration = Duration::from_secs(120);

/// Sends `events` to the edge at `pace`. `progress` counts finished
/// requests, so a test can inject its fault mid-stream.
pub async fn send(
    http: reqwest::Client,
    edge: String,
    events: Vec<Planned>,
    pace: Pace,
    progress: Arc<AtomicUsize>,
) -> Vec<(usize, Outcome)> {
    let lanes = pace.lanes.max(1);
    let queue = Arc::new(std::sync::Mutex::new(events.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..lanes {
        let (http, edge, progress, queue) =
            (http.clone(), edge.clone(), progress.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().expect("not poisoned").next();
                let Some(p) = next else { break };
                if pace.on_refusal == OnRefusal::Resend {
                    resend_until_accepted(&http, &edge, &p, &mut out).await;
                } else {
                    let outcome = post(&http, &edge, &p).await;
                    if !outcome.is_accepted() {
                        assert!(
                            pace.on_refusal == OnRefusal::Record,
                            "the edge refused an event it should take: {outcome:?}"
                        );
                        wait_healthy(&http, &edge).await;
                    }
                    out.push((p.group, outcome));
                }
                progress.fetch_add(1, Ordering::SeqCst);
                if !pace.gap.is_zero() {
                    tokio::time::sleep(pace.gap).await;
                }
            }
            out
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.expect("sender lane"));
    }
    out
}

/// Sends `p` until the edge answers 202, recording every attempt.
async fn resend_until_accepted(
    http: &reqwest::Client,
    edge: &str,
    p: &Planned,
    out: &mut Vec<(usize, Outcome)>,
) {
    let deadline = std::time::Instant::now() + RESEND_FOR;
    loop {
        let outcome = post(http, edge, p).await;
        let accepted = outcome.is_accepted();
        out.push((p.group, outcome));
        if accepted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "group {}: no 202 in {RESEND_FOR:?} of resending: {:?}",
            p.group,
            out.last()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn post(http: &reqwest::Client, edge: &str, p: &Planned) -> Outcome {
    let resp = http
        .post(format!("{edge}{}", p.kind.path()))
        .timeout(Duration::from_secs(20))
        .json(&p.body)
        .send()
        .await;
    match resp {
        Ok(r) if r.status().as_u16() == 202 => {
            let body: Value = match r.json().await {
                Ok(v) => v,
                Err(e) => return Outcome::Unknown(format!("202 without a body: {e}")),
            };
            match body["id"].as_str() {
                Some(id) => Outcome::Accepted(id.to_string()),
                None => Outcome::Unknown(format!("202 without an id: {body}")),
            }
        }
        Ok(r) if r.status().as_u16() == 503 => Outcome::Unavailable,
        Ok(r) => Outcome::Unknown(format!("HTTP {}", r.status())),
        Err(e) => Outcome::Unknown(format!("request failed: {e}")),
    }
}

async fn wait_healthy(http: &reqwest::Client, edge: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{edge}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the edge did not come back within 90 s");
}

/// Sends `events` and records the outcomes; every one must be accepted.
pub async fn send_all(stack: &Stack, w: &mut Workload, events: Vec<Planned>) {
    let results = send(
        stack.http().clone(),
        stack.url(Service::Edge),
        events,
        Pace::FAST,
        Arc::default(),
    )
    .await;
    w.record(results);
}
