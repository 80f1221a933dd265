//! `hookline <command>`: parses arguments and calls the services' `run`.
//!
//! Nothing here knows how a service works; each is a library crate with
//! `pub async fn run(config, shutdown)`.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookline_core::config::ConfigError;
use hookline_core::db;
use hookline_core::nats::{self, Nats};
use hookline_core::{Config, Shutdown, lag, telemetry};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// List content drift: page views and forms whose content_checksum
    /// differs from the checksum the CRM's catalog holds.
    Drift(cli::drift::DriftArgs),
    /// Run every service in one process (the local default).
    All,
    /// Create the databases if absent and apply migrations, then create or
    /// update the NATS streams and KV buckets (run it as the `admin` NATS
    /// user where services hold least-privilege users).
    Migrate,
    /// Print the nats-server `accounts` block with one least-privilege user
    /// per role (edge, dedupe, webhook-out, ingest, consumers, admin) for
    /// this `nats.prefix`.
    NatsConfig,
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
    /// Dead letters of RC_DLQ and CRM_DLQ: list, show, redrive, purge.
    #[command(subcommand)]
    Dlq(cli::dlq::DlqCmd),
    /// The journey of one event: edge, dedupe, deliveries, CRM, dead letters.
    Trace(cli::trace::TraceArgs),
    /// Compare the CRM's events with the RC's health-sync hour by hour;
    /// report (and with --repair re-deliver) what the CRM is missing.
    Reconcile(cli::reconcile::ReconcileArgs),
}

impl Command {
    /// The service name its spans are exported under, for the commands
    /// that run services.
    fn service_name(&self) -> Option<&'static str> {
        Some(match self {
            Command::Edge => "rc-edge",
            Command::Dedupe => "dedupe",
            Command::WebhookOut => "webhook-out",
            Command::Ingest => "crm-ingest",
            Command::Consume { .. } => "crm-consumers",
            Command::Actions => "actions",
            Command::All => "hookline",
            _ => return None,
        })
    }

    /// Whether the process refreshes the stack's lag gauges when
    /// `ops.export_lag` is unset: one process per stack, webhook-out (it
    /// runs once per stack, like the admin API) or `all`.
    fn exports_lag_by_default(&self) -> bool {
        matches!(self, Command::WebhookOut | Command::All)
    }
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // Long-running services export spans when configured; commands only log.
    let spans = match cli.command.service_name() {
        Some(service) => {
            let _in_runtime = runtime.enter();
            telemetry::init(&config.log, &config.telemetry, service)
        }
        None => {
            telemetry::init_logging(&config.log);
            telemetry::Telemetry::default()
        }
    };
    let result = runtime.block_on(dispatch(cli.command, config));
    // The last spans go out on the runtime, so before it stops; bounded like
    // the rest of the exit.
    spans.shutdown(EXIT_MARGIN);
    // Dropping a runtime waits without limit for its blocking threads; a
    // stuck one must not keep a stopped service alive.
    runtime.shutdown_timeout(EXIT_MARGIN);
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

/// Time after `ops.shutdown_grace` for closing listeners, pools and the
/// runtime once a service's drain is over.
const EXIT_MARGIN: Duration = Duration::from_secs(1);

