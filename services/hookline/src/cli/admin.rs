//! `hookline webhooks …`, `hookline deliveries …`, `hookline replay …`: a thin
//! client of the webhook-out admin API (so it works against a remote
//! instance too, and checks exactly what curl would).

use super::client::{Client, Conn, print, s, send_once};
use clap::{Args, Subcommand};
use hookline_core::{Config, WebhookId};
use reqwest::Method;
use serde_json::{Value, json};

pub use super::history::{DeliveriesArgs, ReplayArgs, deliveries, replay};

/// `hookline webhooks …`.
#[derive(Subcommand, Debug)]
pub enum WebhooksCmd {
    /// List webhooks.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a webhook; prints it with its secret.
    Create {
        #[command(flatten)]
        conn: Conn,
        /// Target URL of the endpoint.
        target: String,
        /// Event types, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "page_view,form_submission,content_published"
        )]
        events: Vec<String>,
        /// `standard`, `rc-legacy` or `optimocms`.
        #[arg(long, default_value = "standard")]
        profile: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// Signing secret (generated when absent).
        #[arg(long)]
        secret: Option<String>,
        /// API key of rc-legacy bodies.
        #[arg(long)]
        api_key: Option<String>,
    },
    /// Show one webhook (never its secret: see `secret`).
    Get {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
    },
    /// Change a webhook.
    Update {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
        #[command(flatten)]
        changes: Changes,
    },
    /// Delete a webhook.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
    },
    /// Show a webhook's signing secret, previous secret and API key.
    Secret {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
    },
    /// Re-encrypt every stored secret under the first key of
    /// webhook_out.encryption_keys (directly in rc.database_url), so an
    /// older key can then be removed.
    Reencrypt,
    /// Issue a new secret; the old one keeps signing for 24 h.
    RotateSecret {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
    },
    /// Send a signed test ping now and show the result.
    Test {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
    },
    /// Deliver one event of RC_EVENTS to one webhook now, once.
    Resend {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: WebhookId,
        /// Event id (evt_…).
        event_id: String,
    },
}

/// What `hookline webhooks update` changes; a flag not given leaves its
/// field alone.
#[derive(Args, Debug)]
pub struct Changes {
    /// New target URL.
    #[arg(long)]
    target: Option<String>,
    /// New event types, comma-separated.
    #[arg(long, value_delimiter = ',')]
    events: Option<Vec<String>>,
    /// New profile.
    #[arg(long)]
    profile: Option<String>,
    /// New description (empty clears it).
    #[arg(long)]
    description: Option<String>,
    /// New API key (empty clears it).
    #[arg(long)]
    api_key: Option<String>,
    /// Re-enable (clears the failure state).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Pause deliveries.
    #[arg(long)]
    disable: bool,
}

impl Changes {
    /// The `PATCH /v1/webhooks/{id}` body: only the fields given.
    fn body(self) -> Value {
        let mut body = serde_json::Map::new();
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_string(), v);
            }
        };
        set("url", self.target.map(Value::from));
        set("events", self.events.map(Value::from));
        set("profile", self.profile.map(Value::from));
        set("description", self.description.map(Value::from));
        set("api_key", self.api_key.map(Value::from));
        let active = (self.enable || self.disable).then_some(Value::from(self.enable));
        set("active", active);
        body.into()
    }
}

/// Runs `hookline webhooks …`.
pub async fn webhooks(cmd: WebhooksCmd, config: &Config) -> anyhow::Result<()> {
    match cmd {
        WebhooksCmd::List { conn, json } => list(&conn, config, json).await,
        WebhooksCmd::Create {
            conn,
            target,
            events,
            profile,
            description,
            secret,
            api_key,
        } => {
            let body = json!({"url": target, "events": events, "profile": profile,
                "description": description, "secret": secret, "api_key": api_key});
            show(&conn, config, Method::POST, "/v1/webhooks", Some(body)).await
        }
        WebhooksCmd::Get { conn, id } => {
            let path = format!("/v1/webhooks/{id}");
            show(&conn, config, Method::GET, &path, None).await
        }
        WebhooksCmd::Update { conn, id, changes } => {
            let path = format!("/v1/webhooks/{id}");
            show(&conn, config, Method::PATCH, &path, Some(changes.body())).await
        }
        WebhooksCmd::Delete { conn, id } => {
            Client::new(&conn, config)?
                .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
                .await?;
            println!("deleted {id}");
            Ok(())
        }
        WebhooksCmd::Secret { conn, id } => {
            let path = format!("/v1/webhooks/{id}/secret");
            show(&conn, config, Method::GET, &path, None).await
        }
        WebhooksCmd::Reencrypt => super::reencrypt::run(config).await,
        WebhooksCmd::RotateSecret { conn, id } => {
            let path = format!("/v1/webhooks/{id}/rotate-secret");
            show(&conn, config, Method::POST, &path, None).await
        }
        WebhooksCmd::Test { conn, id } => {
            let path = format!("/v1/webhooks/{id}/test");
            send_once(&conn, config, &path, "test delivery").await
        }
        WebhooksCmd::Resend { conn, id, event_id } => {
            let path = format!("/v1/webhooks/{id}/resend/{event_id}");
            send_once(&conn, config, &path, "resend").await
        }
    }
}

/// Calls the admin API and prints its JSON answer.
async fn show(
    conn: &Conn,
    config: &Config,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<()> {
    print(&Client::new(conn, config)?.call(method, path, body).await?);
    Ok(())
}

/// `hookline webhooks list`: a table, or the API's JSON.
async fn list(conn: &Conn, config: &Config, json: bool) -> anyhow::Result<()> {
    let v = Client::new(conn, config)?
        .call(Method::GET, "/v1/webhooks", None)
        .await?;
    if json {
        print(&v);
        return Ok(());
    }
    println!(
        "{:<30} {:<7} {:<10} {:<5} {:<28} URL",
        "ID", "ACTIVE", "PROFILE", "FAILS", "EVENTS"
    );
    for w in v["data"].as_array().into_iter().flatten() {
        let events: Vec<String> = w["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        println!(
            "{:<30} {:<7} {:<10} {:<5} {:<28} {}",
            s(&w["id"]),
            s(&w["active"]),
            s(&w["profile"]),
            s(&w["fail_count"]),
            events.join(","),
            s(&w["url"])
        );
    }
    Ok(())
}
