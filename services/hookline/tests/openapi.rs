//! The committed OpenAPI documents (`proto-schemas/openapi/`) match what the
//! code generates. `UPDATE_SCHEMAS=1` rewrites them (`scripts/gen-schemas`).

use std::path::PathBuf;
use utoipa::OpenApi;

fn documents() -> Vec<(&'static str, utoipa::openapi::OpenApi)> {
    vec![
        ("rc-edge.json", rc_edge::openapi::ApiDoc::openapi()),
        (
            "webhook-out.json",
            webhook_out::api::openapi::ApiDoc::openapi(),
        ),
        ("crm-ingest.json", crm_ingest::openapi::ApiDoc::openapi()),
    ]
}

#[test]
fn committed_openapi_documents_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-schemas/openapi");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, doc) in documents() {
        let text = doc.to_pretty_json().expect("serialises") + "\n";
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "out of date: {drifted:?}; run scripts/gen-schemas"
    );
}
