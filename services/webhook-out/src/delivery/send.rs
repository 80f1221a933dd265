//! One HTTP attempt and what it means.

use super::request::Signed;
use crate::ssrf;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of a failed response kept in the attempt log.
const ERROR_BODY_BYTES: usize = 512;

/// The one HTTP client of the process: pooled keep-alive connections, connect
/// and total time-outs, no proxies (a proxy would bypass the SSRF check), no
/// redirects (a 3xx could point anywhere; it counts as a failure), and a
/// resolver that refuses internal addresses at connect time.
pub fn client(
    connect_timeout: Duration,
    request_timeout: Duration,
    policy: Arc<ssrf::Policy>,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("hookline-webhook-out/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(ssrf::resolver(policy))
        .build()
}

/// What one attempt came to.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// How long it took.
    pub duration: Duration,
    /// What went wrong, for the log (None on success).
    pub error: Option<String>,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The receiver said `webhook-delivery: abort-message`: stop retrying
    /// this message (Svix's convention).
    pub abort: bool,
}

impl Outcome {
    /// 2xx.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the endpoint asks to be disabled.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// Sends one signed request to `url`.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    signed: &Signed,
    policy: &ssrf::Policy,
) -> Outcome {
    let started = Instant::now();
    let parsed =
        match ssrf::parse_url(url).and_then(|u| ssrf::check_url_literal(&u, policy).map(|_| u)) {
            Ok(u) => u,
            Err(e) => {
                return Outcome {
                    error: Some(e.to_string()),
                    duration: started.elapsed(),
                    ..Default::default()
                };
            }
        };
    let mut req = http
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(signed.body.clone());
    for (name, value) in &signed.headers {
        req = req.header(*name, value.as_str());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers();
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| super::retry::parse_retry_after(v, Utc::now()));
            let abort = headers
                .get("webhook-delivery")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("abort-message"));
            let success = (200..300).contains(&status);
            let error = if success {
                // Drain so the connection goes back to the pool.
                let _ = read_prefix(resp, 64 * 1024).await;
                None
            } else {
                let body = read_prefix(resp, ERROR_BODY_BYTES).await;
                Some(if body.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {body}")
                })
            };
            Outcome {
                status: Some(status),
                duration: started.elapsed(),
                error,
                retry_after,
                abort,
            }
        }
        Err(e) => Outcome {
            error: Some(describe(&e)),
            duration: started.elapsed(),
            ..Default::default()
        },
    }
}

async fn read_prefix(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A transport error with its causes (reqwest's own message is only "error
/// sending request").
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    let mut msg = kind.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
