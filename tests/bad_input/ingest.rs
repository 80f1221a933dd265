//! Generators of bad deliveries for crm-ingest's
//! `POST /api/webhooks/resources-centre`.
//!
//! Most are *correctly signed* (rc-legacy: right API key, `X-Signature` over
//! the exact body, fresh `X-Timestamp`) so they get past verification and
//! exercise the envelope and data parsing; the rest are unsigned, wrongly
//! signed, stale, or not even HTTP. The signature is computed when the
//! request is generated, which is just before it is sent.

use crate::common::*;
use crate::edge::WithMethod;
use hookline_core::signing::{self, Secret};
use hookline_e2e::badinput::BadRequest;
use hookline_e2e::stack::{API_KEY, SHARED_SECRET};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// The legacy Node app's receiver path.
pub const PATH: &str = "/api/webhooks/resources-centre";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An id the ingest accepts (printable ASCII, ≤ 128), unique enough.
fn event_id() -> BoxedStrategy<String> {
    "evt_[0-9A-Z]{26}".boxed()
}

/// A valid legacy body: page view or form submission.
fn valid_envelope() -> Obj {
    prop_oneof![
        (
            event_id(),
            select(&["event", "resource", "news"][..]),
            "[a-z0-9]{1,12}",
            "[a-z-]{1,16}"
        )
            .prop_map(|(id, ct, cid, slug)| {
                json!({"api_key": API_KEY, "event": "page_view",
                    "data": {"id": id, "content_type": ct, "content_id": cid, "slug": slug}})
            }),
        (event_id(), "[a-z0-9]{1,10}", "[a-z]{1,8}@example\\.com").prop_map(|(id, form, email)| {
            json!({"api_key": API_KEY, "event": "form_submission",
                "data": {"id": id, "form_id": form, "email": email, "fields": {"a": "b"}}})
        }),
    ]
    .prop_map(|v| match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    })
    .boxed()
}

fn data_mut(m: &mut Map<String, Value>) -> &mut Map<String, Value> {
    m.get_mut("data")
        .and_then(Value::as_object_mut)
        .expect("valid envelopes have a data object")
}

fn is_view(m: &Map<String, Value>) -> bool {
    m.get("event").and_then(Value::as_str) == Some("page_view")
}

/// A JSON value the legacy Node app's `!x` treats as missing.
fn falsy() -> BoxedStrategy<Option<Value>> {
    select(vec![
        None,
        Some(Value::Null),
        Some(json!(false)),
        Some(json!("")),
        Some(json!(0)),
    ])
    .boxed()
}

/// Truthy values that are not strings.
fn truthy_not_string() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!(true)),
        (1..1_000_000i64).prop_map(Value::from),
        Just(json!([])),
        Just(json!(["page_view"])),
        Just(json!({"type": "page_view"})),
    ]
    .boxed()
}

