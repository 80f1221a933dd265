//! Arbitrary bodies over real HTTP: never a 5xx, never a dropped connection.

use crate::support::{Edge, config};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "\\PC{0,30}".prop_map(Value::String),
        prop_oneof![Just("event"), Just("news"), Just("resource"), Just("1")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("content_type".to_string()),
                    Just("content_id".to_string()),
                    Just("slug".to_string()),
                    Just("form_id".to_string()),
                    Just("fields".to_string()),
                    Just("gdpr".to_string()),
                    Just("contact_id".to_string()),
                    "\\PC{0,10}",
                ],
                inner,
                0..7
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn arbitrary_json_bodies_never_get_a_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edge = rt.block_on(Edge::start(config()));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &(
            arb_json(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        |(body, form, junk)| {
            let path = if form {
                "/api/form-submission"
            } else {
                "/api/page-view"
            };
            for bytes in [serde_json::to_vec(&body).unwrap(), junk.clone()] {
                let status = rt.block_on(async {
                    let r = edge
                        .http
                        .post(edge.url(path))
                        .header("content-type", "application/json")
                        .body(bytes)
                        .send()
                        .await
                        .expect("the edge answers");
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.expect("every answer is JSON");
                    prop_assert!(body["status"] == "ok" || body["status"] == "error");
                    Ok(status)
                })?;
                prop_assert!(status < 500, "{status} for {body}");
            }
            Ok(())
        },
    );
    rt.block_on(edge.stop());
    result.unwrap();
}
