//! Generators of wrong JSON bodies for the edge's page-view and form
//! endpoints: wrong types, missing and over-long fields, unknown values.

use crate::common::*;
use crate::edge::{FORM, PAGE_VIEW, post_json};
use hookline_e2e::badinput::BadRequest;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

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

fn with(mut m: Map<String, Value>, key: &str, v: Value) -> Map<String, Value> {
    m.insert(key.into(), v);
    m
}

/// Bodies of a JSON endpoint that must be refused, with their kind.
pub fn bad_bodies(path: &'static str, valid: Obj) -> BoxedStrategy<BadRequest> {
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
