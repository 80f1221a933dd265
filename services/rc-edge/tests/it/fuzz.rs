//! Arbitrary bodies over real HTTP: never a 5xx, never a dropped connection.

use crate::arb_json::arb_json;
use crate::support::{Edge, config};
use proptest::prelude::*;
use serde_json::Value;

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
