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

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute http(s) URL.
    #[error("invalid URL: {0}")]
    Invalid(String),
    /// The host does not resolve.
    #[error("URL host {0} does not resolve")]
    Unresolvable(String),
    /// The host is or resolves to an internal address.
    #[error(
        "URL host {host} resolves to {addr}, a {kind} address; refused (set webhook_out.allow_private_networks to allow)"
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

/// Parses and checks the shape of a target URL: absolute `http`/`https`
/// with a host. Returns it normalised.
pub fn parse_url(raw: &str) -> Result<url::Url, UrlError> {
    let url =
        url::Url::parse(raw.trim()).map_err(|e| UrlError::Invalid(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Invalid(format!(
            "{raw:?}: scheme must be http or https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::Invalid(format!("{raw:?}: no host")));
    }
    if url.fragment().is_some() {
        return Err(UrlError::Invalid(format!("{raw:?}: no #fragment allowed")));
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

/// Refuses a URL whose host is an internal IP literal (names are checked by
/// [`GuardedResolver`] at connect time).
pub fn check_url_literal(url: &url::Url, allow_private: bool) -> Result<(), UrlError> {
    if allow_private {
        return Ok(());
    }
    if let Some(ip) = literal_ip(url)
        && let Some(kind) = classify(ip)
    {
        return Err(UrlError::Private {
            host: url.host_str().unwrap_or_default().to_string(),
            addr: ip,
            kind,
        });
    }
    Ok(())
}

fn check_addrs(host: &str, addrs: &[SocketAddr]) -> Result<(), UrlError> {
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable(host.to_string()));
    }
    for a in addrs {
        if let Some(kind) = classify(a.ip()) {
            return Err(UrlError::Private {
                host: host.to_string(),
                addr: a.ip(),
                kind,
            });
        }
    }
    Ok(())
}

/// Full check for the admin API: shape, and unless private networks are
/// allowed, every resolved address.
pub async fn check_target(raw: &str, allow_private: bool) -> Result<url::Url, UrlError> {
    let url = parse_url(raw)?;
    if allow_private {
        return Ok(url);
    }
    check_url_literal(&url, false)?;
    if literal_ip(&url).is_some() {
        return Ok(url);
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| UrlError::Unresolvable(host.clone()))?
        .collect();
    check_addrs(&host, &addrs)?;
    Ok(url)
}

/// The HTTP client's resolver: the system resolver, then the filter.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Let internal addresses through (`webhook_out.allow_private_networks`).
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                check_addrs(&host, &addrs)?;
            }
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

/// The resolver as reqwest wants it.
pub fn resolver(allow_private: bool) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver { allow_private })
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
            check_url_literal(&url, false),
            Err(UrlError::Private { .. })
        ));
        assert!(check_url_literal(&url, true).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let err = check_target("http://localhost:9/", false)
            .await
            .unwrap_err();
        assert!(matches!(err, UrlError::Private { .. }), "{err}");
        assert!(check_target("http://localhost:9/", true).await.is_ok());
    }
}
