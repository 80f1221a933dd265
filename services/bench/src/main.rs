//! `hookline-bench`: the load generator and reference servers behind
//! `scripts/bench`. Not a test: it measures, and prints one JSON object per
//! run on stdout (a readable copy on stderr).
//!
//! Configuration is hookline's own (`--config`, `HOOKLINE__…`), so the tool
//! talks to the same NATS prefix and databases as the services under test.
//! Every target address must be loopback: this tool only ever loads the
//! machine it runs on.

mod e2e;
mod fill;
mod jspub;
mod load;
mod report;
mod servers;
mod summary;
mod whout;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hookline_core::Config;
use hookline_core::nats::Nats;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "hookline-bench",
    version,
    about = "hookline benchmarks (see scripts/bench)"
)]
struct Cli {
    /// hookline configuration file; HOOKLINE__… variables apply on top.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct LoadArgs {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Request path.
    #[arg(long, default_value = "/api/page-view")]
    path: String,
    /// Name of what is measured, for the report.
    #[arg(long, default_value = "edge")]
    target: String,
    /// Offered requests per second (open loop); omit for closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Known visitors the page views are spread over.
    #[arg(long, default_value_t = 10_000)]
    contacts: u64,
    /// Every N-th page view is anonymous (0: none).
    #[arg(long, default_value_t = 4)]
    anonymous_every: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// HTTP load against an endpoint (the edge or the bare server).
    Http(LoadArgs),
    /// Serve a bare axum endpoint that answers 202 and does nothing.
    Bare {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:18090")]
        listen: SocketAddr,
    },
    /// Publish to a JetStream stream as fast as PubAcks come back.
    Jspub {
        /// PubAcks in flight.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds first.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
    },
    /// Load the edge and follow each event until every CRM consumer committed it.
    E2e {
        #[command(flatten)]
        load: LoadArgs,
        /// Consumers that must all commit an event.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "event-store,engagement-score,automation"
        )]
        consumers: Vec<String>,
        /// Watcher poll interval, ms.
        #[arg(long, default_value_t = 20)]
        poll_ms: u64,
        /// Longest wait for the pipeline to drain after the load, seconds.
        #[arg(long, default_value_t = 120)]
        drain_timeout: u64,
    },
    /// Deliveries/s of webhook-out to a local receiver.
    Webhooks {
        /// webhook-out admin API address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        admin: SocketAddr,
        /// Admin bearer token.
        #[arg(long, env = "HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN")]
        token: String,
        /// Webhooks to create.
        #[arg(long, default_value_t = 1)]
        webhooks: usize,
        /// Events to publish to RC_EVENTS.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Longest wait for the deliveries, seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// A `hookline-bench receiver` to point the webhooks at (loopback
        /// only); without it, a receiver in this process.
        #[arg(long)]
        receiver: Option<SocketAddr>,
    },
    /// Serve the counting webhook receiver (200 at once) as its own process.
    Receiver {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:18095")]
        listen: SocketAddr,
    },
    /// Publish N keyed raw page views to RC_RAW and wait for dedupe.
    Fill {
        /// Raw events (one dedupe key each).
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Longest wait, seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Wait until the pipeline's consumers have nothing pending.
    Drain {
        /// Longest wait, seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Delete every stream and bucket of the prefix and both databases.
    Cleanup,
    /// Render a results.jsonl file as Markdown tables.
    Summary {
        /// The file scripts/bench wrote.
        results: PathBuf,
    },
}

fn loopback(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "{addr} is not a loopback address; hookline-bench only loads this machine"
    );
    Ok(addr)
}

fn spec(a: &LoadArgs) -> anyhow::Result<load::Spec> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    Ok(load::Spec {
        target: a.target.clone(),
        addr: loopback(a.addr)?,
        path: a.path.clone(),
        connections: a.connections.max(1),
        rate: a.rate.filter(|r| *r > 0.0),
        warmup: Duration::from_secs_f64(a.warmup.max(0.0)),
        duration: Duration::from_secs_f64(a.duration.max(0.1)),
        body: load::page_view_bodies(&run[run.len() - 10..], a.contacts, a.anonymous_every),
        accepted: None,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Summary { results } = &cli.command {
        print!("{}", summary::render(results)?);
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref()).context("loading the hookline config")?;
    match cli.command {
        Command::Http(a) => report::emit("http", &load::run(spec(&a)?).await),
        Command::Bare { listen } => servers::bare(loopback(listen)?).await?,
        Command::Receiver { listen } => servers::serve_receiver(loopback(listen)?).await?,
        Command::Jspub {
            in_flight,
            duration,
            warmup,
        } => {
            let r = jspub::run(
                &config,
                in_flight,
                Duration::from_secs_f64(warmup),
                Duration::from_secs_f64(duration),
            )
            .await?;
            report::emit("jspub", &r);
        }
        Command::E2e {
            load,
            consumers,
            poll_ms,
            drain_timeout,
        } => {
            let watch = e2e::Watch {
                pool: watcher_pool(&config).await?,
                consumers,
                poll: Duration::from_millis(poll_ms.max(1)),
                drain_timeout: Duration::from_secs(drain_timeout),
            };
            let r = e2e::run(&config, spec(&load)?, watch).await?;
            report::emit("e2e", &r);
        }
        Command::Webhooks {
            admin,
            token,
            webhooks,
            events,
            timeout,
            receiver,
        } => {
            let spec = whout::WhSpec {
                admin: loopback(admin)?,
                token,
                webhooks,
                events,
                timeout: Duration::from_secs(timeout),
                receiver: receiver.map(loopback).transpose()?,
            };
            report::emit("webhooks", &whout::run(&config, spec).await?);
        }
        Command::Fill { count, timeout } => {
            let r = fill::run(&config, count, Duration::from_secs(timeout)).await?;
            report::emit("fill", &r);
        }
        Command::Drain { timeout } => {
            let at = e2e::lag_zero(&config, Duration::from_secs(timeout)).await?;
            anyhow::ensure!(
                at.is_some(),
                "the pipeline did not drain within {timeout} s"
            );
        }
        Command::Summary { .. } => {}
        Command::Cleanup => cleanup(&config).await,
    }
    Ok(())
}

/// The e2e watcher's connections to the CRM database, named so their cost
/// can be told apart in `pg_stat_activity` (and by `scripts/bench`).
async fn watcher_pool(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let options: sqlx::postgres::PgConnectOptions = config
        .crm
        .database_url
        .parse()
        .context("parsing crm.database_url")?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.application_name("hookline-bench"))
        .await
        .context("connecting to the CRM database")
}

/// Deletes the prefix's streams and buckets and both databases.
async fn cleanup(config: &Config) {
    if let Ok(nats) = Nats::connect(&config.nats).await {
        hookline_core::nats::delete_all(&nats, config).await;
        let _ = nats
            .js
            .delete_stream(config.names().stream("BENCH_PUB"))
            .await;
    }
    for url in [&config.rc.database_url, &config.crm.database_url] {
        if let Err(e) = hookline_core::db::drop_database(url).await {
            eprintln!("cleanup: {e}");
        }
    }
}
