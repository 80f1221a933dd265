//! Infrastructure faults under load, with exact counts afterwards
//! (scenarios 4–6, and the 3-node cluster losing a node):
//!
//! 4. the (test-owned, single-node, file-storage) NATS server killed while
//!    events flow, kept down a few seconds, restarted on the same port and
//!    store dir;
//! 5. the 3-node cluster of `deploy/nats/cluster/`, streams R3, one node
//!    killed mid-run and restarted;
//! 6. the (test-owned) Postgres cluster of both the CRM and RC databases
//!    stopped `-m immediate` mid-run and started again.
//!
//! Every test drives a known workload with known duplicates through the
//! edge, the way a browser would (a 503 is sent again after a second), and
//! checks the CRM tables exactly (`hookline_e2e::check`). The tests run one
//! at a time (a lock): each runs a whole stack plus its own servers, and the
//! machine has two cores. `HOOKLINE_QUICK=1` shrinks the workload.

use hookline_core::EventType;
use hookline_core::nats::{Nats, crm_form_bucket_config, dedupe_bucket_config, stream_configs};
use hookline_e2e::check::settle_and_check;
use hookline_e2e::flow::Flow;
use hookline_e2e::nats_server::{NatsCluster, NatsServer};
use hookline_e2e::pg_cluster::PgCluster;
use hookline_e2e::send::{OnRefusal, Pace};
use hookline_e2e::workload::{Planned, Workload, size};
use hookline_e2e::{Stack, wait_for};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One scenario at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest wait for the pipeline to settle after a fault.
const SETTLE: Duration = Duration::from_secs(180);

/// In-flight requests of the client.
const LANES: usize = 32;

/// The workload of one scenario: dedupe groups of one to three copies
/// (about 1.4 sends a group), shuffled.
fn workload(seed: u64) -> (Workload, Vec<Planned>) {
    let groups = size(1100, 220);
    let mut w = Workload::with_contacts(seed, groups / 20);
    let sends = w.batch(groups, true);
    (w, sends)
}

