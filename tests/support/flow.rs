//! Traffic in the background while a test injects a fault, and a watcher of
//! `/readyz` while a process drains.

use crate::send::{OnRefusal, Pace, send};
use crate::stack::{Service, Stack};
use crate::workload::{Outcome, Planned, Workload};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Events being sent in the background.
pub struct Flow {
    task: tokio::task::JoinHandle<Vec<(usize, Outcome)>>,
    /// Requests answered so far.
    pub done: Arc<AtomicUsize>,
    total: usize,
}

impl Flow {
    /// Sends `events` on 6 lanes, each pausing 5 ms between requests: a
    /// steady stream, busy enough that the fault finds work in flight in
    /// the process it hits.
    pub fn start(stack: &Stack, events: Vec<Planned>, tolerate_errors: bool) -> Flow {
        let pace = Pace {
            lanes: 6,
            gap: Duration::from_millis(5),
            on_refusal: if tolerate_errors {
                OnRefusal::Record
            } else {
                OnRefusal::Fail
            },
        };
        Flow::paced(stack, events, pace)
    }

    /// Sends `events` at `pace`.
    pub fn paced(stack: &Stack, events: Vec<Planned>, pace: Pace) -> Flow {
        let done = Arc::new(AtomicUsize::new(0));
        let total = events.len();
        let task = tokio::spawn(send(
            stack.http().clone(),
            stack.url(Service::Edge),
            events,
            pace,
            done.clone(),
        ));
        Flow { task, done, total }
    }

    /// Waits until a third of the events are answered: the fault then hits
    /// a stream in full flow.
    pub async fn midway(&self) {
        let target = (self.total / 3).max(1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.done.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "events are not flowing");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for the last answer and records every outcome in `w`.
    pub async fn finish(self, w: &mut Workload) {
        let results = self.task.await.expect("sender");
        w.record(results);
    }
}

/// What `/readyz` said while a process drained.
#[derive(Debug, Default)]
pub struct Drain {
    /// 200 answers.
    pub ok: usize,
    /// 503 answers.
    pub unavailable: usize,
    /// Connection errors.
    pub refused: usize,
}

/// Polls `/readyz` until the process is gone; once it has said 503 or
/// stopped listening, it must never say 200 again.
pub async fn watch_readyz(http: reqwest::Client, url: String, stop: Arc<AtomicBool>) -> Drain {
    let mut d = Drain::default();
    while !stop.load(Ordering::SeqCst) {
        match http.get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) if r.status().is_success() => {
                assert!(
                    d.unavailable == 0 && d.refused == 0,
                    "{url} turned ready again while draining: {d:?}"
                );
                d.ok += 1;
            }
            Ok(r) if r.status().as_u16() == 503 => d.unavailable += 1,
            Ok(r) => panic!("{url}: unexpected {}", r.status()),
            Err(_) => d.refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d
}
