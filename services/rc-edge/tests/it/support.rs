//! A running edge on port 0 with its own NATS prefix, and ways to look at
//! what it published.

use hookline_core::event::RawEvent;
use hookline_core::names::RC_RAW;
use hookline_core::nats::Nats;
use hookline_core::{Config, Shutdown, testing};
use std::time::{Duration, Instant};

/// A Chrome user agent: not a bot.
pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

pub struct Edge {
    pub base: String,
    pub config: Config,
    pub nats: Nats,
    pub http: reqwest::Client,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), rc_edge::Error>>,
}

/// An isolated config with a fixed fingerprint secret.
pub fn config() -> Config {
    let mut config = testing::isolated_config();
    config.edge.fingerprint_secret = Some("test-fingerprint-secret".into());
    config.edge.public_base_url = "https://rc.example".into();
    config
}

impl Edge {
    pub async fn start(config: Config) -> Edge {
        let nats = Nats::connect_and_declare(&config).await.expect("NATS up");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(rc_edge::run_with_listener(
            config.clone(),
            listener,
            shutdown.clone(),
        ));
        let http = reqwest::Client::builder()
            .user_agent(BROWSER)
            .build()
            .unwrap();
        let edge = Edge {
            base,
            config,
            nats,
            http,
            shutdown,
            task,
        };
        edge.wait_ready().await;
        edge
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "edge never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON and returns (status, body).
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POSTs raw bytes with a content type; returns (status, body).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Every raw event on RC_RAW, in order, with its `Nats-Msg-Id`.
    pub async fn raw_events(&self) -> Vec<(String, RawEvent, String)> {
        let mut out = Vec::new();
        for m in hookline_core::testing::stored(&self.nats, RC_RAW).await {
            let msg_id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            let text = String::from_utf8(m.payload.to_vec()).unwrap();
            out.push((msg_id, serde_json::from_str(&text).unwrap(), text));
        }
        out
    }

    /// The raw event published under `id`.
    pub async fn raw_event(&self, id: &str) -> (RawEvent, String) {
        self.raw_events()
            .await
            .into_iter()
            .find(|(msg_id, raw, _)| msg_id == id && raw.event.id.as_str() == id)
            .map(|(_, raw, text)| (raw, text))
            .unwrap_or_else(|| panic!("no raw event {id} on RC_RAW"))
    }

    /// Stops the edge without cleaning up (its NATS may be gone).
    pub async fn stop_only(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
        testing::cleanup(&self.config).await;
    }
}

/// The id from a `202 {"status":"ok","id":…}` answer.
pub fn accepted_id(status: u16, body: &serde_json::Value) -> String {
    assert_eq!(status, 202, "answer: {body}");
    assert_eq!(body["status"], "ok");
    let id = body["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("evt_"), "{id}");
    id
}
