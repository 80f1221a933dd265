//! Generators of requests that are wrong at the HTTP level whatever the
//! endpoint: bodies over the limit, odd paths and request targets, broken
//! HTTP/1.1.

use hookline_e2e::badinput::BadRequest;
use proptest::prelude::*;
use proptest::sample::select;

/// A body over the 1 MiB cap (413), sent rarely: it is expensive.
pub fn huge(path: &'static str) -> BoxedStrategy<BadRequest> {
    (1_048_577usize..1_200_000)
        .prop_map(move |size| {
            let mut body =
                br#"{"content_type":"event","content_id":"x","slug":"s","form_id":"f","title":""#
                    .to_vec();
            body.resize(size, b'a');
            body.extend_from_slice(b"\"}");
            BadRequest::new("body over 1 MiB", "POST", path).json(body)
        })
        .boxed()
}

/// Paths that are not the endpoint, or not even valid request targets,
/// sent raw (reqwest would normalise them) with a broken body so that even
/// a target the router maps to the endpoint must be refused.
pub fn odd_path(path: &'static str) -> BoxedStrategy<BadRequest> {
    let trimmed = path.trim_start_matches('/');
    let targets: Vec<Vec<u8>> = vec![
        format!("{path}/").into_bytes(),
        format!("{path}/extra").into_bytes(),
        format!("/{path}").into_bytes(),
        format!("{path}%00").into_bytes(),
        path.to_uppercase().into_bytes(),
        format!("/api/../{trimmed}").into_bytes(),
        format!("/api/./{}", trimmed.trim_start_matches("api/")).into_bytes(),
        format!("{path};x=1").into_bytes(),
        format!("{path}?{}", "q=1&".repeat(2_000)).into_bytes(),
        format!("/{}", "a".repeat(8_000)).into_bytes(),
        [path.as_bytes(), &[0xff, 0xfe]].concat(),
        [path.as_bytes(), b" x"].concat(),
        b"*".to_vec(),
        format!("http://127.0.0.1{path}").into_bytes(),
        b"/%".to_vec(),
        b"/api/%zz".to_vec(),
        format!("{path}#frag").into_bytes(),
        b"".to_vec(),
    ];
    (select(targets), "[^{]{0,20}")
        .prop_map(|(target, body)| {
            BadRequest::new("odd path or target", "POST", target)
                .json(body.into_bytes())
                .raw()
        })
        .boxed()
}

/// Raw requests that are not well-formed HTTP/1.1 at all.
pub fn broken_http(path: &'static str) -> BoxedStrategy<BadRequest> {
    prop_oneof![
        // A chunked body whose chunk size is not hex.
        Just(
            BadRequest::new("broken chunked body", "POST", path)
                .header("content-type", "application/json")
                .header("transfer-encoding", "chunked")
                .body(&b"zz\r\n{}\r\n0\r\n\r\n"[..])
                .raw()
        ),
        // Content-Length that is not a number, or two that disagree.
        Just(
            BadRequest::new("bad content-length", "POST", path)
                .header("content-type", "application/json")
                .header("content-length", "abc")
                .body(&b"{}"[..])
                .raw()
        ),
        Just(
            BadRequest::new("bad content-length", "POST", path)
                .header("content-type", "application/json")
                .header("content-length", "2")
                .header("content-length", "3")
                .body(&b"{}x"[..])
                .raw()
        ),
        // A header line without a colon, a name with a space.
        Just(
            BadRequest::new("malformed header line", "POST", path)
                .header("content-type application/json", "")
                .body(&b"{}"[..])
                .raw()
        ),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(move |m| {
            let mut r = BadRequest::new("garbage method", "POST", path)
                .json(&b"{"[..])
                .raw();
            r.method = m
                .into_iter()
                .filter(|b| *b != b' ' && *b != b'\r' && *b != b'\n')
                .collect();
            if r.method.is_empty() {
                r.method = b"\x01".to_vec();
            }
            r
        }),
    ]
    .boxed()
}
