//! `hookline lag`: per stream and consumer — pending, ack-pending,
//! redelivered, oldest unacknowledged age and state.

use clap::Args;
use hookline_core::Config;
use hookline_core::lag::{self, StreamLag};
use hookline_core::nats::Nats;
use std::io::Write;
use std::time::Duration;

/// Arguments of `hookline lag`.
#[derive(Args, Debug)]
pub struct LagArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Refresh in place every N seconds until interrupted.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
    watch: Option<u64>,
}

/// Runs `hookline lag`.
pub async fn run(config: Config, args: LagArgs) -> anyhow::Result<()> {
    let nats = Nats::connect(&config.nats).await?;
    loop {
        let streams = lag::collect(&nats).await?;
        let text = if args.json {
            serde_json::to_string_pretty(&streams)? + "\n"
        } else {
            table(&streams)
        };
        let mut out = std::io::stdout().lock();
        if args.watch.is_some() {
            // Clear the screen and go home, so the table refreshes in place.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        match args.watch {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}

fn table(streams: &[StreamLag]) -> String {
    let mut rows = vec![
        [
            "STREAM",
            "CONSUMER",
            "MESSAGES",
            "PENDING",
            "ACK PENDING",
            "REDELIVERED",
            "OLDEST UNACKED",
            "STATE",
        ]
        .map(String::from),
    ];
    for s in streams {
        if s.consumers.is_empty() {
            rows.push([
                s.stream.clone(),
                "-".into(),
                s.messages.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for c in &s.consumers {
            rows.push([
                s.stream.clone(),
                c.consumer.clone(),
                s.messages.to_string(),
                c.pending.to_string(),
                c.ack_pending.to_string(),
                c.redelivered.to_string(),
                format!("{:.1}s", c.oldest_unacked_seconds),
                c.state.to_string(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
