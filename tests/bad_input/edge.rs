//! Generators of bad requests for the edge's three collection endpoints.

use crate::common::*;
use hookline_e2e::badinput::BadRequest;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// `POST /api/page-view`.
pub const PAGE_VIEW: &str = "/api/page-view";
/// `POST /api/form-submission`.
pub const FORM: &str = "/api/form-submission";

/// Field caps of rc-edge (services/rc-edge/src/input/mod.rs), restated here
/// so the test does not borrow the product's constants.
const PAGE_VIEW_CAPS: &[(&str, usize)] = &[
    ("content_id", 256),
    ("slug", 512),
    ("title", 1024),
    ("community", 256),
    ("contact_id", 256),
    ("url", 2048),
    ("utm_campaign", 256),
    ("utm_source", 256),
    ("utm_medium", 256),
    ("content_checksum", 128),
];
const FORM_CAPS: &[(&str, usize)] = &[
    ("form_id", 256),
    ("content_id", 256),
    ("slug", 512),
    ("contact_id", 256),
    ("email", 320),
    ("content_checksum", 128),
];

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

fn with(mut m: Map<String, Value>, key: &str, v: Value) -> Map<String, Value> {
    m.insert(key.into(), v);
    m
}

fn post_json(kind: &'static str, path: &str, body: &Map<String, Value>) -> BadRequest {
    BadRequest::new(kind, "POST", path).json(serde_json::to_vec(body).expect("serialises"))
}

/// Bodies of a JSON endpoint that must be refused, with their kind.
fn bad_bodies(path: &'static str, valid: Obj) -> BoxedStrategy<BadRequest> {
    let caps = if path == PAGE_VIEW {
        PAGE_VIEW_CAPS
    } else {
        FORM_CAPS
    };
    let wrong_typed = if path == PAGE_VIEW {
        prop_oneof![
            (valid.clone(), not_a_string()).prop_map(|(m, v)| with(m, "content_type", v)),
            (valid.clone(), not_an_id()).prop_map(|(m, v)| with(m, "content_id", v)),
            (valid.clone(), not_a_string()).prop_map(|(m, v)| with(m, "slug", v)),
            (valid.clone(), not_an_id()).prop_map(|(m, v)| with(m, "contact_id", v)),
            (
                valid.clone(),
                select(
                    &[
                        "title",
                        "community",
                        "url",
                        "utm_campaign",
                        "content_checksum"
                    ][..]
                ),
                not_a_string()
            )
                .prop_map(|(m, k, v)| with(m, k, v)),
            (valid.clone(), bad_gdpr()).prop_map(|(m, v)| with(m, "gdpr", v)),
        ]
        .boxed()
    } else {
        prop_oneof![
            (valid.clone(), not_an_id()).prop_map(|(m, v)| with(m, "form_id", v)),
            (valid.clone(), not_a_string()).prop_map(|(m, v)| with(m, "content_type", v)),
            (
                valid.clone(),
                select(&["content_id", "contact_id"][..]),
                not_an_id()
            )
                .prop_map(|(m, k, v)| with(m, k, v)),
            (
                valid.clone(),
                select(&["slug", "email", "content_checksum"][..]),
                not_a_string()
            )
                .prop_map(|(m, k, v)| with(m, k, v)),
            (
                valid.clone(),
                prop_oneof![
                    Just(json!([])),
                    Just(json!("a=b")),
                    any::<i64>().prop_map(Value::from),
                    any::<bool>().prop_map(Value::from),
                ]
            )
                .prop_map(|(m, v)| with(m, "fields", v)),
            (
                valid.clone(),
                "[a-z]{1,8}",
                prop_oneof![Just(json!([1])), Just(json!({"a": "b"})), Just(json!([]))]
            )
                .prop_map(|(m, k, v)| with(m, "fields", json!({ k: v }))),
            (valid.clone(), bad_gdpr()).prop_map(|(m, v)| with(m, "gdpr", v)),
        ]
        .boxed()
    };
    let required: &'static [&'static str] = if path == PAGE_VIEW {
        &["content_type", "content_id", "slug"]
    } else {
        &["form_id"]
    };
    let missing = (
        valid.clone(),
        select(required),
        select(&["remove", "null", "empty", "blank"][..]),
    )
        .prop_map(|(mut m, k, how)| {
            match how {
                "remove" => {
                    m.remove(k);
                }
                "null" => {
                    m.insert(k.into(), Value::Null);
                }
                "empty" => {
                    m.insert(k.into(), json!(""));
                }
                _ => {
                    m.insert(k.into(), json!(" \t "));
                }
            }
            m
        });
    let too_long = (valid.clone(), select(caps), 1..400usize, any::<u8>())
        .prop_map(|(m, (k, cap), over, seed)| with(m, k, json!(long_text(cap + over, seed))));
    let mut options: Vec<BoxedStrategy<BadRequest>> = vec![
        broken_json(valid.clone())
            .prop_map(move |(kind, b)| BadRequest::new(kind, "POST", path).json(b))
            .boxed(),
        wrong_typed
            .prop_map(move |m| post_json("wrong type", path, &m))
            .boxed(),
        missing
            .prop_map(move |m| post_json("required field missing", path, &m))
            .boxed(),
        (valid.clone(), unknown_content_type())
            .prop_map(move |(m, ct)| {
                post_json(
                    "unknown content_type",
                    path,
                    &with(m, "content_type", json!(ct)),
                )
            })
            .boxed(),
        too_long
            .prop_map(move |m| post_json("over-long field", path, &m))
            .boxed(),
    ];
    if path == FORM {
        options.push(
            (valid.clone(), 101..300usize)
                .prop_map(move |(m, n)| {
                    let fields: Map<String, Value> =
                        (0..n).map(|i| (format!("f{i}"), json!("v"))).collect();
                    post_json("too many fields", path, &with(m, "fields", json!(fields)))
                })
                .boxed(),
        );
        options.push(
            (
                valid.clone(),
                129..400usize,
                10_001..12_000usize,
                any::<bool>(),
            )
                .prop_map(move |(m, name_len, value_len, long_name)| {
                    let fields = if long_name {
                        json!({ long_text(name_len, 1): "v" })
                    } else {
                        json!({ "note": long_text(value_len, 2) })
                    };
                    post_json("over-long form field", path, &with(m, "fields", fields))
                })
                .boxed(),
        );
    }
    let union = proptest::strategy::Union::new(options);
    union.boxed()
}

/// A body over the 1 MiB cap (413), sent rarely: it is expensive.
fn huge(path: &'static str) -> BoxedStrategy<BadRequest> {
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
fn odd_path(path: &'static str) -> BoxedStrategy<BadRequest> {
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
fn broken_http(path: &'static str) -> BoxedStrategy<BadRequest> {
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
