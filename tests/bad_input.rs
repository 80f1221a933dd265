//! Malformed HTTP against the running edge and crm-ingest processes.
//!
//! proptest strategies (tests/bad_input/) generate, per endpoint, at least
//! 10,000 requests that must be refused (1,000 with `HOOKLINE_QUICK=1`):
//! broken JSON, wrong types, missing and over-long fields, invalid UTF-8,
//! wrong content types, absurd headers (very long, many, non-ASCII), wrong
//! methods, odd paths and request targets, bodies over 1 MiB, malformed
//! HTTP/1.1 — and for crm-ingest, correctly signed deliveries with broken
//! envelopes as well as unsigned, wrongly signed and stale ones. Mixed in
//! are a few *valid* requests with odd but legal headers, which must be
//! accepted.
//!
//! Afterwards: no 5xx (not even 503: NATS is up), every refusal a 4xx
//! (with the JSON error body when it has one), every valid one a 2xx, both
//! processes alive and healthy, no panic in their logs, and the streams
//! grew by exactly the number of 2xx answers: nothing refused was
//! published.
//!
//! The run is seeded; the seed is printed, and `HOOKLINE_BADINPUT_SEED=<n>`
//! replays a run.

#[path = "bad_input/bodies.rs"]
mod bodies;
#[path = "bad_input/common.rs"]
mod common;
#[path = "bad_input/edge.rs"]
mod edge;
#[path = "bad_input/http.rs"]
mod http;
#[path = "bad_input/ingest.rs"]
mod ingest;

use hookline_core::names;
use hookline_core::nats::Nats;
use hookline_e2e::badinput::{self, BadRequest, Expect, Tally};
use hookline_e2e::{Service, Stack};
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// In-flight requests.
const CONCURRENCY: usize = 32;

fn bad_per_endpoint() -> usize {
    if std::env::var("HOOKLINE_QUICK").is_ok_and(|v| v == "1") {
        1_000
    } else {
        10_000
    }
}

fn seed() -> u64 {
    std::env::var("HOOKLINE_BADINPUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// Requests from `strategy` until `bad` of them were ones to refuse
/// (generated lazily: only those in flight are in memory).
fn requests(
    strategy: BoxedStrategy<BadRequest>,
    bad: usize,
    seed: u64,
) -> impl Iterator<Item = BadRequest> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut refused = 0;
    std::iter::from_fn(move || {
        if refused >= bad {
            return None;
        }
        let r = strategy
            .new_tree(&mut runner)
            .expect("generator works")
            .current();
        if r.expect == Expect::Reject {
            refused += 1;
        }
        Some(r)
    })
}

async fn stream_messages(nats: &Nats, base: &str) -> u64 {
    let mut s = nats
        .js
        .get_stream(nats.names.stream(base))
        .await
        .expect("stream declared");
    s.info().await.expect("stream info").state.messages
}

fn summary(endpoint: &str, t: &Tally) -> String {
    format!(
        "FIGURES bad-input {endpoint}: refused-expected={} accepted-expected={} accepted={} statuses={:?} failures={}\n  kinds={:?}",
        t.rejected_expected,
        t.accepted_expected,
        t.accepted,
        t.by_status,
        t.failure_count,
        t.by_kind
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_are_refused_without_5xx_crash_or_publish() {
    let mut stack = Stack::new();
    stack.start(Service::Edge).await;
    stack.start(Service::Ingest).await;
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    let raw_before = stream_messages(&nats, names::RC_RAW).await;
    let crm_before = stream_messages(&nats, names::CRM_EVENTS).await;

    let seed = seed();
    println!("bad input seed: {seed} (HOOKLINE_BADINPUT_SEED={seed} replays it)");
    let n = bad_per_endpoint();
    let edge_url = stack.url(Service::Edge);
    let ingest_url = stack.url(Service::Ingest);
    let runs: [(&str, &str, BoxedStrategy<BadRequest>); 4] = [
        (
            "POST /api/page-view",
            &edge_url,
            edge::json_endpoint(edge::PAGE_VIEW),
        ),
        (
            "POST /api/form-submission",
            &edge_url,
            edge::json_endpoint(edge::FORM),
        ),
        ("GET /t/{type}/{slug}.gif", &edge_url, edge::pixel()),
        (
            "POST /api/webhooks/resources-centre",
            &ingest_url,
            ingest::deliveries(),
        ),
    ];
    let mut tallies = Vec::new();
    for (i, (name, base, strategy)) in runs.into_iter().enumerate() {
        let started = std::time::Instant::now();
        let tally = badinput::run(base, requests(strategy, n, seed ^ i as u64), CONCURRENCY).await;
        println!("{} in {:.1?}", summary(name, &tally), started.elapsed());
        tallies.push((name, tally));
    }

    // Both processes survived and are healthy.
    for svc in [Service::Edge, Service::Ingest] {
        for probe in ["/healthz", "/readyz"] {
            let r = stack
                .http()
                .get(format!("{}{probe}", stack.url(svc)))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{svc:?} {probe} unreachable after the bad input: {e}"));
            assert_eq!(r.status(), 200, "{svc:?} {probe} after the bad input");
        }
    }
    let logs = stack.logs();
    assert!(!logs.contains("panicked"), "a process panicked:\n{logs}");

    for (name, tally) in &tallies {
        assert!(tally.rejected_expected >= n, "{name}: too few bad requests");
        tally.assert_clean(name);
    }
    // Nothing refused was published: the streams grew by the 2xx only.
    let edge_accepted: usize = tallies[..3].iter().map(|(_, t)| t.accepted).sum();
    let ingest_accepted = tallies[3].1.accepted;
    let raw_after = stream_messages(&nats, names::RC_RAW).await;
    let crm_after = stream_messages(&nats, names::CRM_EVENTS).await;
    assert_eq!(
        raw_after - raw_before,
        edge_accepted as u64,
        "RC_RAW grew by other than the edge's 2xx answers"
    );
    assert_eq!(
        crm_after - crm_before,
        ingest_accepted as u64,
        "CRM_EVENTS grew by other than the ingest's 2xx answers"
    );
    stack.cleanup().await;
}
