//! webhook-out — being built; see the service issue.

use hookline_core::{Config, Shutdown};

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not built yet.
    #[error("webhook-out is not built yet")]
    NotBuilt,
}

/// Runs the service until `shutdown` fires.
pub async fn run(_config: Config, _shutdown: Shutdown) -> Result<(), Error> {
    Err(Error::NotBuilt)
}
