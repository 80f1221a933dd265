//! SSRF guard: webhook targets must not reach the operator's own network.
//!
//! A URL is checked when a webhook is created or changed (so the caller gets
//! a 4xx naming the problem) and again at every delivery, because DNS can
//! change after the check. The delivery-time check sits in the HTTP client's
//! resolver ([`GuardedResolver`]), so the address that was checked is the
//! address that is connected to (no time-of-check/time-of-use gap); IP
//! literals never reach a resolver and are checked by [`check_url_literal`].
//! Like Hook0, a name is refused if ANY of its addresses is internal: an
//! attacker who controls DNS could otherwise mix one public address in.
//!
//! Closed by default: what may pass is a [`Policy`]. Webhooks created through
//! the admin API get `webhook_out.allowed_networks` (internal ranges the
//! operator listed; none by default). The config webhook gets
//! [`Policy::open`], because the operator wrote its URL (e.g. the ingest
//! container on the compose network).

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("invalid URL: {shown:?}: {source}")]
    Parse {
        /// The URL as given, credentials hidden.
        shown: String,
        /// What the parser said.
        #[source]
        source: url::ParseError,
    },
    /// A URL, but not an absolute http(s) one.
    #[error("invalid URL: {0}")]
    Invalid(String),
    /// The host does not resolve.
    #[error("URL host {0} does not resolve")]
    Unresolvable(String),
    /// The host is or resolves to an internal address.
    #[error(
        "URL host {host} resolves to {addr}, a {kind} address; refused (list its range in webhook_out.allowed_networks to allow)"
    )]
    Private {
        /// The URL's host.
        host: String,
        /// The offending address.
        addr: IpAddr,
        /// What kind of address it is.
        kind: &'static str,
    },
}

/// The kind of non-public address `ip` is, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_documentation() => "documentation",
        (0, _, _) => "this-network",
        (100, b, _) if (64..128).contains(&b) => "shared (CGNAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 88, 99) => "6to4 relay",
        (198, b, _) if b == 18 || b == 19 => "benchmarking",
        (a, _, _) if a >= 240 => "reserved",
        _ => return None,
    };
    Some(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4).map(|_| "IPv4-mapped internal");
    }
    let seg = ip.segments();
    let kind = match seg {
        // SIIT ::ffff:0:a.b.c.d (RFC 6052/7915): a translator may turn it
        // into any IPv4 address, internal ones included.
        [0, 0, 0, 0, 0xffff, 0, _, _] => "IPv4-translated (SIIT)",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        [s0, ..] if s0 & 0xfe00 == 0xfc00 => "unique-local",
        [s0, ..] if s0 & 0xffc0 == 0xfe80 => "link-local",
        [s0, ..] if s0 & 0xffc0 == 0xfec0 => "site-local",
        [0x2002, ..] => "6to4",
        [0x0064, 0xff9b, ..] => "NAT64",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x2001, s1, ..] if s1 < 0x0200 => "IETF protocol assignment",
        [0x0100, 0, 0, 0, ..] => "discard-only",
        // IPv4-compatible (deprecated) ::a.b.c.d
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        _ => return None,
    };
    Some(kind)
}

/// Which internal addresses a webhook may reach.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Every address passes (the config webhook, or
    /// `webhook_out.allow_private_networks` in development and tests).
    pub allow_all: bool,
    /// Internal ranges that pass (`webhook_out.allowed_networks`).
    pub allowed: Vec<IpNet>,
}

impl Policy {
    /// What API-created webhooks may reach under `webhook_out.*`.
    pub fn for_api(config: &hookline_core::config::WebhookOutConfig) -> Self {
        Self {
            allow_all: config.allow_private_networks,
            allowed: config.allowed_networks.clone(),
        }
    }

    /// Anything: for the webhook the operator wrote in config.
    pub const fn open() -> Self {
        Self {
            allow_all: true,
            allowed: Vec::new(),
        }
    }