/// Sends `sends` in the background, resending what gets no 202, paced so
/// the whole lasts about 12 s (4 s in quick mode) when nothing fails: a
/// fault at a third lands mid-stream.
fn start_sending(stack: &Stack, sends: Vec<Planned>) -> Flow {
    let total_ms = size(12_000, 4_000) as u64;
    let per_lane = sends.len().div_ceil(LANES).max(1) as u64;
    let pace = Pace {
        lanes: LANES,
        gap: Duration::from_millis(total_ms / per_lane),
        on_refusal: OnRefusal::Resend,
    };
    Flow::paced(stack, sends, pace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_restart_mid_run_loses_and_doubles_nothing() {
    let _serial = SERIAL.lock().await;
    let mut nats = NatsServer::start().await;
    let mut stack = Stack::new();
    stack.config.nats.url = nats.url();
    // Every verdict with its event id, in the logs kept when a check fails.
    stack
        .extra_env
        .push(("RUST_LOG".into(), "info,dedupe=debug".into()));
    stack.start_all().await;
    let (mut w, sends) = workload(0x1f4a_0004);
    let total = sends.len();
    let flow = start_sending(&stack, sends);
    flow.midway().await;
    // kill -9: harsher than a graceful stop (no flush, clients see the
    // socket die). The outage outlasts the edge's longest wait for a
    // PubAck (one 10 s attempt: `PUBLISH_DEADLINE` is only checked between
    // attempts) on purpose: requests at its start wait and get a 503 (the
    // client resends them), requests near its end wait and get a 202, and
    // every service's pulls and publishes hit a dead server meanwhile.
    nats.kill();
    let at_kill = flow.done.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(12)).await;
    nats.start_again().await;
    flow.finish(&mut w).await;
    assert!(
        at_kill < total,
        "all sends finished before the fault: nothing was tested"
    );

    let f = settle_and_check(&stack, &w, SETTLE).await;
    assert!(
        f.unavailable > 0,
        "no request met the outage (no 503): nothing was tested"
    );
    // The edge itself never went away: every request got an answer.
    assert_eq!(f.unknown, f.unavailable, "requests without an answer");
    f.report("nats-restart", "NATS kill -9, down 12 s, restarted");
    stack.cleanup().await;
    drop(nats);
}

/// Node to kill in the cluster test: n1, the one URL every service was
/// given (async-nats does not split comma-separated URLs). The services must
/// fail over to n2/n3, which they learned from n1's INFO when they connected
/// (async-nats 0.51 only reads `connect_urls` at connect time, so the
/// cluster is fully formed before the services start). Killing n1 is thus
/// the hard case: losing any other node would not move any client.
const KILLED: usize = 0;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_node_killed_mid_run_loses_and_doubles_nothing() {
    let _serial = SERIAL.lock().await;
    let mut cluster = NatsCluster::start().await;
    let mut stack = Stack::new();
    stack.config.nats.url = cluster.url(KILLED);
    stack.config.nats.replicas = 3;
    stack
        .extra_env
        .push(("HOOKLINE__NATS__REPLICAS".into(), "3".into()));
    stack.start_all().await;

    // Streams and dedupe buckets were created with three replicas.
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    let mut names: Vec<String> = stream_configs(&stack.config)
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.extend(EventType::ALL.map(|k| dedupe_bucket_config(&stack.config, k).name));
    names.push(crm_form_bucket_config(&stack.config).name);
    for name in &names {
        let mut s = nats.js.get_stream(name).await.expect("stream exists");
        let info = s.info().await.expect("stream info");
        assert_eq!(info.config.num_replicas, 3, "{name} replicas");
        let peers = info.cluster.as_ref().map_or(0, |c| c.replicas.len());
        assert_eq!(peers, 2, "{name}: leader plus two replicas");
    }
    drop(nats);
    let prefix = stack.config.nats.prefix.clone();
    cluster.wait_stream_leaders(&prefix).await;

    let (mut w, sends) = workload(0x1f4a_0005);
    let flow = start_sending(&stack, sends);
    flow.midway().await;
    let pool = stack.crm_pool().await;
    cluster.kill(KILLED);
    let killed_at = chrono::Utc::now();
    // With n1 gone the pipeline must keep moving on n2 and n3 (quorum 2 of
    // 3): events the edge accepted after the kill (their `ts` is the edge's
    // clock) reach content_events, so every service reconnected to another
    // node and every stream on the way elected a leader.
    wait_for(
        "events accepted after n1 died to reach the CRM while n1 is down",
        Duration::from_secs(60),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM content_events WHERE ts > $1")
                .bind(killed_at + chrono::Duration::seconds(1))
                .fetch_one(&pool)
                .await
                .ok()?;
            (n >= 10).then_some(())
        },
    )
    .await;
    pool.close().await;
    cluster.restart(KILLED).await;
    flow.finish(&mut w).await;
    cluster.wait_stream_leaders(&prefix).await;

    let f = settle_and_check(&stack, &w, SETTLE).await;
    assert_eq!(f.unknown, f.unavailable, "requests without an answer");
    f.report("cluster-node-kill", "n1 of 3 kill -9 mid-run, restarted");
    stack.cleanup().await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_down_mid_run_loses_and_doubles_nothing() {
    let _serial = SERIAL.lock().await;
    let mut pg = PgCluster::start().await;
    let mut stack = Stack::new();
    stack.config.crm.database_url = pg.rehome(&stack.config.crm.database_url);
    stack.config.rc.database_url = pg.rehome(&stack.config.rc.database_url);
    stack.start_all().await;
    let (mut w, sends) = workload(0x1f4a_0006);
    let total = sends.len();
    let flow = start_sending(&stack, sends);
    let pool = stack.crm_pool().await;
    // Stop once the consumers are well into the stream, with events still
    // arriving at the edge.
    let fifth = (w.groups().len() / 5) as i64;
    wait_for(
        "a fifth of the events in content_events",
        Duration::from_secs(120),
        || async {
            let n = stack
                .count(&pool, "SELECT count(*) FROM content_events")
                .await
                .unwrap_or(0);
            (n >= fifth).then_some(n)
        },
    )
    .await;
    pool.close().await;
    pg.stop_immediate();
    let sent_at_stop = flow.done.load(Ordering::SeqCst);
    // Down for longer than the services' pool acquire time-out (10 s), so
    // the outage is not just absorbed by a slow acquire: consumer batches and
    // webhook-out's attempt log fail outright meanwhile and must retry.
    tokio::time::sleep(Duration::from_secs(12)).await;
    pg.start_again().await;
    flow.finish(&mut w).await;
    assert!(
        sent_at_stop < total,
        "all sends finished before the fault: nothing was tested"
    );

    let f = settle_and_check(&stack, &w, SETTLE).await;
    // The edge does not use Postgres: nothing there may fail.
    assert_eq!(f.unknown, 0, "edge hiccup");
    f.report(
        "postgres-down",
        "Postgres stop -m immediate, down 12 s, started",
    );
    stack.cleanup().await;
    drop(pg);
}
