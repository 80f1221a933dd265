//! Start-up the way orchestrators do it: everything at the same moment.
//!
//! - Services started before their NATS server answer `/readyz` with 503
//!   (not silence, and not 200) while they wait, and become ready once it
//!   is up; none exits.
//! - `hookline all` started before NATS does not die: every listener
//!   answers `/readyz` 503, then 200 once NATS is up.
//! - A fresh 3-node cluster and every service of the pipeline, all started
//!   at once, streams R3 and `nats.url` listing the three nodes: every
//!   process is ready within 60 s and the pipeline then delivers exact
//!   counts. Three times in a row, each on a fresh cluster.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test startup`;
//! `HOOKLINE_QUICK=1` sends fewer events per round.

use hookline_e2e::check::settle_and_check;
use hookline_e2e::nats_server::{NatsCluster, NatsServer};
use hookline_e2e::send::{OnRefusal, Pace, send};
use hookline_e2e::workload::{Workload, size};
use hookline_e2e::{Service, Stack, free_port, hookline_bin, wait_for};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long every process together may take to become ready.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for the pipeline to settle after the workload.
const SETTLE: Duration = Duration::from_secs(180);
/// Fresh clusters started in a row.
const ROUNDS: usize = 3;

/// The `/readyz` status of a process (None: no answer).
async fn readyz(stack: &Stack, service: Service) -> Option<u16> {
    let url = format!("{}/readyz", stack.url(service));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    Some(http.get(url).send().await.ok()?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_started_before_nats_answer_503_then_become_ready() {
    let mut nats = NatsServer::unstarted();
    let mut stack = Stack::new();
    stack.config.nats.url = nats.url();
    let early = [Service::Edge, Service::Dedupe, Service::Ingest];
    for s in early {
        stack.spawn(s);
    }
    // Each answers, and says it is not ready, while NATS is missing.
    for s in early {
        let what = format!("{s:?} to answer /readyz while NATS is down");
        let status = wait_for(&what, READY_LIMIT, || readyz(&stack, s)).await;
        assert_eq!(status, 503, "{s:?} /readyz before NATS is up");
    }
    nats.start_again().await;
    for s in early {
        stack.wait_ready(s).await;
    }
    stack.cleanup().await;
}

/// `/readyz` status at `base` (None: no answer).
async fn status_at(base: &str) -> Option<u16> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let r = http.get(format!("{base}/readyz")).send().await.ok()?;
    Some(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hookline_all_started_before_nats_waits_for_it() {
    let mut nats = NatsServer::unstarted();
    let mut stack = Stack::new();
    stack.config.nats.url = nats.url();
    let keys = [
        "HOOKLINE__EDGE__LISTEN",
        "HOOKLINE__WEBHOOK_OUT__LISTEN",
        "HOOKLINE__INGEST__LISTEN",
        "HOOKLINE__OPS__LISTEN",
    ];
    let ports: Vec<u16> = keys.iter().map(|_| free_port()).collect();
    let mut env = stack.env(Service::Edge);
    env.retain(|(k, _)| !keys.contains(&k.as_str()));
    env.extend(
        keys.iter()
            .zip(&ports)
            .map(|(k, p)| (k.to_string(), format!("127.0.0.1:{p}"))),
    );
    let mut all = Command::new(hookline_bin())
        .arg("all")
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookline all starts");
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    for base in &bases {
        let what = format!("{base}/readyz to answer while NATS is down");
        let status = wait_for(&what, READY_LIMIT, || status_at(base)).await;
        assert_eq!(status, 503, "{base}/readyz before NATS is up");
    }
    nats.start_again().await;
    for base in &bases {
        let what = format!("{base}/readyz to say ready once NATS is up");
        wait_for(&what, READY_LIMIT, || async {
            (status_at(base).await == Some(200)).then_some(())
        })
        .await;
    }
    assert!(
        all.try_wait().ok().flatten().is_none(),
        "hookline all exited"
    );
    let _ = all.kill();
    let _ = all.wait();
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fresh_cluster_and_every_service_started_at_once_come_up_and_count_exactly() {
    for round in 1..=ROUNDS {
        let cluster = NatsCluster::launch().await;
        let mut stack = Stack::new();
        stack.config.nats.url = cluster.urls();
        stack.config.nats.replicas = 3;
        stack
            .extra_env
            .push(("HOOKLINE__NATS__REPLICAS".into(), "3".into()));
        let started = Instant::now();
        for s in Service::ALL {
            stack.spawn(s);
        }
        for s in Service::ALL {
            // Panics with the process's log if it exited.
            stack.wait_ready(s).await;
        }
        let took = started.elapsed();
        println!("round {round}: every process ready after {took:?}");
        assert!(
            took <= READY_LIMIT,
            "round {round}: ready after {took:?}\n{}",
            cluster.logs()
        );

        let groups = size(450, 150);
        let mut w = Workload::with_contacts(0x57a7_0000 + round as u64, groups / 20);
        let sends = w.batch(groups, true);
        // A 503 (a stream leader still settling) is sent again, as a
        // browser would; no request may go unanswered.
        let pace = Pace {
            lanes: 16,
            gap: Duration::ZERO,
            on_refusal: OnRefusal::Resend,
        };
        let results = send(
            stack.http().clone(),
            stack.url(Service::Edge),
            sends,
            pace,
            Arc::default(),
        )
        .await;
        w.record(results);
        let f = settle_and_check(&stack, &w, SETTLE).await;
        assert_eq!(f.unknown, f.unavailable, "requests without an answer");
        f.report(
            &format!("startup round {round}"),
            "every process started at once",
        );
        stack.cleanup().await;
        drop(cluster);
    }
}
