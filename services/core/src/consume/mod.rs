//! The one JetStream consume loop: dedupe, webhook-out's delivery workers
//! and the CRM consumer runner all read their durables through [`run`].
//!
//! ## Lifecycle
//!
//! 1. **Open.** The caller's `open` gives the durable (declaring it if need
//!    be). It is called again after a pull fails, with back-off, so a caller
//!    may re-declare a durable an operator deleted, or hand back the one it
//!    opened first.
//! 2. **Pull only what there is room for.** The loop holds `capacity`
//!    message slots. It asks JetStream for as many messages as there are
//!    free slots, in one pull request that expires after [`Pull::expires`]
//!    (the server then answers and the loop asks again; a request lost with
//!    a restarting server is given up a few seconds after that). No message
//!    waits in a local buffer for longer than its handler takes to get to
//!    it, so ack-wait is spent on work, not on queueing.
//! 3. **Batch.** Each message that arrives, together with those already
//!    arrived behind it (up to [`Pull::batch_size`]), goes to one call of
//!    the handler, run as its own task; at most [`Pull::batches_in_flight`]
//!    run at once. Under load batches fill up by themselves; when idle, one
//!    event is not kept waiting for company.
//! 4. **Settle.** The handler settles every message it is given (see
//!    [`decision`] for how and [`dead_letter`] for giving up), and returns.
//! 5. **Drain.** When `shutdown` fires the loop stops pulling, gives back at
//!    once what was received but not yet handed out (a nak without delay,
//!    so another instance takes it now rather than after ack-wait), lets the
//!    running handlers finish within [`Pull::grace`] and returns. A handler
//!    still running then is dropped: its messages stay unacknowledged and
//!    are delivered again after ack-wait. The loop therefore returns within
//!    `grace` of the signal, every time.

pub mod decision;

pub use decision::{Decision, Outcome, Retries, decide};

use crate::dlq::{self, DeadLetter};
use crate::shutdown::Shutdown;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::Batch;
use async_nats::jetstream::{AckKind, Message};
use futures::future::join_all;
use futures::{FutureExt, StreamExt};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// First pause after a failed open or pull; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// How one loop pulls and how much it works on at once.
#[derive(Clone, Debug)]
pub struct Pull {
    /// A name for logs (the durable's).
    pub name: String,
    /// Most messages one handler call gets.
    pub batch_size: usize,
    /// Handler calls running at once.
    pub batches_in_flight: usize,
    /// Messages received and not yet settled, at most: the handlers' share
    /// plus what is pulled ahead while they work.
    pub capacity: usize,
    /// How long one pull request waits for messages.
    pub expires: Duration,
    /// How long running handlers may finish after the shutdown signal.
    pub grace: Duration,
}

