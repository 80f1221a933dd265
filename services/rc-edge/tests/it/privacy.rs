//! The visitor block: fingerprints, GDPR mode, trusted proxies, bots; raw IP
//! and user agent never published.

use crate::support::{BROWSER, Edge, accepted_id, config};
use serde_json::json;

async fn view(
    edge: &Edge,
    query: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> String {
    let mut req = edge
        .http
        .post(edge.url(&format!("/api/page-view{query}")))
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    accepted_id(status, &r.json().await.unwrap())
}

fn anon() -> serde_json::Value {
    json!({"content_type": "news", "content_id": "n1", "slug": "s"})
}

#[tokio::test]
async fn fingerprint_is_keyed_hmac_never_raw_ip_or_ua() {
    let edge = Edge::start(config()).await;
    let a = view(&edge, "", anon(), &[]).await;
    let b = view(&edge, "", anon(), &[]).await;
    let c = view(
        &edge,
        "",
        anon(),
        &[("user-agent", "Mozilla/5.0 (Macintosh) Safari/605")],
    )
    .await;
    let (ra, text_a) = edge.raw_event(&a).await;
    let (rb, _) = edge.raw_event(&b).await;
    let (rc, _) = edge.raw_event(&c).await;
    let fa = ra
        .visitor
        .fingerprint
        .clone()
        .expect("anonymous visitors are fingerprinted");
    assert_eq!(
        Some(&fa),
        rb.visitor.fingerprint.as_ref(),
        "same visitor, same fingerprint"
    );
    assert_ne!(
        Some(&fa),
        rc.visitor.fingerprint.as_ref(),
        "another UA, another fingerprint"
    );
    // `<today>.<yesterday>`, both 32-byte base64url HMACs.
    let (today, yesterday) = fa.split_once('.').unwrap();
    assert_eq!((today.len(), yesterday.len()), (43, 43));
    assert!(!text_a.contains("127.0.0.1"));
    assert!(!text_a.contains("Chrome"));
    assert!(!text_a.contains(BROWSER));
    edge.stop().await;
}

#[tokio::test]
async fn gdpr_visitors_are_not_fingerprinted() {
    let edge = Edge::start(config()).await;
    let mut body = anon();
    body["gdpr"] = json!(true);
    let by_field = view(&edge, "", body, &[]).await;
    let by_query = view(&edge, "?gdpr=1", anon(), &[]).await;
    let mut body = anon();
    body["gdpr"] = json!("1");
    body["contact_id"] = json!("cnt_1");
    let with_contact = view(&edge, "", body, &[]).await;
    for id in [by_field, by_query, with_contact] {
        let (raw, _) = edge.raw_event(&id).await;
        assert_eq!(raw.visitor.fingerprint, None, "{id}");
    }
    let r = edge
        .http
        .get(edge.url("/t/news/s.gif?content_id=n1&gdpr=1"))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-event-id"].to_str().unwrap().to_string();
    assert_eq!(edge.raw_event(&id).await.0.visitor.fingerprint, None);
    edge.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // Untrusted peer: X-Forwarded-For is ignored, so two "different clients"
    // are the same visitor.
    let edge = Edge::start(config()).await;
    let a = view(&edge, "", anon(), &[("x-forwarded-for", "198.51.100.1")]).await;
    let b = view(&edge, "", anon(), &[("x-forwarded-for", "198.51.100.2")]).await;
    assert_eq!(
        edge.raw_event(&a).await.0.visitor.fingerprint,
        edge.raw_event(&b).await.0.visitor.fingerprint
    );
    edge.stop().await;

    // Trusted peer: the rightmost untrusted hop is the client.
    let mut cfg = config();
    cfg.edge.trusted_proxies = vec!["127.0.0.0/8".into()];
    let edge = Edge::start(cfg).await;
    let a = view(&edge, "", anon(), &[("x-forwarded-for", "198.51.100.1")]).await;
    let b = view(&edge, "", anon(), &[("x-forwarded-for", "198.51.100.2")]).await;
    let spoofed = view(
        &edge,
        "",
        anon(),
        &[("x-forwarded-for", "6.6.6.6, 198.51.100.2")],
    )
    .await;
    let fa = edge.raw_event(&a).await.0.visitor.fingerprint;
    let fb = edge.raw_event(&b).await.0.visitor.fingerprint;
    assert_ne!(fa, fb);
    assert_eq!(fb, edge.raw_event(&spoofed).await.0.visitor.fingerprint);
    edge.stop().await;
}

#[tokio::test]
async fn crawlers_are_marked_not_refused() {
    let edge = Edge::start(config()).await;
    let bot = view(
        &edge,
        "",
        anon(),
        &[(
            "user-agent",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        )],
    )
    .await;
    let curl = view(&edge, "", anon(), &[("user-agent", "curl/8.5.0")]).await;
    let person = view(&edge, "", anon(), &[]).await;
    assert!(edge.raw_event(&bot).await.0.visitor.bot);
    assert!(edge.raw_event(&curl).await.0.visitor.bot);
    assert!(!edge.raw_event(&person).await.0.visitor.bot);
    edge.stop().await;
}

/// The 202's body for a POST with this user agent (None: the client's own
/// browser user agent).
async fn answer(
    edge: &Edge,
    path: &str,
    body: serde_json::Value,
    ua: Option<&str>,
) -> serde_json::Value {
    let mut req = edge.http.post(edge.url(path)).json(&body);
    if let Some(ua) = ua {
        req = req.header("user-agent", ua);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_answer_says_when_the_sender_was_taken_for_a_bot() {
    let edge = Edge::start(config()).await;
    let form = json!({"form_id": "f1", "email": "a@example.com"});
    for (path, body) in [("/api/page-view", anon()), ("/api/form-submission", form)] {
        for ua in ["curl/8.5.0", "python-requests/2.32.3", "Googlebot/2.1"] {
            let a = answer(&edge, path, body.clone(), Some(ua)).await;
            assert_eq!(a["bot"], json!(true), "{path} {ua}: {a}");
            let id = a["id"].as_str().expect("id");
            assert!(edge.raw_event(id).await.0.visitor.bot, "{path} {ua}");
        }
        let a = answer(&edge, path, body.clone(), None).await;
        assert_eq!(a["status"], "ok");
        assert!(a.get("bot").is_none(), "{path} browser: {a}");
        let id = a["id"].as_str().expect("id");
        assert!(!edge.raw_event(id).await.0.visitor.bot, "{path} browser");
    }
    edge.stop().await;
}
