//! Scraping every process of a stack's `/metrics`: the names exported, the
//! families without `# HELP`, and who exports the stack-wide lag gauges.

use crate::{Service, Stack};
use std::collections::BTreeSet;

/// What one round of scraping every process found.
#[derive(Default)]
pub struct Scrape {
    /// Every metric name with a sample.
    pub names: BTreeSet<String>,
    /// Metric families with samples but no `# HELP` line, and where.
    pub without_help: BTreeSet<String>,
    /// The processes (by URL) exporting the stack-wide lag gauges.
    pub lag_exporters: BTreeSet<String>,
}

pub async fn scrape(stack: &Stack, extra_ops: &[String]) -> Scrape {
    let mut out = Scrape::default();
    let urls = Service::ALL
        .iter()
        .map(|s| stack.ops_url(*s))
        .chain(extra_ops.iter().cloned());
    for url in urls {
        // A process still starting is scraped again on the next round.
        let Ok(answer) = stack.http().get(format!("{url}/metrics")).send().await else {
            continue;
        };
        let text = answer.text().await.unwrap_or_default();
        let helped: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            out.names.insert(name.to_string());
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| helped.contains(f))
                .unwrap_or(name);
            if !helped.contains(family) {
                out.without_help.insert(format!("{family} ({url})"));
            }
            if name == "hookline_consumer_pending" {
                out.lag_exporters.insert(url.clone());
            }
        }
    }
    out
}