/// Runs the loop until `shutdown` fires, then drains (see the module docs).
/// `open` gives the durable; `handle` settles every message of a batch.
pub async fn run<O, OF, E, H, HF>(pull: Pull, shutdown: Shutdown, mut open: O, handle: H)
where
    O: FnMut() -> OF,
    OF: Future<Output = Result<PullConsumer, E>>,
    E: Display,
    H: Fn(Vec<Message>) -> HF + Send + Sync + 'static,
    HF: Future<Output = ()> + Send + 'static,
{
    let mut state = State {
        pull: &pull,
        shutdown: &shutdown,
        handle: Arc::new(handle),
        slots: Arc::new(Semaphore::new(pull.capacity.max(1))),
        batches: Arc::new(Semaphore::new(pull.batches_in_flight.max(1))),
        tasks: JoinSet::new(),
    };
    let mut pause = FIRST_PAUSE;
    while !shutdown.is_triggered() {
        let opened = tokio::select! {
            opened = open() => opened,
            _ = shutdown.wait() => break,
        };
        match opened {
            Ok(consumer) => {
                pause = FIRST_PAUSE;
                match state.pull_until_failure(&consumer).await {
                    None => break,
                    Some(failure) => pulling_failed(&pull, &failure, pause),
                }
            }
            Err(e) => pulling_failed(&pull, &e, pause),
        }
        if !sleep_unless(&shutdown, pause).await {
            break;
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
    state.drain().await;
}

fn pulling_failed(pull: &Pull, error: &dyn Display, pause: Duration) {
    tracing::warn!(consumer = %pull.name, error = %error, retry_in = ?pause, "pulling failed; retrying");
}

/// Why a pull request failed; the loop logs it, opens the durable again and
/// pulls on.
#[derive(Debug, thiserror::Error)]
enum PullError {
    /// JetStream refused or lost the request.
    #[error(transparent)]
    Request(#[from] async_nats::jetstream::consumer::pull::BatchError),
    /// A message of the request could not be received.
    #[error(transparent)]
    Message(async_nats::Error),
}

/// The loop's working state.
struct State<'a, H> {
    pull: &'a Pull,
    shutdown: &'a Shutdown,
    handle: Arc<H>,
    /// One permit a message received and not yet settled.
    slots: Arc<Semaphore>,
    /// One permit a handler call running.
    batches: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl<H, HF> State<'_, H>
where
    H: Fn(Vec<Message>) -> HF + Send + Sync + 'static,
    HF: Future<Output = ()> + Send + 'static,
{
    /// Pull requests, one after another, until shutdown (`None`) or a
    /// request fails (`Some(why)`).
    async fn pull_until_failure(&mut self, consumer: &PullConsumer) -> Option<PullError> {
        loop {
            let mut room = tokio::select! {
                first = self.slots.clone().acquire_owned() => vec![first.ok()?],
                _ = self.shutdown.wait() => return None,
            };
            while let Ok(p) = self.slots.clone().try_acquire_owned() {
                room.push(p);
            }
            let batch = consumer
                .batch()
                .max_messages(room.len())
                .expires(self.pull.expires)
                .messages()
                .await;
            match batch {
                Ok(mut batch) => match self.read(&mut batch, room).await {
                    Read::Ended => {}
                    Read::Stopped => return None,
                    Read::Failed(why) => return Some(why),
                },
                Err(e) => return Some(e.into()),
            }
            while self.tasks.try_join_next().is_some() {}
        }
    }

    /// Hands out the messages of one pull request as they arrive.
    async fn read(&mut self, batch: &mut Batch, mut room: Vec<OwnedSemaphorePermit>) -> Read {
        while !room.is_empty() {
            let running = tokio::select! {
                p = self.batches.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return Read::Stopped },
                _ = self.shutdown.wait() => return self.give_back(batch).await,
            };
            let first = tokio::select! {
                biased;
                _ = self.shutdown.wait() => return self.give_back(batch).await,
                next = batch.next() => next,
            };
            let mut messages = match first {
                None => return Read::Ended,
                Some(Err(e)) => return Read::Failed(PullError::Message(e)),
                Some(Ok(msg)) => vec![msg],
            };
            let mut failed = None;
            let limit = self.pull.batch_size.min(room.len());
            while failed.is_none() && messages.len() < limit {
                match batch.next().now_or_never() {
                    Some(Some(Ok(msg))) => messages.push(msg),
                    Some(Some(Err(e))) => failed = Some(PullError::Message(e)),
                    Some(None) | None => break,
                }
            }
            let held: Vec<_> = room.drain(room.len() - messages.len()..).collect();
            let handle = self.handle.clone();
            self.tasks.spawn(async move {
                handle(messages).await;
                drop((held, running));
            });
            while self.tasks.try_join_next().is_some() {}
            if let Some(why) = failed {
                return Read::Failed(why);
            }
        }
        Read::Ended
    }

    /// Naks at once what has arrived and was not handed out, so another
    /// instance gets it now rather than after ack-wait.
    async fn give_back(&self, batch: &mut Batch) -> Read {
        let mut left = Vec::new();
        while let Some(Some(Ok(msg))) = batch.next().now_or_never() {
            left.push(msg);
        }
        let results = join_all(left.iter().map(|m| m.ack_with(AckKind::Nak(None)))).await;
        for err in results.into_iter().filter_map(Result::err) {
            tracing::debug!(consumer = %self.pull.name, error = %err, "giving back a message on shutdown failed");
        }
        Read::Stopped
    }

    /// Lets running handlers finish within the grace period.
    async fn drain(&mut self) {
        let drained = tokio::time::timeout(self.pull.grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(consumer = %self.pull.name, grace = ?self.pull.grace, "work still running after the shutdown grace; left for redelivery");
            self.tasks.abort_all();
        }
    }
}

/// How reading one pull request ended.
enum Read {
    /// The request is used up or expired: ask again.
    Ended,
    /// Shutdown.
    Stopped,
    /// The request failed.
    Failed(PullError),
}

/// Sleeps unless shutdown comes first; `false` when it did.
pub async fn sleep_unless(shutdown: &Shutdown, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait() => false,
    }
}

/// Settles one message with `kind`, logging (not failing) when the server
/// cannot be told: an unacknowledged message is simply delivered again.
pub async fn settle(msg: &Message, kind: AckKind, consumer: &str) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(consumer, error = %e, "settling a message failed; it will be delivered again");
    }
}

/// Gives up on `msg`: publishes `letter` (see [`crate::dlq`]) and only once
/// it is stored terminates the message; if it cannot be stored the message
/// is nak'ed with `retry_in` and dead-lettered on a later delivery, never
/// dropped. Whether the dead letter was stored.
pub async fn dead_letter(
    js: &async_nats::jetstream::Context,
    msg: &Message,
    letter: &DeadLetter,
    retry_in: Duration,
) -> bool {
    match dlq::publish(js, letter).await {
        Ok(_) => {
            settle(msg, AckKind::Term, &letter.consumer).await;
            true
        }
        Err(e) => {
            tracing::error!(consumer = %letter.consumer, event_id = ?letter.event_id, error = %e, "could not publish the dead letter; will retry the message");
            settle(msg, AckKind::Nak(Some(retry_in)), &letter.consumer).await;
            false
        }
    }
}
