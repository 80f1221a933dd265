//! Which IP address a request comes from.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is only
//! believed when the TCP peer is one of `edge.trusted_proxies`; then the
//! header is read from the right (entries appended by our own proxies) to the
//! first address that is not a trusted proxy — the left part is the client's
//! to forge. The same answer feeds the fingerprint and the rate limit, so a
//! client can neither dodge its limit nor pose as another visitor.
//!
//! The rate limit keys an IPv6 client by its /64: one subscriber usually
//! holds a whole /64 and could otherwise take a fresh address, and a fresh
//! budget, for every request.

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, Request};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// A trusted-proxy entry that is neither an IP address nor a CIDR.
#[derive(Debug, thiserror::Error)]
#[error("`{key}` holds {value:?}, which is neither an IP address nor a CIDR")]
pub struct InvalidProxy {
    /// The config key, e.g. `edge.trusted_proxies`.
    pub key: &'static str,
    /// The entry at fault.
    pub value: String,
}

/// The peers whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses a list of IPs and CIDRs read from config `key`.
    pub fn parse(key: &'static str, entries: &[String]) -> Result<Self, InvalidProxy> {
        let nets = entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy {
                        key,
                        value: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(nets)))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, or — when the peer is trusted — the
    /// rightmost `X-Forwarded-For` hop that is not a trusted proxy. A hop that
    /// does not parse ends the walk at the last address we could trust.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if self.0.is_empty() {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            if !self.contains(client) {
                return client;
            }
            match parse_hop(hop) {
                Some(ip) => client = ip,
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The TCP peer of a request (unspecified when the server was started
/// without connect info, which only happens in in-process tests).
pub fn peer_of(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The rate-limit key of a client address: IPv4 as is, IPv6 cut to its /64.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Rate-limit key: the client IP by the same rules as the fingerprint,
/// IPv6 by its /64 ([`rate_key`]).
#[derive(Clone, Debug)]
pub struct ClientIpKey(pub TrustedProxies);

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(rate_key(
            self.0.client_ip(peer_of(req.extensions()), req.headers()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let t = TrustedProxies::parse("edge.trusted_proxies", &["10.0.0.0/8".into()]).unwrap();
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), &xff(&["1.1.1.1"])),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("10.0.0.1"), &xff(&["1.1.1.1"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_hop() {
        let t = TrustedProxies::parse(
            "edge.trusted_proxies",
            &["10.0.0.0/8".into(), "192.168.1.1".into()],
        )
        .unwrap();
        let h = xff(&["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(t.client_ip(ip("192.168.1.1"), &h), ip("198.51.100.7"));
        // Every hop trusted: the leftmost one.
        let h = xff(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.9.9.9"));
        // No header: the peer.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn hops_with_ports_and_garbage() {
        let t = TrustedProxies::parse("edge.trusted_proxies", &["127.0.0.1".into()]).unwrap();
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &xff(&["198.51.100.7:4711"])),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &xff(&["[2001:db8::1]:80"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &xff(&["1.2.3.4, unknown"])),
            ip("127.0.0.1")
        );
        // IPv4-mapped peers match IPv4 entries.
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.1"), &xff(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_proxy_entries_are_refused_naming_the_key() {
        let err = TrustedProxies::parse("ingest.trusted_proxies", &["nope".into()]).unwrap_err();
        assert!(
            err.to_string().contains("`ingest.trusted_proxies`"),
            "{err}"
        );
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        let a = rate_key(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, rate_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, rate_key(ip("2001:db8:1:3::1")));
        // IPv4, plain or mapped, keeps its whole address.
        assert_eq!(rate_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(rate_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_ne!(rate_key(ip("198.51.100.7")), rate_key(ip("198.51.100.8")));
    }
}
