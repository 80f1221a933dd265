//! Arbitrary bytes and headers against a running crm-ingest: it always
//! answers (never panics), never with a 5xx, and a delivery nobody signed
//! never reaches the stream.

use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "content_type",
    "content_id",
    "slug",
    "title",
    "community",
    "contact_id",
    "email",
    "form_id",
    "fields",
    "ts",
    "id",
    "url",
    "utm_campaign",
    "x",
];

const WORDS: &[&str] = &[
    "",
    "event",
    "resource",
    "news",
    "page_view",
    "form_submission",
    "ping",
    "2025-10-13T07:58:00.000Z",
    "evt_1",
    "has space",
];

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(
                    |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
            ]
        })
        .boxed()
}

/// A body shaped like a delivery (either profile), with random parts.
fn delivery_json(api_key: &'static str) -> BoxedStrategy<Vec<u8>> {
    let kind = prop_oneof![prop::sample::select(WORDS).prop_map(Value::from), scalar()];
    let data = prop_oneof![
        prop::collection::btree_map(prop::sample::select(KEYS), value(), 0..9).prop_map(|m| {
            Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }),
        value(),
    ];
    (kind, data, any::<bool>(), any::<bool>())
        .prop_map(move |(kind, data, legacy, drop_data)| {
            let mut m = Map::new();
            if legacy {
                m.insert("api_key".into(), api_key.into());
                m.insert("event".into(), kind);
            } else {
                m.insert("id".into(), "evt_fuzz".into());
                m.insert("occurred_at".into(), "2026-10-13T07:58:00.000Z".into());
                m.insert("type".into(), kind);
            }
            if !drop_data {
                m.insert("data".into(), data);
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        })
        .boxed()
}

/// A valid legacy delivery with up to three fields replaced by random values,
/// so the signed fuzzing also reaches the typed parsing and the publish.
fn nearly_valid() -> BoxedStrategy<Vec<u8>> {
    let overrides = prop::collection::vec((prop::sample::select(KEYS), value()), 0..4);
    (any::<bool>(), overrides, 0u32..1_000_000)
        .prop_map(|(form, overrides, n)| {
            let mut data = if form {
                serde_json::json!({"form_id": "frm_1", "email": "a@b.c", "fields": {"k": "v"}})
            } else {
                serde_json::json!({"content_type": "news", "content_id": "c", "slug": "s"})
            };
            data["id"] = format!("evt_nearly_{n}").into();
            for (k, v) in overrides {
                data[k] = v;
            }
            let event = if form { "form_submission" } else { "page_view" };
            serde_json::to_vec(&serde_json::json!({"event": event, "data": data}))
                .unwrap_or_default()
        })
        .boxed()
}

fn any_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        delivery_json(API_KEY),
        delivery_json("wrong"),
    ]
    .boxed()
}

fn header() -> BoxedStrategy<(String, String)> {
    let name = prop::sample::select(vec![
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Timestamp",
        "X-Signature",
        "content-type",
    ]);
    let value = prop_oneof![
        "[!-~]([ -~]{0,40}[!-~])?",
        (-400i64..400).prop_map(|d| (now() + d).to_string()),
        "(v1,[A-Za-z0-9+/]{43}=)( v1,[A-Za-z0-9+/]{43}=)?",
        "[A-Za-z0-9+/]{43}=",
        Just(String::new()),
    ];
    (name, value).prop_map(|(n, v)| (n.to_string(), v)).boxed()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn unsigned_noise_is_refused_without_5xx_and_publishes_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stack = rt.block_on(Stack::start(|c| c.ingest.max_body_bytes = 2048));
    let strategy = (any_body(), prop::collection::vec(header(), 0..6));
    runner(256)
        .run(&strategy, |(body, headers)| {
            let answer = rt.block_on(stack.post(&headers, body));
            prop_assert!(
                [400, 401, 413].contains(&answer.status),
                "status {} {:?}",
                answer.status,
                answer.body
            );
            prop_assert_eq!(&answer.body["status"], "error");
            Ok(())
        })
        .unwrap();
    assert_eq!(
        rt.block_on(stack.count()),
        0,
        "nothing unsigned was published"
    );
    rt.block_on(stack.stop());
}

#[test]
fn signed_random_deliveries_are_200_or_400_never_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // No API key, so every correctly signed body reaches the parser (with
    // `whsec_` secrets only, the API key is optional).
    let stack = rt.block_on(Stack::start(|c| {
        c.ingest.api_key = None;
        c.ingest.secrets = vec![WHSEC.into()];
    }));
    let body = prop_oneof![
        3 => delivery_json(API_KEY),
        3 => nearly_valid(),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    let id = prop_oneof![
        "evt_[A-Za-z0-9]{1,12}",
        "[!-~]{1,200}",
        Just("has space".to_string()),
    ];
    let strategy = (body, id, any::<bool>(), any::<bool>());
    let accepted = std::cell::Cell::new(0u64);
    runner(200)
        .run(&strategy, |(body, id, standard, with_id)| {
            let headers = if standard {
                standard_headers(WHSEC, &id, now(), &body)
            } else {
                let mut h = legacy_headers(WHSEC, now(), &body);
                if with_id {
                    h.push(("webhook-id".into(), id));
                }
                h
            };
            let answer = rt.block_on(stack.post(&headers, body));
            match answer.status {
                200 => accepted.set(accepted.get() + 1),
                400 => prop_assert_eq!(&answer.body["status"], "error"),
                other => {
                    return Err(TestCaseError::fail(format!(
                        "status {other}: {:?}",
                        answer.body
                    )));
                }
            }
            Ok(())
        })
        .unwrap();
    let published = rt.block_on(stack.count());
    assert!(published <= accepted.get());
    assert!(published > 0, "the fuzzing reached the publish path");
    rt.block_on(stack.stop());
}