/// Envelopes that are signed correctly but must be refused (400).
fn bad_envelope() -> BoxedStrategy<(&'static str, Map<String, Value>)> {
    let v = valid_envelope;
    prop_oneof![
        (v(), falsy()).prop_map(|(mut m, f)| {
            match f {
                None => m.remove("event"),
                Some(x) => m.insert("event".into(), x),
            };
            ("event missing", m)
        }),
        (v(), falsy()).prop_map(|(mut m, f)| {
            match f {
                None => m.remove("data"),
                Some(x) => m.insert("data".into(), x),
            };
            ("data missing", m)
        }),
        (v(), truthy_not_string()).prop_map(|(mut m, x)| {
            m.insert("event".into(), x);
            ("event not a string", m)
        }),
        // A well-formed unknown type is kept (200); a malformed one is not.
        (v(), "[a-z_]{1,8}[ \t][a-z_]{1,8}|[a-z]{65,80}").prop_map(|(mut m, e)| {
            m.insert("event".into(), json!(e));
            ("malformed event type", m)
        }),
        (
            v(),
            prop_oneof![
                Just(json!(true)),
                (1..1000i64).prop_map(Value::from),
                "[a-z]{1,8}".prop_map(Value::from),
                Just(json!([1])),
                Just(json!([]))
            ]
        )
            .prop_map(|(mut m, x)| {
                m.insert("data".into(), x);
                ("data not an object", m)
            }),
        (
            v(),
            prop_oneof![
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                Just(json!({})),
                Just(json!("")),
                Just(json!("has space")),
                Just(json!("évt_1")),
                Just(json!("tab\tid")),
                (129..300usize).prop_map(|n| json!("e".repeat(n))),
            ],
            any::<bool>()
        )
            .prop_map(|(mut m, id, top)| {
                if top {
                    m.insert("id".into(), id);
                } else {
                    data_mut(&mut m).insert("id".into(), id);
                }
                ("bad event id", m)
            }),
        (
            v(),
            prop_oneof![
                Just(json!("yesterday")),
                Just(json!("2025-13-45T00:00:00Z")),
                Just(json!("2025-10-13 07:58:00")),
                Just(json!(true)),
                Just(json!([])),
                Just(json!({})),
                (0.1..1e12f64).prop_map(|f| json!(f + 0.5)),
                Just(json!(i64::MAX)),
            ]
        )
            .prop_map(|(mut m, ts)| {
                data_mut(&mut m).insert("ts".into(), ts);
                ("bad data.ts", m)
            }),
        (
            v(),
            0..4usize,
            select(vec![None, Some(json!("")), Some(Value::Null)])
        )
            .prop_map(|(mut m, i, how)| {
                let key = if is_view(&m) {
                    ["content_type", "content_id", "slug", "content_id"][i]
                } else {
                    "form_id"
                };
                let d = data_mut(&mut m);
                match how {
                    None => d.remove(key),
                    Some(x) => d.insert(key.into(), x),
                };
                ("data field missing", m)
            }),
        (
            v(),
            prop_oneof![
                Just(json!(true)),
                Just(json!([])),
                Just(json!({"x": 1})),
                Just(json!(["a"]))
            ],
            0..4usize
        )
            .prop_map(|(mut m, x, i)| {
                // Numbers are coerced to text (the legacy Node app's SQLite ids), so
                // only booleans, arrays and objects are wrong for sure.
                let key = if is_view(&m) {
                    ["content_type", "content_id", "slug", "title"][i]
                } else {
                    ["form_id", "email", "contact_id", "fields"][i]
                };
                let x = if key == "fields" { json!([x]) } else { x };
                data_mut(&mut m).insert(key.into(), x);
                ("data field wrong type", m)
            }),
        (v(), unknown_content_type()).prop_map(|(mut m, ct)| {
            data_mut(&mut m).insert("content_type".into(), json!(ct));
            ("unknown content_type", m)
        }),
    ]
    .boxed()
}

/// Signs a legacy body with the shared secret at `ts`.
fn signed(kind: &'static str, body: Vec<u8>, ts: i64) -> BadRequest {
    let secret = Secret::legacy(SHARED_SECRET).expect("legacy secret");
    let sig = signing::legacy::sign(&secret, ts, &body);
    BadRequest::new(kind, "POST", PATH)
        .json(body)
        .header(signing::X_TIMESTAMP, ts.to_string())
        .header(signing::X_SIGNATURE, sig)
}

fn to_vec(m: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(m).expect("serialises")
}

