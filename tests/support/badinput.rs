//! Sending large numbers of malformed HTTP requests to a running service and
//! judging the answers.
//!
//! Most requests go through reqwest (keep-alive, fast); those reqwest cannot
//! express — odd request targets it would normalise, raw bytes in the
//! request line, broken chunked bodies — go over a plain TCP connection,
//! byte for byte as generated.

use futures::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the service must do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Refuse it with a 4xx: nothing may be published.
    Reject,
    /// Accept it with a 2xx (a valid body with odd headers): it is
    /// published once, and counted.
    Accept,
}

/// One generated request.
#[derive(Clone, Debug)]
pub struct BadRequest {
    /// Category, for the report.
    pub kind: &'static str,
    /// The method, as sent.
    pub method: Vec<u8>,
    /// The request target (path and query), as sent.
    pub target: Vec<u8>,
    /// Headers, as sent (reqwest adds `host`, `content-length`).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send over raw TCP instead of reqwest.
    pub raw: bool,
    /// What must happen.
    pub expect: Expect,
}

impl BadRequest {
    /// A request sent through reqwest.
    pub fn new(kind: &'static str, method: &str, target: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            method: method.as_bytes().to_vec(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            raw: false,
            expect: Expect::Reject,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    /// Sends it over raw TCP.
    pub fn raw(mut self) -> Self {
        self.raw = true;
        self
    }

    /// Expects a 2xx.
    pub fn accepted(mut self) -> Self {
        self.expect = Expect::Accept;
        self
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        let show = |b: &[u8], n: usize| {
            let s = String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned();
            if b.len() > n {
                format!("{s}…({} bytes)", b.len())
            } else {
                s
            }
        };
        format!(
            "[{}] {} {} headers={} body={:?}",
            self.kind,
            show(&self.method, 16),
            show(&self.target, 120),
            self.headers.len(),
            show(&self.body, 160)
        )
    }
}

/// What came back.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// An HTTP answer: status and body.
    Status(u16, Vec<u8>),
    /// The connection ended (or failed) without an answer.
    NoAnswer(String),
}

async fn send_reqwest(http: &reqwest::Client, base: &str, r: &BadRequest) -> Outcome {
    let method = match reqwest::Method::from_bytes(&r.method) {
        Ok(m) => m,
        Err(e) => return Outcome::NoAnswer(format!("generator: bad method: {e}")),
    };
    let url = format!("{base}{}", String::from_utf8_lossy(&r.target));
    let mut req = http.request(method, url);
    for (name, value) in &r.headers {
        let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name),
            reqwest::header::HeaderValue::from_bytes(value),
        ) else {
            return Outcome::NoAnswer("generator: header reqwest cannot send".into());
        };
        req = req.header(n, v);
    }
    if !r.body.is_empty() {
        req = req.body(r.body.clone());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Outcome::Status(status, body)
        }
        Err(e) => Outcome::NoAnswer(format!("{e:?}")),
    }
}

