//! One cancellation signal shared by every task of a process.
//!
//! Services stop taking new work when it fires, finish or nak what is in
//! flight, and return. `hookline all` hands the same signal to every service, so
//! one SIGTERM drains the whole pipeline.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A signal that fires only when [`Shutdown::trigger`] is called.
    pub fn new() -> Self {
        Self(CancellationToken::new())
    }

    /// A signal that also fires on SIGTERM or SIGINT.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received, draining");
            trigger.trigger();
        });
        shutdown
    }

    /// Fires the signal.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once the signal fires.
    pub async fn wait(&self) {
        self.0.cancelled().await
    }

    /// A child signal: fires with the parent, or alone (used to stop one
    /// webhook's delivery loop without stopping the service).
    pub fn child(&self) -> Self {
        Self(self.0.child_token())
    }

    /// Runs `fut` until it completes or the grace period after the signal
    /// ends, whichever is first. Returns `None` when the grace period ran out.
    pub async fn with_grace<F: std::future::Future>(
        &self,
        grace: Duration,
        fut: F,
    ) -> Option<F::Output> {
        tokio::pin!(fut);
        tokio::select! {
            out = &mut fut => Some(out),
            _ = async { self.wait().await; tokio::time::sleep(grace).await } => None,
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