/// Every kind of bad delivery, plus a few valid ones with odd headers that
/// must be accepted.
pub fn deliveries() -> BoxedStrategy<BadRequest> {
    let signed_bad = bad_envelope().prop_map(|(kind, m)| signed(kind, to_vec(&m), now()));
    let unsigned = broken_json(valid_envelope()).prop_map(|(kind, b)| {
        // Half with a signature that cannot match (computed over other bytes).
        BadRequest::new(kind, "POST", PATH).json(b)
    });
    let signed_broken = broken_json(valid_envelope()).prop_map(|(kind, b)| signed(kind, b, now()));
    let wrong_secret = (
        valid_envelope(),
        prop_oneof![
            Just(String::new()),
            "[A-Za-z0-9+/]{43}=".prop_map(String::from),
            "[ -~]{0,60}".prop_map(String::from),
        ],
    )
        .prop_map(|(m, sig)| {
            BadRequest::new("wrong signature", "POST", PATH)
                .json(to_vec(&m))
                .header(signing::X_TIMESTAMP, now().to_string())
                .header(signing::X_SIGNATURE, sig)
        });
    // Beyond the 300 s tolerance by a margin, so the second that may pass
    // between signing and checking cannot bring one back inside it.
    let stale = (
        valid_envelope(),
        prop_oneof![(330..1_000_000i64), (-1_000_000..-330i64)],
    )
        .prop_map(|(m, off)| signed("stale or future timestamp", to_vec(&m), now() - off));
    let bad_ts = (
        valid_envelope(),
        select(&["", "abc", "1e9", "-", "99999999999999999999", "1.5"][..]),
    )
        .prop_map(|(m, ts)| {
            let mut r = signed("unparsable X-Timestamp", to_vec(&m), now());
            for h in r.headers.iter_mut() {
                if h.0 == signing::X_TIMESTAMP.as_bytes() {
                    h.1 = ts.as_bytes().to_vec();
                }
            }
            r
        });
    let wrong_key = (
        valid_envelope(),
        prop_oneof![
            Just(None),
            Just(Some(json!(""))),
            "[a-z]{1,20}".prop_map(|k| Some(json!(k))),
            Just(Some(json!(12345))),
            Just(Some(json!(null))),
        ],
    )
        .prop_map(|(mut m, key)| {
            match key {
                None => m.remove("api_key"),
                Some(k) => m.insert("api_key".into(), k),
            };
            signed("wrong api key", to_vec(&m), now())
        });
    let header_id = (
        valid_envelope(),
        prop_oneof![
            Just("has space".to_string()),
            Just(String::new()),
            "evt_[0-9A-Z]{26}".prop_map(String::from),
            (129..200usize).prop_map(|n| "e".repeat(n)),
        ],
    )
        .prop_map(|(m, id)| {
            // A different (or invalid) id than the signed body's: the legacy
            // signature does not cover headers, so the header is ignored and
            // the body's id names the event.
            signed("webhook-id header ignored", to_vec(&m), now())
                .header(signing::WEBHOOK_ID, id)
                .accepted()
        });
    let standard = (
        valid_envelope(),
        event_id(),
        "[A-Za-z0-9+/]{43}=",
        any::<bool>(),
    )
        .prop_map(|(m, id, sig, with_id)| {
            let mut r = BadRequest::new("standard profile, wrong signature", "POST", PATH)
                .json(to_vec(&m))
                .header(signing::WEBHOOK_TIMESTAMP, now().to_string())
                .header(signing::WEBHOOK_SIGNATURE, format!("v1,{sig}"));
            if with_id {
                r = r.header(signing::WEBHOOK_ID, id);
            }
            r
        });
    let huge = (1_048_577usize..1_200_000).prop_map(|size| {
        let mut body = br#"{"api_key":"k","event":"page_view","data":{"title":""#.to_vec();
        body.resize(size, b'a');
        body.extend_from_slice(b"\"}}");
        signed("body over 1 MiB", body, now())
    });
    let wrong_method = (valid_envelope(), wrong_method("POST"))
        .prop_map(|(m, method)| signed("wrong method", to_vec(&m), now()).with_method(method));
    let odd_path = (
        valid_envelope(),
        select(vec![
            format!("{PATH}/"),
            format!("{PATH}/x"),
            format!("/{PATH}"),
            PATH.to_uppercase(),
            format!("/api/webhooks/../webhooks/{}", "resources-centre"),
            format!("{PATH}%00"),
            "/api/webhooks/".to_string(),
            "/api/webhooks/resources-center".to_string(),
        ]),
    )
        .prop_map(|(m, target)| {
            // Signed with a body that fails parsing, so a target the router
            // maps to the route must still be refused.
            let mut body = to_vec(&m);
            body.truncate(body.len() - 1);
            let mut r = signed("odd path or target", body, now()).raw();
            r.target = target.into_bytes();
            r
        });
    let headers_bad = (signed_bad.clone(), absurd_headers(true)).prop_map(|(mut r, (kind, hs))| {
        r.kind = kind;
        r.headers.extend(hs);
        r
    });
    let accepted = (valid_envelope(), absurd_headers(false)).prop_map(|(m, (kind, hs))| {
        let mut r = signed(kind, to_vec(&m), now()).accepted();
        r.headers.extend(hs);
        r
    });
    prop_oneof![
        30 => signed_bad,
        6 => unsigned,
        6 => signed_broken,
        4 => wrong_secret,
        4 => stale,
        2 => bad_ts,
        4 => wrong_key,
        3 => header_id,
        4 => standard,
        4 => wrong_method,
        4 => odd_path,
        6 => headers_bad,
        3 => accepted,
        1 => huge,
    ]
    .boxed()
}