async fn send_raw(addr: SocketAddr, r: &BadRequest) -> Outcome {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let mut req = Vec::with_capacity(r.body.len() + 256);
        req.extend_from_slice(&r.method);
        req.push(b' ');
        req.extend_from_slice(&r.target);
        req.extend_from_slice(b" HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
        let mut has_length = false;
        for (n, v) in &r.headers {
            has_length |= n.eq_ignore_ascii_case(b"content-length")
                || n.eq_ignore_ascii_case(b"transfer-encoding");
            req.extend_from_slice(n);
            req.extend_from_slice(b": ");
            req.extend_from_slice(v);
            req.extend_from_slice(b"\r\n");
        }
        if !has_length && !r.body.is_empty() {
            req.extend_from_slice(format!("content-length: {}\r\n", r.body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(&r.body);
        // The server may answer and close before reading everything.
        let _ = s.write_all(&req).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if buf.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(Duration::from_secs(20), attempt).await {
        Err(_) => Outcome::NoAnswer("timed out".into()),
        Ok(Err(e)) => Outcome::NoAnswer(e.to_string()),
        Ok(Ok(buf)) => parse_raw(&buf),
    }
}

fn parse_raw(buf: &[u8]) -> Outcome {
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(code) => {
            let body = buf[head_end..].to_vec();
            // Chunked answers: the body check only needs the first chunk.
            let chunked = head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked");
            let body = if chunked {
                let s = String::from_utf8_lossy(&body).into_owned();
                s.split("\r\n")
                    .nth(1)
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec()
            } else {
                body
            };
            Outcome::Status(code, body)
        }
        None if buf.is_empty() => Outcome::NoAnswer("closed without an answer".into()),
        None => Outcome::NoAnswer(format!("not HTTP: {:?}", &head[..head.len().min(80)])),
    }
}

/// Tallies of one endpoint's run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests sent that had to be refused.
    pub rejected_expected: usize,
    /// Requests sent that had to be accepted.
    pub accepted_expected: usize,
    /// 2xx answers (all must be to `Accept` requests).
    pub accepted: usize,
    /// Answers by status (`none` = no answer).
    pub by_status: BTreeMap<String, usize>,
    /// Requests by kind.
    pub by_kind: BTreeMap<&'static str, usize>,
    /// What went wrong, one line each (at most 20 kept), and how many.
    pub failures: Vec<String>,
    /// Total failures.
    pub failure_count: usize,
}

impl Tally {
    fn fail(&mut self, line: String) {
        self.failure_count += 1;
        if self.failures.len() < 20 {
            self.failures.push(line);
        }
    }

    /// Panics listing the failures, if any.
    pub fn assert_clean(&self, endpoint: &str) {
        assert!(
            self.failure_count == 0,
            "{endpoint}: {} of {} requests handled wrongly:\n{}",
            self.failure_count,
            self.rejected_expected + self.accepted_expected,
            self.failures.join("\n")
        );
    }
}

/// Whether a non-empty body is the services' JSON error shape.
fn is_error_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("status").and_then(|s| s.as_str()) == Some("error")
            && v.get("message").is_some_and(|m| m.is_string())
    })
}

fn judge(tally: &mut Tally, r: &BadRequest, outcome: &Outcome) {
    *tally.by_kind.entry(r.kind).or_default() += 1;
    match r.expect {
        Expect::Reject => tally.rejected_expected += 1,
        Expect::Accept => tally.accepted_expected += 1,
    }
    match outcome {
        Outcome::Status(code, body) => {
            *tally.by_status.entry(code.to_string()).or_default() += 1;
            let ok = match r.expect {
                Expect::Reject => (400..500).contains(code),
                Expect::Accept => (200..300).contains(code),
            };
            if (200..300).contains(code) {
                tally.accepted += 1;
            }
            if !ok {
                tally.fail(format!("got {code} for {}", r.describe()));
            } else if (400..500).contains(code) && !body.is_empty() && !is_error_json(body) {
                tally.fail(format!(
                    "{code} without the JSON error shape ({:?}) for {}",
                    String::from_utf8_lossy(&body[..body.len().min(120)]),
                    r.describe()
                ));
            }
        }
        Outcome::NoAnswer(why) => {
            *tally.by_status.entry("none".into()).or_default() += 1;
            // Only a raw request that is not even HTTP may go unanswered.
            if !r.raw || r.expect == Expect::Accept {
                tally.fail(format!("no answer ({why}) for {}", r.describe()));
            }
        }
    }
}

/// Sends every request of `requests` (generated lazily, so huge bodies are
/// not all in memory at once) with `concurrency` in flight, and judges
/// each answer.
pub async fn run<I>(base: &str, requests: I, concurrency: usize) -> Tally
where
    I: Iterator<Item = BadRequest>,
{
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("base is http://ip:port");
    let tally = Arc::new(Mutex::new(Tally::default()));
    futures::stream::iter(requests)
        .for_each_concurrent(concurrency, |r| {
            let (http, tally) = (http.clone(), tally.clone());
            async move {
                let outcome = if r.raw {
                    send_raw(addr, &r).await
                } else {
                    send_reqwest(&http, base, &r).await
                };
                judge(&mut tally.lock().expect("tally"), &r, &outcome);
            }
        })
        .await;
    Arc::try_unwrap(tally)
        .expect("senders done")
        .into_inner()
        .expect("tally")
}
