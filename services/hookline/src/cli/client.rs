//! The HTTP client of the admin-API commands: where the API is, the token,
//! and how answers are printed.

use anyhow::{Context, bail};
use clap::Args;
use hookline_core::Config;
use serde_json::Value;

/// Where the admin API is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Admin API base URL (default: webhook_out.listen, on 127.0.0.1 when it
    /// listens on all interfaces, i.e. http://127.0.0.1:8081).
    #[arg(long, env = "HOOKLINE_ADMIN_URL")]
    pub url: Option<String>,
    /// Admin token (default: webhook_out.admin_token).
    #[arg(
        long,
        env = "HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// A client of the admin API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client for `conn`, defaulting to this configuration.
    pub fn new(conn: &Conn, config: &Config) -> anyhow::Result<Self> {
        let base = conn.url.clone().unwrap_or_else(|| {
            let mut addr = config.webhook_out.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        });
        let Some(token) = conn
            .token
            .clone()
            .or(config.webhook_out.admin_token.clone())
        else {
            bail!("no admin token: pass --token or set HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN");
        };
        Ok(Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Calls the API; a non-2xx answer is an error carrying its message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = value["message"].as_str().unwrap_or(text.as_str());
            bail!("{status}: {msg}");
        }
        Ok(value)
    }
}

/// Prints a JSON answer.
pub fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A value as table text (`-` for null).
pub fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// POSTs a one-off delivery (`test`, `resend`), prints the result, fails
/// when the endpoint did not answer 2xx.
pub async fn send_once(conn: &Conn, config: &Config, path: &str, what: &str) -> anyhow::Result<()> {
    let v = Client::new(conn, config)?
        .call(reqwest::Method::POST, path, None)
        .await?;
    print(&v);
    if v["success"] != true {
        bail!("{what} failed");
    }
    Ok(())
}
