//! The CRM consumers — being built; see the CRM issue.

use hookline_core::{Config, Shutdown};

/// Why the consumers stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not built yet.
    #[error("the CRM consumers are not built yet")]
    NotBuilt,
}

/// Names of the registered consumers.
pub fn registered() -> Vec<&'static str> {
    vec!["event-store", "engagement-score", "automation"]
}

/// Runs the named consumers (all when empty) until `shutdown` fires.
pub async fn run(_config: Config, _names: Vec<String>, _shutdown: Shutdown) -> Result<(), Error> {
    Err(Error::NotBuilt)
}
