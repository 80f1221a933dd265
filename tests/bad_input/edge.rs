//! Generators of bad requests for the edge's three collection endpoints.

use crate::bodies::bad_bodies;
use crate::common::*;
use crate::http::{broken_http, huge, odd_path};
use hookline_e2e::badinput::BadRequest;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// `POST /api/page-view`.
pub const PAGE_VIEW: &str = "/api/page-view";
/// `POST /api/form-submission`.
pub const FORM: &str = "/api/form-submission";

fn content_type() -> BoxedStrategy<&'static str> {
    select(&["event", "resource", "news"][..]).boxed()
}

/// A valid page view body.
pub fn valid_view() -> Obj {
    (
        content_type(),
        "[a-z0-9]{1,16}",
        "[a-z0-9-]{1,24}",
        proptest::option::of("[A-Za-z ]{1,20}"),
        proptest::option::of("c[0-9]{1,4}"),
    )
        .prop_map(|(ct, id, slug, title, contact)| {
            let mut m = Map::new();
            m.insert("content_type".into(), json!(ct));
            m.insert("content_id".into(), json!(id));
            m.insert("slug".into(), json!(slug));
            if let Some(t) = title {
                m.insert("title".into(), json!(t));
            }
            if let Some(c) = contact {
                m.insert("contact_id".into(), json!(c));
            }
            m
        })
        .boxed()
}

/// A valid form submission body.
pub fn valid_form() -> Obj {
    (
        "[a-z0-9]{1,10}",
        proptest::option::of("c[0-9]{1,4}"),
        proptest::option::of("[a-z]{1,8}@example\\.com"),
        prop::collection::btree_map("[a-z_]{1,10}", "[ -~]{0,20}", 0..5),
    )
        .prop_map(|(form, contact, email, fields)| {
            let mut m = Map::new();
            m.insert("form_id".into(), json!(form));
            if let Some(c) = contact {
                m.insert("contact_id".into(), json!(c));
            }
            if let Some(e) = email {
                m.insert("email".into(), json!(e));
            }
            m.insert("fields".into(), json!(fields));
            m
        })
        .boxed()
}

pub fn post_json(kind: &'static str, path: &str, body: &Map<String, Value>) -> BadRequest {
    BadRequest::new(kind, "POST", path).json(serde_json::to_vec(body).expect("serialises"))
}

/// Every kind of bad request for one JSON endpoint (`PAGE_VIEW` or `FORM`),
/// plus a few valid bodies with odd (but legal) headers that must be
/// accepted.
pub fn json_endpoint(path: &'static str) -> BoxedStrategy<BadRequest> {
    let valid = if path == PAGE_VIEW {
        valid_view()
    } else {
        valid_form()
    };
    let body_and_headers =
        (bad_bodies(path, valid.clone()), absurd_headers(true)).prop_map(|(mut r, (kind, hs))| {
            r.kind = kind;
            r.headers.extend(hs);
            r
        });
    prop_oneof![
        40 => bad_bodies(path, valid.clone()),
        8 => (valid.clone(), not_json_content_type()).prop_map(move |(m, ct)| {
            let mut r = BadRequest::new("not declared as JSON", "POST", path)
                .body(serde_json::to_vec(&m).expect("serialises"));
            if let Some(ct) = ct {
                r = r.header("content-type", ct);
            }
            r
        }),
        6 => (valid.clone(), wrong_method("POST")).prop_map(move |(m, method)| {
            post_json("wrong method", path, &m).with_method(method)
        }),
        6 => odd_path(path),
        3 => broken_http(path),
        8 => body_and_headers,
        4 => (valid, absurd_headers(false)).prop_map(move |(m, (kind, hs))| {
            let mut r = post_json(kind, path, &m).accepted();
            r.headers.extend(hs);
            r
        }),
        1 => huge(path),
    ]
    .boxed()
}