    /// Refuses `ip` when it is internal and not in an allowed range. An
    /// IPv4-mapped IPv6 address is matched as its IPv4 address too.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), UrlError> {
        if self.allow_all {
            return Ok(());
        }
        let Some(kind) = classify(ip) else {
            return Ok(());
        };
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        Err(UrlError::Private {
            host: host.to_string(),
            addr: ip,
            kind,
        })
    }
}

/// Parses and checks the shape of a target URL: absolute `http`/`https`
/// with a host. Returns it normalised.
pub fn parse_url(raw: &str) -> Result<url::Url, UrlError> {
    // Errors show the URL with any credentials in it hidden.
    let shown = crate::redact::url(raw);
    let url = url::Url::parse(raw.trim()).map_err(|source| UrlError::Parse {
        shown: shown.clone(),
        source,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Invalid(format!(
            "{shown:?}: scheme must be http or https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::Invalid(format!("{shown:?}: no host")));
    }
    if url.fragment().is_some() {
        return Err(UrlError::Invalid(format!(
            "{shown:?}: no #fragment allowed"
        )));
    }
    Ok(url)
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Refuses a URL whose host is an internal IP literal that `policy` does not
/// allow (names are checked by [`GuardedResolver`] at connect time).
pub fn check_url_literal(url: &url::Url, policy: &Policy) -> Result<(), UrlError> {
    match literal_ip(url) {
        Some(ip) => policy.check(url.host_str().unwrap_or_default(), ip),
        None => Ok(()),
    }
}

fn check_addrs(host: &str, addrs: &[SocketAddr], policy: &Policy) -> Result<(), UrlError> {
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable(host.to_string()));
    }
    addrs.iter().try_for_each(|a| policy.check(host, a.ip()))
}

/// Full check for the admin API: shape, and every resolved address under
/// `policy`.
pub async fn check_target(raw: &str, policy: &Policy) -> Result<url::Url, UrlError> {
    let url = parse_url(raw)?;
    if policy.allow_all {
        return Ok(url);
    }
    check_url_literal(&url, policy)?;
    if literal_ip(&url).is_some() {
        return Ok(url);
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| UrlError::Unresolvable(host.clone()))?
        .collect();
    check_addrs(&host, &addrs, policy)?;
    Ok(url)
}

/// The HTTP client's resolver: the system resolver, then the policy.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    /// What may be connected to.
    pub policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addrs(&host, &addrs, &policy)?;
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

/// The resolver as reqwest wants it.
pub fn resolver(policy: Arc<Policy>) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver { policy })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:0:8.8.8.8",
            "::ffff:0:127.0.0.1",
            "2002:c000:0204::1",
            "64:ff9b::10.0.0.1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(kind(ip).is_some(), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(kind(ip), None, "{ip} should pass");
        }
    }

    #[test]
    fn url_shape_is_checked() {
        assert!(parse_url("ftp://x.example/").is_err());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url("https://x.example/hook").is_ok());
        let url = parse_url("http://10.0.0.1/").unwrap();
        assert!(matches!(
            check_url_literal(&url, &Policy::default()),
            Err(UrlError::Private { .. })
        ));
        assert!(check_url_literal(&url, &Policy::open()).is_ok());
        let err = parse_url("ftp://user:hunter2@x.example/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn allowed_networks_let_only_their_ranges_through() {
        let policy = Policy {
            allow_all: false,
            allowed: vec!["10.20.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        for ok in ["10.20.3.4", "::ffff:10.20.3.4", "fd12::1", "8.8.8.8"] {
            assert!(policy.check("h", ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for refused in [
            "10.21.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "::ffff:0:10.20.3.4",
        ] {
            assert!(
                policy.check("h", refused.parse().unwrap()).is_err(),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let err = check_target("http://localhost:9/", &Policy::default())
            .await
            .unwrap_err();
        assert!(matches!(err, UrlError::Private { .. }), "{err}");
        assert!(
            err.to_string().contains("webhook_out.allowed_networks"),
            "{err}"
        );
        assert!(
            check_target("http://localhost:9/", &Policy::open())
                .await
                .is_ok()
        );
        let loopback = Policy {
            allow_all: false,
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        };
        assert!(check_target("http://localhost:9/", &loopback).await.is_ok());
    }
}
