//! The admin API: auth, CRUD, validation, SSRF refusal, pagination, OpenAPI.

use crate::harness::*;
use hookline_core::Shutdown;
use hookline_core::config::ConfigError;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn auth_crud_and_validation() {
    let config = config();
    let stack = Stack::start(config.clone()).await;
    let rx = Receiver::ok().await;

    // Auth: none, wrong, right.
    let r = stack
        .http
        .get(format!("{}/v1/webhooks", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(body["message"].as_str().unwrap().contains("Bearer"));
    let r = stack
        .http
        .get(format!("{}/v1/webhooks", stack.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An empty or blank bearer value is refused over cleartext HTTP/2 too.
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for empty in ["Bearer ", "Bearer", "Bearer    ", ""] {
        let r = h2c
            .get(format!("{}/v1/webhooks", stack.base))
            .header("authorization", empty)
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 401, "{empty:?}");
    }
    let r = h2c
        .get(format!("{}/v1/webhooks", stack.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the right token works over h2c");
    let (s, v) = stack.call(Method::GET, "/v1/webhooks", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"], json!([]));

    // Create.
    let created = stack
        .create(json!({"url": rx.url, "events": ["page_view"], "description": "crm"}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wh_"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["profile"], "standard");
    assert_eq!(created["active"], true);
    assert_eq!(created["fail_count"], 0);
    assert!(created["last_delivered_at"].is_null());
    assert!(created["created_at"].is_string());

    // Get and list never show the secret; /secret does.
    let got = stack.webhook(&id).await;
    assert_eq!(got["url"], rx.url);
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(stack.secret(&id).await["secret"], created["secret"]);
    let (_, list) = stack.call(Method::GET, "/v1/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("secret").is_none());

    // Patch.
    let (s, v) = stack
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"events": ["page_view", "form_submission"], "profile": "rc-legacy"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"], json!(["page_view", "form_submission"]));
    assert_eq!(v["profile"], "rc-legacy");

    // Validation: each names the problem.
    for (body, status, needle) in [
        (
            json!({"url": "not a url", "events": ["page_view"]}),
            422,
            "invalid URL",
        ),
        (
            json!({"url": "ftp://x.example/", "events": ["page_view"]}),
            422,
            "http or https",
        ),
        (
            json!({"url": rx.url, "events": ["click"]}),
            422,
            "unknown event type \"click\"",
        ),
        (json!({"url": rx.url, "events": []}), 422, "at least one"),
        (
            json!({"url": rx.url, "events": ["page_view"], "profile": "soap"}),
            422,
            "unknown profile \"soap\"",
        ),
        (
            json!({"url": rx.url, "events": ["page_view"], "secret": "whsec_!!"}),
            422,
            "secret",
        ),
        (json!({"events": ["page_view"]}), 400, "url"),
    ] {
        let (s, v) = stack
            .call(Method::POST, "/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(s, status, "{body} -> {v}");
        assert_eq!(v["status"], "error");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{body}: {msg:?} should mention {needle:?}"
        );
    }
    let r = stack
        .req(Method::POST, "/v1/webhooks")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = stack
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"events": ["nope"]})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    // serde would read a struct from an array; the API must not.
    let (s, v) = stack
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!([null, null])),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["message"], "invalid JSON body: expected a JSON object");

    // 404s.
    for path in [
        "/v1/webhooks/wh_NOPE".to_string(),
        "/v1/webhooks/not-an-id".to_string(),
        "/v1/webhooks/wh_NOPE/deliveries".to_string(),
    ] {
        let (s, v) = stack.call(Method::GET, &path, None).await;
        assert_eq!(s, 404, "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains("no webhook"));
    }
    let (s, _) = stack
        .call(Method::POST, "/v1/webhooks/wh_NOPE/rotate-secret", None)
        .await;
    assert_eq!(s, 404);

    // OpenAPI is generated from the code.
    let doc: serde_json::Value = stack
        .http
        .get(format!("{}/openapi.json", stack.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/deliveries",
        "/v1/webhooks/{id}/replay",
        "/v1/webhooks/{id}/rotate-secret",
        "/v1/webhooks/{id}/test",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("WebhookOut").is_some());

    // Delete: 204, then 404, and its consumer is gone.
    let (s, _) = stack
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = stack
        .call(Method::GET, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = stack
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 404);

    stack.stop().await;

    // No token, or an empty or short one: the service does not start.
    for bad in [None, Some(""), Some("short-token")] {
        let mut no_token = config.clone();
        no_token.webhook_out.admin_token = bad.map(String::from);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = webhook_out::run_with_listener(no_token, listener, Shutdown::new())
            .await
            .expect_err("started without a usable admin token");
        assert!(
            matches!(&err, webhook_out::Error::Config(ConfigError::Invalid { key, .. })
                if *key == "webhook_out.admin_token"),
            "{err}"
        );
    }
    hookline_core::testing::cleanup(&config).await;
}

#[tokio::test]
async fn private_targets_refused_without_opt_in() {
    let mut config = config();
    config.webhook_out.allow_private_networks = false;
    let stack = Stack::start(config.clone()).await;
    // Checked at the API: nothing is sent to these addresses.
    for (url, kind) in [
        ("http://127.0.0.1/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://100.64.1.1/", "CGNAT"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "IPv4-mapped"),
        ("http://[::ffff:0:a00:1]/", "SIIT"),
        ("http://localhost:9/", "loopback"),
    ] {
        let v = stack.refused_target(url).await;
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(kind) && msg.contains("allowed_networks"),
            "{url}: {msg}"
        );
    }

    // Checked again at delivery time, at DNS resolution: a webhook whose
    // name resolves to loopback (here planted directly in the table) is
    // never connected to.
    let rx = Receiver::ok().await;
    let pool = sqlx::PgPool::connect(&config.rc.database_url)
        .await
        .unwrap();
    let id = "wh_PLANTED";
    sqlx::query(
        "INSERT INTO webhooks (id, url, events, profile, secret) VALUES ($1, $2, '{page_view}', 'standard', $3)",
    )
    .bind(id)
    .bind(format!("http://localhost:{}/hook", rx.port))
    .bind(hookline_core::signing::Secret::generate())
    .execute(&pool)
    .await
    .unwrap();
    stack.publish(&page_view("c1")).await;
    let page = eventually("a refused attempt", 20, || async {
        let v = stack.deliveries(id, "").await;
        (!v["data"].as_array().unwrap().is_empty()).then_some(v)
    })
    .await;
    let err = page["data"][0]["error"].as_str().unwrap();
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(page["data"][0]["success"], false);
    assert_eq!(rx.count(), 0, "the receiver must not be contacted");
    pool.close().await;
    stack.finish().await;
}

#[tokio::test]
async fn deliveries_page_with_a_keyset_cursor() {
    let config = config();
    let stack = Stack::start(config.clone()).await;
    let rx = Receiver::ok().await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    let pool = sqlx::PgPool::connect(&config.rc.database_url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO delivery_attempts (webhook_id, event_id, event, attempt, status_code, success, duration_ms, exhausted) \
         SELECT $1, 'evt_' || g, 'page_view', 1, CASE WHEN g % 10 = 0 THEN 500 ELSE 200 END, g % 10 <> 0, 5, g % 10 = 0 \
         FROM generate_series(1, 95) g",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = stack
            .deliveries(&id, &format!("limit=30&cursor={cursor}"))
            .await;
        pages += 1;
        for a in page["data"].as_array().unwrap() {
            seen.push(a["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 95);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    let failed = stack.deliveries(&id, "status=failure&limit=250").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 9);
    let exhausted = stack.deliveries(&id, "status=exhausted").await;
    assert!(
        exhausted["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["exhausted"] == true)
    );
    let (s, v) = stack
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?status=weird"),
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = stack
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?limit=0"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = stack
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?cursor=abc"),
            None,
        )
        .await;
    assert_eq!(s, 400);

    pool.close().await;
    stack.finish().await;
}
