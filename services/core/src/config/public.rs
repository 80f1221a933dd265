//! The sections of the two public listeners, rc-edge and crm-ingest: what
//! they accept, from whom, and how long they wait for it.

use super::serde_duration;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("default address is valid")
}

/// `edge.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Base of page URLs built for pixel views.
    pub public_base_url: String,
    /// Key of the visitor fingerprint HMAC; replicas must share it.
    pub fingerprint_secret: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDRs).
    pub trusted_proxies: Vec<String>,
    /// Requests per second per client IP; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Burst per client IP.
    pub rate_limit_burst: u32,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest a client may take to send its request headers, and again its
    /// body, before it is cut off.
    #[serde(with = "serde_duration")]
    pub read_timeout: Duration,
    /// Serve cleartext HTTP/2 (prior knowledge) beside HTTP/1.1.
    pub http2: bool,
    /// Key of the `identity_sig` HMAC that proves a `contact_id` (or email)
    /// came from the site's server; unset, claimed identities are believed.
    pub identity_secret: Option<String>,
    /// Bearer token of `GET /api/health-sync` (the CRM's `hookline
    /// reconcile` holds it as `reconcile.api_key`). Unset, health-sync is
    /// off (404); set, it must be at least 16 bytes or the edge does not
    /// start.
    pub health_sync_api_key: Option<String>,
    /// Bearer token the Resources Centre's backend sends on
    /// `POST /api/content-published`. Unset (or blank), that route answers
    /// 404: it is never open without a key. Set, it must be at least 16 bytes.
    pub content_api_key: Option<String>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: addr("0.0.0.0:8080"),
            public_base_url: "http://127.0.0.1:8080".into(),
            fingerprint_secret: None,
            trusted_proxies: Vec::new(),
            rate_limit_per_second: 200,
            rate_limit_burst: 400,
            cors_origins: Vec::new(),
            max_body_bytes: MIB,
            read_timeout: crate::http::ServeOptions::READ_TIMEOUT,
            http2: false,
            identity_secret: None,
            health_sync_api_key: None,
            content_api_key: None,
        }
    }
}

/// `ingest.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Accepted secrets (several during rotation); none refuses all.
    pub secrets: Vec<String>,
    /// API key a legacy body must carry, when set.
    pub api_key: Option<String>,
    /// Secrets of `POST /api/webhooks/optimocms`, each exactly as OptimoCMS
    /// shows it (`whsec_…` included); several during rotation; none refuses
    /// every OptimoCMS delivery.
    pub optimocms_secrets: Vec<String>,
    /// Largest accepted clock difference, both ways.
    pub sig_ttl_seconds: u64,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest a client may take to send its request headers, and again its
    /// body, before it is cut off.
    #[serde(with = "serde_duration")]
    pub read_timeout: Duration,
    /// Serve cleartext HTTP/2 (prior knowledge) beside HTTP/1.1.
    pub http2: bool,
    /// Requests per second per client IP (IPv6: per /64); 0 turns it off.
    /// webhook-out sends every delivery from one address, so this sits
    /// above one sender's peak rate.
    pub rate_limit_per_second: u32,
    /// Burst per client IP.
    pub rate_limit_burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDRs), for the
    /// rate limit's client IP.
    pub trusted_proxies: Vec<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: addr("0.0.0.0:8082"),
            secrets: Vec::new(),
            api_key: None,
            optimocms_secrets: Vec::new(),
            sig_ttl_seconds: 300,
            max_body_bytes: MIB,
            read_timeout: crate::http::ServeOptions::READ_TIMEOUT,
            http2: false,
            rate_limit_per_second: 5000,
            rate_limit_burst: 10000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl EdgeConfig {
    /// `content_api_key` when set and not blank.
    pub fn content_api_key(&self) -> Option<&str> {
        self.content_api_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
    }
}
