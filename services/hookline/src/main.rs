//! `hookline <command>`: parses arguments and calls the services' `run`.
//!
//! Nothing here knows how a service works; each is a library crate with
//! `pub async fn run(config, shutdown)`.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookline_core::config::ConfigError;
use hookline_core::db::{self, Schema};
use hookline_core::{Config, Shutdown, lag, telemetry};
use std::path::PathBuf;
use std::time::Duration;

/// hookline: engagement events from the Resources Centre to the CRM, over
/// NATS JetStream, nothing lost and nothing counted twice.
#[derive(Parser, Debug)]
#[command(name = "hookline", version)]
struct Cli {
    /// Configuration file (default: ./hookline.toml when present). Environment
    /// variables HOOKLINE__SECTION__KEY override it.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run rc-edge: the HTTP API that takes page views and form submissions.
    Edge,
    /// Run dedupe: drops repeated raw events, forwards unique ones.
    Dedupe,
    /// Run webhook-out: signed delivery to subscribed endpoints, admin API.
    WebhookOut,
    /// Run crm-ingest: verifies deliveries and publishes them to CRM_EVENTS.
    Ingest,
    /// Run CRM consumers (all registered ones when none are named).
    Consume {
        /// Consumer names, e.g. event-store engagement-score automation.
        names: Vec<String>,
    },
    /// Run the actions worker: sends thank-you emails and SDR hand-offs for
    /// the tasks automation created.
    Actions,
    /// List or retry automation tasks.
    #[command(subcommand)]
    Tasks(cli::tasks::TasksCmd),
    /// Run every service in one process (the local default).
    All,
    /// Create the databases if absent and apply migrations.
    Migrate,
    /// Print the effective configuration (secrets hidden) and exit; fails
    /// with the offending key when the configuration is bad.
    Config,
    /// Print stream and consumer lag.
    Lag(cli::lag::LagArgs),
    /// Manage webhooks through the webhook-out admin API.
    #[command(subcommand)]
    Webhooks(cli::admin::WebhooksCmd),
    /// List a webhook's delivery attempts, newest first.
    Deliveries(cli::admin::DeliveriesArgs),
    /// Deliver a webhook's events from a time window again.
    Replay(cli::admin::ReplayArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            // One line naming the key, not a backtrace.
            eprintln!("hookline: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init_logging(&config.log);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(dispatch(cli.command, config));
    if let Err(e) = &result
        && let Some(key_error) = e.chain().find_map(|c| c.downcast_ref::<ConfigError>())
    {
        // A setting the operator must fix (a refused NATS login, a missing
        // secret): one line naming the key, and exit 2 like a bad file.
        eprintln!("hookline: {key_error}");
        std::process::exit(2);
    }
    result
}

/// How often a running service refreshes the stack's lag gauges.
const LAG_EVERY: Duration = Duration::from_secs(10);

async fn dispatch(command: Command, config: Config) -> anyhow::Result<()> {
    let service = |config: &Config| {
        let shutdown = Shutdown::on_signals();
        tokio::spawn(lag::export(config.clone(), LAG_EVERY, shutdown.clone()));
        shutdown
    };
    match command {
        Command::Migrate => migrate(&config).await,
        Command::Config => {
            println!("{}", serde_json::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Command::Lag(args) => cli::lag::run(config, args).await,
        Command::Edge => Ok(rc_edge::run(config.clone(), service(&config)).await?),
        Command::Dedupe => Ok(dedupe::run(config.clone(), service(&config)).await?),
        Command::WebhookOut => Ok(webhook_out::run(config.clone(), service(&config)).await?),
        Command::Ingest => Ok(crm_ingest::run(config.clone(), service(&config)).await?),
        Command::Consume { names } => {
            Ok(crm_consumers::run(config.clone(), names, service(&config)).await?)
        }
        Command::Actions => Ok(actions::run(config.clone(), service(&config)).await?),
        Command::Tasks(cmd) => cli::tasks::run(cmd, &config).await,
        Command::All => cli::all::run(config.clone(), service(&config)).await,
        Command::Webhooks(cmd) => cli::admin::webhooks(cmd, &config).await,
        Command::Deliveries(args) => cli::admin::deliveries(args, &config).await,
        Command::Replay(args) => cli::admin::replay(args, &config).await,
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    for (url, schema) in [
        (&config.rc.database_url, Schema::Rc),
        (&config.crm.database_url, Schema::Crm),
    ] {
        let pool = db::connect(url, schema, 2).await?;
        pool.close().await;
        println!("migrated {}", db::redact(url));
    }
    Ok(())
}
