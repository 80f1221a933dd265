//! Fault injection across real processes: each service of a running
//! pipeline is killed, stopped or made to fail while events flow, and at the
//! end the CRM database must hold exactly what the events sent say — every
//! event the edge accepted once, its duplicates not at all, scores, counters,
//! campaign touches and tasks equal to values computed by the test.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test faults`;
//! `HOOKLINE_QUICK=1` sends fewer events.

use hookline_e2e::check::settle_and_check;
use hookline_e2e::flow::{Flow, watch_readyz};
use hookline_e2e::pipeline::{assert_failures_then_one_success, wait_each_failed};
use hookline_e2e::proxy::Proxy;
use hookline_e2e::send::send_all;
use hookline_e2e::workload::{Figures, Workload, size};
use hookline_e2e::{Service, Stack};
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest wait for the pipeline to settle. A killed webhook-out's
/// in-flight deliveries come back after its ack wait (request time-out 3 s
/// + 30 s here), a killed dedupe's after 30 s.
const IDLE: Duration = Duration::from_secs(180);
/// `HOOKLINE__OPS__SHUTDOWN_GRACE` of the stack.
const GRACE: Duration = Duration::from_secs(5);
/// Room for process start-up and exit on a busy machine.
const SLACK: Duration = Duration::from_secs(5);

const CONSUMERS: [Service; 3] = [
    Service::Consumer("event-store"),
    Service::Consumer("engagement-score"),
    Service::Consumer("automation"),
];

/// A running stack whose webhook-out times requests out after 3 s, so the
/// deliveries a killed webhook-out held come back after 33 s (its ack wait
/// is the request time-out + 30 s) instead of 45 s.
async fn started_stack() -> Stack {
    let mut stack = Stack::new();
    stack
        .extra_env
        .push(("HOOKLINE__WEBHOOK_OUT__REQUEST_TIMEOUT".into(), "3s".into()));
    stack.start_all().await;
    stack
}

/// Sends `n` more groups of events (grouped retries allowed) and waits for
/// the edge's answers.
async fn send(stack: &Stack, w: &mut Workload, n: usize) {
    let events = w.batch(n, true);
    send_all(stack, w, events).await;
}

/// Brings `service` back after a fault hit it while `flow` was sending:
/// the edge first (the flow's remaining requests need it, and `pause` keeps
/// it down a moment), any other after the flow is done.
async fn bring_back(
    stack: &mut Stack,
    service: Service,
    flow: Flow,
    w: &mut Workload,
    pause: Duration,
) {
    if service == Service::Edge {
        tokio::time::sleep(pause).await;
        stack.start(Service::Edge).await;
        flow.finish(w).await;
    } else {
        flow.finish(w).await;
        stack.start(service).await;
    }
}

/// Sends a batch while a fault is in force, waits until each of its events
/// failed at least once, and lets the fault last a few seconds more (bounded,
/// not a wait for an outcome); returns the groups sent.
async fn send_through_outage(stack: &Stack, w: &mut Workload, n: usize) -> Range<usize> {
    let first = w.groups().len();
    send(stack, w, n).await;
    let outage_groups = first..w.groups().len();
    let sent_in_outage = w
        .accepted_by_group()
        .into_iter()
        .filter(|(g, _)| outage_groups.contains(g))
        .collect();
    wait_each_failed(stack, &sent_in_outage).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    outage_groups
}

/// The events sent during the outage that survived dedupe; there must be some.
fn outage_ids(w: &Workload, outage_groups: Range<usize>, f: &Figures) -> BTreeSet<String> {
    let ids: BTreeSet<String> = w
        .accepted_ids_of(outage_groups)
        .intersection(&f.survivors)
        .cloned()
        .collect();
    assert!(!ids.is_empty());
    ids
}

/// Scenario 1: `kill -9` of every process in turn while events flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_each_service_mid_stream() {
    let mut stack = started_stack().await;
    let mut w = Workload::new(0x5eed_0001);
    let per_phase = size(30, 5);
    send(&stack, &mut w, per_phase).await;

    // The slowest to recover first (their in-flight messages wait for the
    // ack wait), so their tails overlap the later phases.
    let mut order = vec![Service::WebhookOut, Service::Dedupe, Service::Ingest];
    order.extend(CONSUMERS);
    order.push(Service::Edge);
    let mut interrupted = Vec::new();
    for service in &order {
        let edge = *service == Service::Edge;
        // Requests to a dying edge have an unknown fate: groups of one only.
        let events = w.batch(per_phase, !edge);
        let flow = Flow::start(&stack, events, edge);
        flow.midway().await;
        stack.kill9(*service);
        if let Some(n) = stack.unacked(*service).await {
            interrupted.push(format!("{service:?} {n}"));
        }
        // Keep the edge down a moment: it binds its port before anything
        // else, so a quick restart would just queue requests.
        bring_back(
            &mut stack,
            *service,
            flow,
            &mut w,
            Duration::from_millis(300),
        )
        .await;
    }
    send(&stack, &mut w, per_phase).await;

    let f = settle_and_check(&stack, &w, IDLE).await;
    f.report(
        "kill -9",
        &format!(
            "{} kill -9; unacked messages held by the killed process: {}",
            order.len(),
            interrupted.join(", ")
        ),
    );
    stack.cleanup().await;
}

