//! The HTTP load generator: many keep-alive HTTP/1.1 connections (hyper,
//! one request in flight on each), open loop at a fixed offered rate or
//! closed loop as fast as the server answers.
//!
//! Open loop follows wrk2: connection `i` sends its `k`-th request at
//! `start + (k·C + i) / rate`, and latency is measured from that intended
//! time, not from when the request actually left. A server that stalls
//! therefore shows up as latency (the requests that queued behind the
//! stall), instead of silently lowering the offered rate (coordinated
//! omission).

use crate::report::{self, LoadResult};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A desktop Chrome user agent: the edge flags curl, wget, python-requests
/// and the like as bots, and dedupe drops bots.
pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Longest wait for one answer before the request counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Consecutive connection failures after which a connection gives up.
const MAX_CONSECUTIVE_FAILURES: u32 = 50;

/// Builds the body of request number `n` (unique across the run).
pub type BodyFn = Arc<dyn Fn(u64) -> Bytes + Send + Sync>;

/// An answer the edge accepted, for end-to-end tracking.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// The event id from the 202 body.
    pub id: String,
    /// When the 202 arrived (monotonic).
    pub at: Instant,
    /// When the 202 arrived (wall clock, for comparing with Postgres).
    pub wall: DateTime<Utc>,
    /// Inside the measured period (not warm-up).
    pub measured: bool,
}

/// One load run.
#[derive(Clone)]
pub struct Spec {
    /// What is measured (goes into the result).
    pub target: String,
    /// Server address (loopback only, by the caller's choice).
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Keep-alive connections.
    pub connections: usize,
    /// Offered requests/s; `None` is closed loop.
    pub rate: Option<f64>,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
    /// Request bodies.
    pub body: BodyFn,
    /// Where accepted event ids go (end-to-end runs).
    pub accepted: Option<mpsc::UnboundedSender<Accepted>>,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    last_done: Option<Instant>,
}

/// Runs the load and returns what it measured.
pub async fn run(spec: Spec) -> LoadResult {
    let spec = Arc::new(spec);
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..spec.connections {
        tasks.spawn(connection(spec.clone(), i as u64, start, measure_from, end));
    }
    let mut hist = report::histogram();
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok((h, t)) = done {
            let _ = hist.add(&h);
            tally.sent += t.sent;
            tally.ok += t.ok;
            tally.errors += t.errors;
            for (k, v) in t.statuses {
                *tally.statuses.entry(k).or_default() += v;
            }
            tally.last_done = tally.last_done.max(t.last_done);
        }
    }
    // A server that fell behind answers after `end`: the rate is over the
    // time it really took.
    let seconds = tally
        .last_done
        .map_or(0.0, |t| {
            t.saturating_duration_since(measure_from).as_secs_f64()
        })
        .max(spec.duration.as_secs_f64());
    LoadResult {
        target: spec.target.clone(),
        mode: if spec.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        offered_rate: spec.rate,
        connections: spec.connections,
        seconds: report::round2(seconds),
        sent: tally.sent,
        ok: tally.ok,
        errors: tally.errors,
        statuses: tally.statuses,
        accepted_per_sec: report::round2(tally.ok as f64 / seconds),
        latency: report::Latency::of(&hist),
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[derive(serde::Deserialize)]
struct AcceptedBody {
    id: String,
}

type Sender = SendRequest<Full<Bytes>>;

/// Makes `slot` hold a sender ready for a request: the kept-alive one if it
/// still is, else a new connection.
async fn ready(slot: &mut Option<Sender>, addr: SocketAddr) -> Result<&mut Sender, String> {
    let usable = match slot.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !usable {
        *slot = Some(connect(addr).await?);
    }
    slot.as_mut().ok_or_else(|| "no connection".to_string())
}

/// Sends one request and reads the whole answer, within [`REQUEST_TIMEOUT`].
async fn exchange(
    s: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, body.to_bytes()))
    })
    .await;
    answer.map_err(|_| "timed out".to_string())?
}

/// One request's timing: when it was due, when its answer came, and
/// whether it falls in the measured period.
struct Timing {
    intended: Instant,
    done: Instant,
    measured: bool,
}

impl Tally {
    /// Counts an answer; a 2xx is timed and its event id (if any) passed on.
    fn answered(
        &mut self,
        hist: &mut Histogram<u64>,
        accepted: Option<&mpsc::UnboundedSender<Accepted>>,
        (status, body): (StatusCode, Bytes),
        t: Timing,
    ) {
        if !status.is_success() {
            if t.measured {
                *self.statuses.entry(status.as_u16()).or_default() += 1;
            }
            return;
        }
        if t.measured {
            self.ok += 1;
            self.last_done = Some(t.done);
            report::record(hist, t.done - t.intended);
        }
        if let Some(tx) = accepted
            && let Ok(b) = serde_json::from_slice::<AcceptedBody>(&body)
        {
            let _ = tx.send(Accepted {
                id: b.id,
                at: t.done,
                wall: Utc::now(),
                measured: t.measured,
            });
        }
    }
}

/// One connection's loop: its share of the schedule, one request at a time.
async fn connection(
    spec: Arc<Spec>,
    index: u64,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> (Histogram<u64>, Tally) {
    let mut hist = report::histogram();
    let mut tally = Tally::default();
    let conns = spec.connections as u64;
    let host = spec.addr.to_string();
    let mut sender: Option<Sender> = None;
    let mut failures = 0u32;
    for k in 0u64.. {
        let n = k * conns + index;
        let intended = match spec.rate {
            Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
            None => Instant::now().max(start),
        };
        if intended >= end
            || failures >= MAX_CONSECUTIVE_FAILURES
            || Instant::now() >= end + REQUEST_TIMEOUT
        {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let measured = intended >= measure_from;
        if measured {
            tally.sent += 1;
        }
        let req = Request::builder()
            .method(Method::POST)
            .uri(spec.path.as_str())
            .header(HOST, host.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, BROWSER_UA)
            .body(Full::new((spec.body)(n)))
            .expect("static request parts are valid");
        let answer = match ready(&mut sender, spec.addr).await {
            Ok(s) => exchange(s, req).await,
            Err(e) => {
                if failures == 0 {
                    eprintln!("connection {index}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(e)
            }
        };
        let done = Instant::now();
        match answer {
            Ok(answer) => {
                failures = 0;
                let timing = Timing {
                    intended,
                    done,
                    measured,
                };
                tally.answered(&mut hist, spec.accepted.as_ref(), answer, timing);
            }
            Err(_) => {
                failures += 1;
                if measured {
                    tally.errors += 1;
                }
                sender = None;
            }
        }
    }
    (hist, tally)
}

/// Page-view bodies: every request a different `content_id` (so dedupe
/// forwards it); `contact_id` from a pool of `contacts` known visitors, and
/// every `anonymous_every`-th request anonymous (the edge computes its
/// fingerprint), like a real mix.
pub fn page_view_bodies(run: &str, contacts: u64, anonymous_every: u64) -> BodyFn {
    let run = run.to_string();
    Arc::new(move |n| {
        let contact = if anonymous_every > 0 && n.is_multiple_of(anonymous_every) {
            String::new()
        } else {
            format!(r#","contact_id":"c-{run}-{}""#, n % contacts.max(1))
        };
        Bytes::from(format!(
            r#"{{"content_type":"resource","content_id":"r-{run}-{n}","slug":"bench-resource-{n}","title":"Benchmark resource {n}","community":"bench"{contact},"url":"https://rc.example.org/resources/bench-resource-{n}?utm_campaign=bench"}}"#
        ))
    })
}
