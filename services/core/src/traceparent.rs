//! W3C Trace Context across hops: one `traceparent` travels with an event
//! from the edge to the CRM consumers, so its hops can be joined into one
//! trace (in logs today, by any tracing backend that reads the header).
//!
//! The edge continues a client's valid `traceparent` or starts a new trace;
//! every later hop (dedupe's publish, webhook-out's request, crm-ingest's
//! publish) sends a child: the same trace id with a new parent span id. On
//! NATS it is the message header `traceparent`, over HTTP the request header.

use async_nats::HeaderMap;

/// The header name, on NATS messages and HTTP requests alike.
pub const HEADER: &str = "traceparent";

/// `value` if it is a valid version-00 `traceparent`.
pub fn parse(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let ok = parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1] != "0".repeat(32)
        && parts[2] != "0".repeat(16);
    ok.then_some(value.trim())
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A child of `parent` (same trace, new span), or a new trace when
/// `parent` is missing or invalid.
pub fn child_of(parent: Option<&str>) -> String {
    match parent.and_then(parse) {
        Some(p) => {
            let parts: Vec<&str> = p.split('-').collect();
            format!("00-{}-{}-{}", parts[1], random_hex(8), parts[3])
        }
        None => format!("00-{}-{}-01", random_hex(16), random_hex(8)),
    }
}

/// The trace id of a valid `traceparent`.
pub fn trace_id(value: &str) -> Option<&str> {
    parse(value).and_then(|v| v.split('-').nth(1))
}

/// The `traceparent` of a NATS message, if any.
pub fn of(headers: Option<&HeaderMap>) -> Option<String> {
    headers
        .and_then(|h| h.get(HEADER))
        .map(|v| v.as_str().to_string())
}

/// NATS headers carrying a child of `parent`.
pub fn headers_for(parent: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER, child_of(parent).as_str());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_headers_parse_and_others_do_not() {
        assert_eq!(parse(VALID), Some(VALID));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_changes_the_span() {
        let c = child_of(Some(VALID));
        assert_eq!(trace_id(&c), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_ne!(c, VALID);
        let root = child_of(None);
        assert!(parse(&root).is_some());
        assert_ne!(trace_id(&root), trace_id(VALID));
        assert!(parse(&child_of(Some("junk"))).is_some());
    }
}
