//! `hookline webhooks …`, `hookline deliveries …`, `hookline replay …`: a thin
//! client of the webhook-out admin API (so it works against a remote
//! instance too, and checks exactly what curl would).

use super::client::{Client, Conn, print, s, send_once};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use hookline_core::Config;
use serde_json::{Value, json};

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
            default_value = "page_view,form_submission"
        )]
        events: Vec<String>,
        /// `standard` or `rc-legacy`.
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
    /// Show one webhook, with its secret.
    Get {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
    },
    /// Change a webhook.
    Update {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
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
    },
    /// Delete a webhook.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
    },
    /// Issue a new secret; the old one keeps signing for 24 h.
    RotateSecret {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
    },
    /// Send a signed test ping now and show the result.
    Test {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
    },
    /// Deliver one event of RC_EVENTS to one webhook now, once.
    Resend {
        #[command(flatten)]
        conn: Conn,
        /// Webhook id (wh_…).
        id: String,
        /// Event id (evt_…).
        event_id: String,
    },
}

/// `hookline deliveries <id>`.
#[derive(Args, Debug)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    conn: Conn,
    /// Webhook id (wh_…).
    id: String,
    /// `success`, `failure` or `exhausted`.
    #[arg(long)]
    status: Option<String>,
    /// Page size (1–250).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// `next_cursor` of a previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `hookline replay <id> --since …`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    conn: Conn,
    /// Webhook id (wh_…).
    id: String,
    /// Start: RFC 3339 (2026-10-13T07:00:00Z) or an age (2h, 30m).
    #[arg(long)]
    since: String,
    /// End: RFC 3339 or an age (default: now).
    #[arg(long)]
    until: Option<String>,
    /// Only these types, comma-separated.
    #[arg(long, value_delimiter = ',')]
    event_types: Option<Vec<String>>,
}

/// Runs `hookline webhooks …`.
pub async fn webhooks(cmd: WebhooksCmd, config: &Config) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        WebhooksCmd::List { conn, json } => {
            let v = Client::new(&conn, config)?
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
        }
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
            print(
                &Client::new(&conn, config)?
                    .call(Method::POST, "/v1/webhooks", Some(body))
                    .await?,
            );
        }
        WebhooksCmd::Get { conn, id } => {
            print(
                &Client::new(&conn, config)?
                    .call(Method::GET, &format!("/v1/webhooks/{id}"), None)
                    .await?,
            );
        }
        WebhooksCmd::Update {
            conn,
            id,
            target,
            events,
            profile,
            description,
            api_key,
            enable,
            disable,
        } => {
            let mut body = serde_json::Map::new();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body.insert(k.to_string(), v);
                }
            };
            set("url", target.map(Value::from));
            set("events", events.map(Value::from));
            set("profile", profile.map(Value::from));
            set("description", description.map(Value::from));
            set("api_key", api_key.map(Value::from));
            set("active", (enable || disable).then_some(Value::from(enable)));
            let path = format!("/v1/webhooks/{id}");
            print(
                &Client::new(&conn, config)?
                    .call(Method::PATCH, &path, Some(body.into()))
                    .await?,
            );
        }
        WebhooksCmd::Delete { conn, id } => {
            Client::new(&conn, config)?
                .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
                .await?;
            println!("deleted {id}");
        }
        WebhooksCmd::RotateSecret { conn, id } => {
            let path = format!("/v1/webhooks/{id}/rotate-secret");
            print(
                &Client::new(&conn, config)?
                    .call(Method::POST, &path, None)
                    .await?,
            );
        }
        WebhooksCmd::Test { conn, id } => {
            let path = format!("/v1/webhooks/{id}/test");
            send_once(&conn, config, &path, "test delivery").await?;
        }
        WebhooksCmd::Resend { conn, id, event_id } => {
            let path = format!("/v1/webhooks/{id}/resend/{event_id}");
            send_once(&conn, config, &path, "resend").await?;
        }
    }
    Ok(())
}

/// Runs `hookline deliveries <id>`.
pub async fn deliveries(args: DeliveriesArgs, config: &Config) -> anyhow::Result<()> {
    let mut query = format!("limit={}", args.limit);
    if let Some(st) = &args.status {
        query.push_str(&format!("&status={st}"));
    }
    if let Some(c) = &args.cursor {
        query.push_str(&format!("&cursor={c}"));
    }
    let path = format!("/v1/webhooks/{}/deliveries?{query}", args.id);
    let v = Client::new(&args.conn, config)?
        .call(reqwest::Method::GET, &path, None)
        .await?;
    if args.json {
        print(&v);
        return Ok(());
    }
    println!(
        "{:<26} {:<32} {:<16} {:>3} {:>6} {:>7} ERROR",
        "ATTEMPTED AT", "EVENT ID", "EVENT", "#", "STATUS", "MS"
    );
    for a in v["data"].as_array().into_iter().flatten() {
        let mut err = s(&a["error"]);
        if a["exhausted"] == true {
            err = format!("EXHAUSTED (dead-lettered): {err}");
        }
        println!(
            "{:<26} {:<32} {:<16} {:>3} {:>6} {:>7} {}",
            s(&a["attempted_at"]),
            s(&a["event_id"]),
            s(&a["event"]),
            s(&a["attempt"]),
            s(&a["status_code"]),
            s(&a["duration_ms"]),
            err
        );
    }
    if let Some(c) = v["next_cursor"].as_str() {
        println!("more: --cursor {c}");
    }
    Ok(())
}

/// An RFC 3339 time, or an age like `2h` meaning that long ago.
fn when(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = hookline_core::config::parse_duration(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Utc::now() - chrono::Duration::from_std(age)?)
}

/// Runs `hookline replay <id> --since …`.
pub async fn replay(args: ReplayArgs, config: &Config) -> anyhow::Result<()> {
    let mut body = json!({"since": when(&args.since)?});
    if let Some(u) = &args.until {
        body["until"] = json!(when(u)?);
    }
    if let Some(t) = args.event_types {
        body["event_types"] = json!(t);
    }
    let path = format!("/v1/webhooks/{}/replay", args.id);
    let v = Client::new(&args.conn, config)?
        .call(reqwest::Method::POST, &path, Some(body))
        .await?;
    println!("replaying {} events to {}", s(&v["replayed"]), args.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let t = when("2026-10-13T07:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-13T07:00:00+00:00");
        let ago = Utc::now() - when("2h").unwrap();
        assert!(ago >= chrono::Duration::minutes(119) && ago <= chrono::Duration::minutes(121));
        assert!(when("yesterday-ish").is_err());
    }
}