/// Runs a long-lived service until it returns. Once the shutdown signal has
/// fired it has `ops.shutdown_grace` + [`EXIT_MARGIN`] to do so; past that
/// it is abandoned, as an orchestrator's SIGKILL would, and whatever it held
/// unacknowledged is redelivered by JetStream. Either way the time taken is
/// logged, so a slow stage shows up in the logs instead of as a hung process.
async fn until_stopped<E>(
    shutdown: &Shutdown,
    grace: Duration,
    service: impl Future<Output = Result<(), E>>,
) -> Result<(), E> {
    tokio::pin!(service);
    tokio::select! {
        out = &mut service => return out,
        _ = shutdown.wait() => {}
    }
    let signalled = Instant::now();
    match tokio::time::timeout(grace + EXIT_MARGIN, &mut service).await {
        Ok(out) => {
            tracing::info!(took = ?signalled.elapsed(), "stopped");
            out
        }
        Err(_) => {
            tracing::error!(
                took = ?signalled.elapsed(),
                "did not stop within ops.shutdown_grace; exiting anyway (unacknowledged work is redelivered)"
            );
            Ok(())
        }
    }
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<()> {
    let export_lag = config
        .ops
        .export_lag
        .unwrap_or(command.exports_lag_by_default());
    let service = |config: &Config| {
        let shutdown = Shutdown::on_signals();
        if export_lag {
            tokio::spawn(lag::export(config.clone(), LAG_EVERY, shutdown.clone()));
        }
        shutdown
    };
    let grace = config.ops.shutdown_grace;
    match command {
        Command::Migrate => migrate(&config).await,
        Command::Config => {
            println!("{}", serde_json::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Command::NatsConfig => {
            print!("{}", nats::permissions::server_config(&config.names()));
            Ok(())
        }
        Command::Lag(args) => cli::lag::run(config, args).await,
        Command::Edge => {
            let stop = service(&config);
            Ok(until_stopped(&stop, grace, rc_edge::run(config, stop.clone())).await?)
        }
        Command::Dedupe => {
            let stop = service(&config);
            Ok(until_stopped(&stop, grace, dedupe::run(config, stop.clone())).await?)
        }
        Command::WebhookOut => {
            let stop = service(&config);
            Ok(until_stopped(&stop, grace, webhook_out::run(config, stop.clone())).await?)
        }
        Command::Ingest => {
            let stop = service(&config);
            Ok(until_stopped(&stop, grace, crm_ingest::run(config, stop.clone())).await?)
        }
        Command::Consume { names } => {
            let stop = service(&config);
            let consumers = crm_consumers::run(config, names, stop.clone());
            Ok(until_stopped(&stop, grace, consumers).await?)
        }
        Command::All => {
            let stop = service(&config);
            until_stopped(&stop, grace, cli::all::run(config, stop.clone())).await
        }
        Command::Actions => {
            let stop = service(&config);
            Ok(until_stopped(&stop, grace, actions::run(config, stop.clone())).await?)
        }
        Command::Tasks(cmd) => cli::tasks::run(cmd, &config).await,
        Command::Drift(args) => cli::drift::run(args, &config).await,
        Command::Webhooks(cmd) => cli::admin::webhooks(cmd, &config).await,
        Command::Deliveries(args) => cli::admin::deliveries(args, &config).await,
        Command::Replay(args) => cli::admin::replay(args, &config).await,
        Command::Dlq(cmd) => cli::dlq::run(cmd, &config).await,
        Command::Trace(args) => cli::trace::run(&config, args).await,
        Command::Reconcile(args) => cli::reconcile::run(args, &config).await,
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    for (url, schema) in [
        (&config.rc.database_url, webhook_out::store::SCHEMA),
        (&config.crm.database_url, crm_consumers::schema::SCHEMA),
    ] {
        let pool = db::connect(url, schema, 2).await?;
        pool.close().await;
        println!("migrated {}", db::redact(url));
    }
    let bus = Nats::connect(&config.nats).await?;
    nats::declare(&bus, config).await?;
    println!(
        "declared NATS streams and buckets at {}",
        nats::redact_url(&config.nats.url)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_service_that_ignores_the_signal_is_abandoned_after_the_grace() {
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            trigger.trigger();
        });
        let started = tokio::time::Instant::now();
        let stuck = std::future::pending::<Result<(), std::io::Error>>();
        until_stopped(&shutdown, Duration::from_secs(5), stuck)
            .await
            .expect("abandoning is not an error");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1) + Duration::from_secs(5) + EXIT_MARGIN
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_drains_returns_its_own_result() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let drains = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Err::<(), _>(std::io::Error::other("drain failed"))
        };
        let out = until_stopped(&shutdown, Duration::from_secs(5), drains).await;
        assert_eq!(
            out.expect_err("the service's error").to_string(),
            "drain failed"
        );
    }
}
