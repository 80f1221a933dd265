//! Arbitrary JSON for property tests of the input validation: scalars
//! (strings that look like content types among them) nested in arrays and in
//! objects whose keys are mostly the fields the edge reads. Shared by the unit
//! tests of `input` (which include this file) and the HTTP fuzz test.

use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, up to three levels deep.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "\\PC{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("event"),
            Just("resource"),
            Just("news"),
            Just("1"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("content_type".to_string()),
                    Just("content_id".to_string()),
                    Just("slug".to_string()),
                    Just("form_id".to_string()),
                    Just("fields".to_string()),
                    Just("gdpr".to_string()),
                    Just("url".to_string()),
                    Just("email".to_string()),
                    Just("contact_id".to_string()),
                    "\\PC{0,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