/// `GET /t/{content_type}/{slug}.gif?content_id=…`: bad variants and a few
/// valid ones with odd headers.
pub fn pixel() -> BoxedStrategy<BadRequest> {
    fn target(ct: &str, slug: &str, query: &str) -> String {
        format!("/t/{ct}/{slug}?{query}")
    }
    fn pct(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    let slug = "[a-z0-9-]{1,20}";
    let id = "[a-z0-9]{1,12}";
    let bad = prop_oneof![
        (unknown_content_type(), slug, id).prop_map(|(ct, s, i)| {
            (
                "unknown content_type",
                target(&pct(&ct), &format!("{s}.gif"), &format!("content_id={i}")),
            )
        }),
        (
            content_type(),
            slug,
            select(&["", ".png", ".GIF", ".gif.png", ".gi", "gif"][..]),
            id
        )
            .prop_map(|(ct, s, ext, i)| (
                "not a .gif",
                target(ct, &format!("{s}{ext}"), &format!("content_id={i}"))
            )),
        (
            content_type(),
            slug,
            select(
                &[
                    "",
                    "content_id=",
                    "content_id=%20%20",
                    "contact_id=1",
                    "contentid=1"
                ][..]
            )
        )
            .prop_map(|(ct, s, q)| ("content_id missing", target(ct, &format!("{s}.gif"), q))),
        (content_type(), slug, 257..600usize, any::<u8>()).prop_map(|(ct, s, n, seed)| {
            (
                "over-long content_id",
                target(
                    ct,
                    &format!("{s}.gif"),
                    &format!("content_id={}", pct(&long_text(n, seed))),
                ),
            )
        }),
        (content_type(), 513..900usize, any::<u8>(), id).prop_map(|(ct, n, seed, i)| {
            (
                "over-long slug",
                target(
                    ct,
                    &format!("{}.gif", pct(&long_text(n, seed))),
                    &format!("content_id={i}"),
                ),
            )
        }),
        (
            content_type(),
            slug,
            id,
            select(
                &[
                    ("title", 1024usize),
                    ("community", 256),
                    ("url", 2048),
                    ("contact_id", 256),
                    ("utm_campaign", 256)
                ][..]
            ),
            1..300usize,
            any::<u8>()
        )
            .prop_map(|(ct, s, i, (k, cap), over, seed)| {
                (
                    "over-long query field",
                    target(
                        ct,
                        &format!("{s}.gif"),
                        &format!("content_id={i}&{k}={}", pct(&long_text(cap + over, seed))),
                    ),
                )
            }),
        (
            content_type(),
            slug,
            id,
            "[a-z]{2,8}".prop_filter("not a flag", |s| !matches!(
                s.as_str(),
                "true" | "yes" | "on" | "false" | "no" | "off"
            ))
        )
            .prop_map(|(ct, s, i, g)| (
                "bad gdpr flag",
                target(ct, &format!("{s}.gif"), &format!("content_id={i}&gdpr={g}"))
            )),
        (content_type(), id)
            .prop_map(|(ct, i)| ("empty slug", target(ct, ".gif", &format!("content_id={i}")))),
    ]
    .boxed();
    let bad_get = bad
        .clone()
        .prop_map(|(kind, t)| BadRequest::new(kind, "GET", t));
    let valid_target = (content_type(), slug, id)
        .prop_map(|(ct, s, i)| target(ct, &format!("{s}.gif"), &format!("content_id={i}")));
    let odd_targets: Vec<Vec<u8>> = vec![
        b"/t/event/x.gif/extra?content_id=1".to_vec(),
        b"/t/event/a/b.gif?content_id=1".to_vec(),
        b"/t//x.gif?content_id=1".to_vec(),
        b"/t/event/?content_id=1".to_vec(),
        b"/t/event/%FF.gif?content_id=1".to_vec(),
        b"/t/%FF/x.gif?content_id=1".to_vec(),
        b"/t/event/%C3%28.gif?content_id=1".to_vec(),
        b"/t/event/x\xff.gif?content_id=1".to_vec(),
        b"/t/event/x.gif?content_id=1 HTTP/1.0".to_vec(),
        b"/t".to_vec(),
        b"/t/".to_vec(),
        b"/T/event/x.gif?content_id=1".to_vec(),
        format!("/t/event/{}.gif", "a/".repeat(3_000)).into_bytes(),
    ];
    prop_oneof![
        40 => bad_get.clone(),
        6 => (valid_target.clone(), wrong_method("GET").prop_filter("HEAD runs the GET handler", |m| *m != "HEAD"))
            .prop_map(|(t, m)| BadRequest::new("wrong method", m, t)),
        6 => select(odd_targets).prop_map(|t| BadRequest::new("odd path or target", "GET", t).raw()),
        8 => (bad_get, absurd_headers(true)).prop_map(|(mut r, (kind, hs))| {
            r.kind = kind;
            r.headers.extend(hs);
            r
        }),
        4 => (valid_target, absurd_headers(false)).prop_map(|(t, (kind, hs))| {
            let mut r = BadRequest::new(kind, "GET", t).accepted();
            r.headers.extend(hs);
            r
        }),
    ]
    .boxed()
}

/// Changing a request's method.
pub trait WithMethod {
    /// The same request with another method.
    fn with_method(self, method: &str) -> Self;
}

impl WithMethod for BadRequest {
    fn with_method(mut self, method: &str) -> Self {
        self.method = method.as_bytes().to_vec();
        self
    }
}