/// Scenario 2: crm-ingest down for a while, then back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_down_for_a_while() {
    // Default request time-out: a slow answer is not retried, so "exactly
    // one success per event" holds.
    let mut stack = Stack::new();
    stack.start_all().await;
    let mut w = Workload::new(0x5eed_0002);
    let per_phase = size(60, 8);
    send(&stack, &mut w, per_phase).await;
    // Delivered before the outage, so the outage hits only the next batch.
    stack.wait_idle(IDLE).await;

    stack.kill9(Service::Ingest);
    // Retries pile up while the outage lasts.
    let outage_groups = send_through_outage(&stack, &mut w, per_phase).await;
    stack.start(Service::Ingest).await;
    send(&stack, &mut w, per_phase).await;

    let f = settle_and_check(&stack, &w, IDLE).await;
    let outage_ids = outage_ids(&w, outage_groups, &f);
    let failures = assert_failures_then_one_success(&stack, &outage_ids, |a| {
        a.status_code.is_none() && a.error.is_some()
    })
    .await;
    f.report(
        "crm-ingest down",
        &format!(
            "ingest down ~3 s+, {failures} failed deliveries of {} events",
            outage_ids.len()
        ),
    );
    stack.cleanup().await;
}

/// Scenario 3: crm-ingest answering 500 for a while (a proxy in front of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answering_500_for_a_while() {
    let mut stack = Stack::new();
    let proxy = Proxy::start(stack.url(Service::Ingest)).await;
    stack.extra_env.push((
        "CRM_WEBHOOK_URL".into(),
        format!("{}/api/webhooks/resources-centre", proxy.url()),
    ));
    stack.start_all().await;
    let mut w = Workload::new(0x5eed_0003);
    let per_phase = size(60, 8);
    send(&stack, &mut w, per_phase).await;
    stack.wait_idle(IDLE).await;

    proxy.set_failing(true);
    let outage_groups = send_through_outage(&stack, &mut w, per_phase).await;
    proxy.set_failing(false);
    send(&stack, &mut w, per_phase).await;

    let f = settle_and_check(&stack, &w, IDLE).await;
    let outage_ids = outage_ids(&w, outage_groups, &f);
    let failures =
        assert_failures_then_one_success(&stack, &outage_ids, |a| a.status_code == Some(500)).await;
    // Exactly one successful delivery per event reached crm-ingest.
    let delivered = proxy.delivered.lock().expect("not poisoned").clone();
    assert_eq!(
        delivered
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        f.survivors,
        "every unique event is delivered, and nothing else"
    );
    assert!(
        delivered.values().all(|n| *n == 1),
        "an event was delivered twice: {delivered:?}"
    );
    let injected = proxy.injected.load(Ordering::SeqCst);
    f.report(
        "crm-ingest 500",
        &format!(
            "{injected} injected 500s, {failures} failed deliveries of {} events",
            outage_ids.len()
        ),
    );
    stack.cleanup().await;
}

/// Lifecycle: SIGTERM to each process while events flow; each
/// drains and exits by itself, successfully, within the grace period, and
/// after restarts nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_drains_and_loses_nothing() {
    let mut stack = started_stack().await;
    let mut w = Workload::new(0x5eed_0004);
    let per_phase = size(30, 5);
    send(&stack, &mut w, per_phase).await;

    let mut order = vec![Service::Dedupe, Service::WebhookOut, Service::Ingest];
    order.extend(CONSUMERS);
    order.push(Service::Edge);
    let mut slowest = Duration::ZERO;
    let mut saw_503 = Vec::new();
    for service in &order {
        let edge = *service == Service::Edge;
        let events = w.batch(per_phase, !edge);
        let flow = Flow::start(&stack, events, edge);
        flow.midway().await;
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_readyz(
            stack.http().clone(),
            format!("{}/readyz", stack.url(*service)),
            stop.clone(),
        ));
        let started = Instant::now();
        // SIGINT (Ctrl-C) for one of them: both signals drain.
        let signal = if *service == Service::Consumer("automation") {
            "INT"
        } else {
            "TERM"
        };
        stack.signal(*service, signal);
        let clean = stack.wait_exit(*service, GRACE + SLACK).await;
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let drain = watcher.await.expect("readyz watcher");
        assert!(
            clean,
            "{service:?} did not exit by itself with success within {:?} of SIG{signal}",
            GRACE + SLACK
        );
        slowest = slowest.max(took);
        if drain.unavailable > 0 {
            saw_503.push(format!("{service:?}"));
        }
        bring_back(&mut stack, *service, flow, &mut w, Duration::ZERO).await;
    }
    send(&stack, &mut w, per_phase).await;

    let f = settle_and_check(&stack, &w, IDLE).await;
    f.report(
        "SIGTERM",
        &format!(
            "{} SIGTERM/SIGINT, slowest exit {slowest:?}, /readyz 503 observed for {saw_503:?}",
            order.len()
        ),
    );
    stack.cleanup().await;
}
