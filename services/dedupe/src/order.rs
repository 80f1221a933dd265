//! Verdicts in stream order while batches overlap.
//!
//! dedupe judges by claiming keys, and the first claim of a key wins, so two
//! batches judged side by side could overtake each other: a later copy of a
//! content announcement claimed before the first, which was then dropped.
//! Judging one batch at a time avoids that but leaves the KV idle while a
//! batch publishes to RC_EVENTS and acks.
//!
//! A [`Relay`] hands each batch a [`Turn`] at the moment the consume loop
//! forms it, which is the order its messages arrived in. A batch claims its
//! keys only once the batch before it has claimed, and publishes only once
//! the batch before it has published; what overlaps is batch N+1's claims
//! with batch N's publish and acks. Decisions and forwarding therefore
//! happen in stream order, exactly as with one batch at a time.
//!
//! A batch that ends early (its task dropped on shutdown) drops its turn,
//! which releases the next one: nothing waits for a batch that is gone.

use std::sync::Mutex;
use tokio::sync::oneshot;

/// What a batch waits for from the batch before it.
struct Baton {
    judged: oneshot::Receiver<()>,
    forwarded: oneshot::Receiver<()>,
}

/// Hands out turns in the order batches are formed.
#[derive(Default)]
pub struct Relay {
    last: Mutex<Option<Baton>>,
}

impl Relay {
    /// The next batch's turn: after the one handed out before it.
    pub fn turn(&self) -> Turn {
        let (judged, judged_rx) = oneshot::channel();
        let (forwarded, forwarded_rx) = oneshot::channel();
        let baton = Baton {
            judged: judged_rx,
            forwarded: forwarded_rx,
        };
        let previous = match self.last.lock() {
            Ok(mut last) => last.replace(baton),
            Err(poisoned) => poisoned.into_inner().replace(baton),
        };
        Turn {
            previous,
            judged: Some(judged),
            forwarded: Some(forwarded),
        }
    }
}

/// One batch's place in the relay.
pub struct Turn {
    previous: Option<Baton>,
    judged: Option<oneshot::Sender<()>>,
    forwarded: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// A turn with nobody before it and nobody waiting (tests, one-off use).
    pub fn alone() -> Self {
        Relay::default().turn()
    }

    /// Waits until the batch before this one has judged.
    pub async fn may_judge(&mut self) {
        if let Some(previous) = &mut self.previous {
            // An error means that batch is gone: nothing to wait for.
            let _ = (&mut previous.judged).await;
        }
    }

    /// This batch has judged: the next may.
    pub fn judged(&mut self) {
        if let Some(tx) = self.judged.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the batch before this one has forwarded.
    pub async fn may_forward(&mut self) {
        if let Some(previous) = &mut self.previous {
            let _ = (&mut previous.forwarded).await;
        }
    }

    /// This batch has forwarded: the next may.
    pub fn forwarded(&mut self) {
        if let Some(tx) = self.forwarded.take() {
            let _ = tx.send(());
        }
        self.previous = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_turn_waits_for_the_one_before_it() {
        let relay = Relay::default();
        let mut first = relay.turn();
        let mut second = relay.turn();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (said, heard) = oneshot::channel();
        let o = order.clone();
        let later = tokio::spawn(async move {
            second.may_judge().await;
            o.lock().unwrap().push("second judged");
            second.judged();
            let _ = said.send(());
            second.may_forward().await;
            o.lock().unwrap().push("second forwarded");
            second.forwarded();
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(order.lock().unwrap().is_empty(), "the second judged first");
        first.may_judge().await;
        order.lock().unwrap().push("first judged");
        first.judged();
        heard.await.unwrap();
        order.lock().unwrap().push("first forwarded");
        first.forwarded();
        later.await.unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            [
                "first judged",
                "second judged",
                "first forwarded",
                "second forwarded"
            ]
        );
    }

    #[tokio::test]
    async fn a_dropped_turn_releases_the_next() {
        let relay = Relay::default();
        let first = relay.turn();
        let mut second = relay.turn();
        drop(first);
        second.may_judge().await;
        second.judged();
        second.may_forward().await;
        second.forwarded();
    }
}
