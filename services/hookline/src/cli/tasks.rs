//! `hookline tasks list|retry`: the automation tasks in the CRM database,
//! read and requeued directly (the actions worker needs no admin API).

use actions::store::{self, Retry};
use anyhow::{Context, bail};
use clap::Subcommand;
use hookline_core::Config;
use hookline_core::db;

const STATUSES: [&str; 4] = ["pending", "sending", "sent", "failed"];

/// `hookline tasks …`.
#[derive(Subcommand, Debug)]
pub enum TasksCmd {
    /// List automation tasks, newest first.
    List {
        /// Only tasks in this status: pending, sending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed task back to pending, due now, with its attempts reset.
    /// A sent task, or one a live worker holds, is refused.
    Retry {
        /// The task id (first column of `hookline tasks list`).
        id: i64,
    },
}

/// Runs one `tasks` subcommand against `crm.database_url`.
pub async fn run(cmd: TasksCmd, config: &Config) -> anyhow::Result<()> {
    let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 2)
        .await
        .context("connecting to crm.database_url")?;
    match cmd {
        TasksCmd::List {
            status,
            limit,
            json,
        } => {
            if let Some(s) = &status
                && !STATUSES.contains(&s.as_str())
            {
                bail!("--status must be one of {}", STATUSES.join(", "));
            }
            let rows = store::list(&pool, status.as_deref(), limit.clamp(1, 10_000)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!(
                "{:>8}  {:<16} {:<8} {:>3}  {:<24} {:<20} LAST ERROR",
                "ID", "KIND", "STATUS", "TRY", "CONTACT", "CREATED"
            );
            for r in rows {
                println!(
                    "{:>8}  {:<16} {:<8} {:>3}  {:<24} {:<20} {}",
                    r.id,
                    r.kind,
                    r.status,
                    r.attempts,
                    r.contact_key,
                    r.created_at.format("%Y-%m-%d %H:%M:%S"),
                    r.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        TasksCmd::Retry { id } => match store::retry(&pool, id).await? {
            Retry::Requeued => {
                println!("task {id} is pending again");
                Ok(())
            }
            Retry::NotFound => bail!("no task {id}"),
            Retry::Refused(status) => {
                bail!("task {id} is {status}; retrying it could send it twice")
            }
        },
    }
}
