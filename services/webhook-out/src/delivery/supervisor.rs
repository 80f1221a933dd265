//! Keeps this instance's delivery tasks in line with Postgres.
//!
//! Every [`POLL`] (or at once, when this instance's API changed something) it
//! reads the `webhooks` and open `webhook_replays` rows and starts, updates or
//! stops workers, so a webhook created, changed or deleted on any instance
//! takes effect everywhere within seconds, with no restart and no message
//! bus between instances. Every instance runs a worker per active webhook on
//! the same durable consumer, so JetStream hands each message to one of them.
//!
//! It also finishes replays whose window is fully acknowledged and removes
//! consumers whose webhook no longer exists (a delete whose consumer removal
//! failed, or a worker that recreated it in a race).

use super::worker::{self, Source};
use super::{Ctx, consumer_name, webhook_of_consumer};
use crate::store::replays::{self, Replay};
use crate::store::{Webhook, WebhookId, webhooks};
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::TryStreamExt;
use hookline_core::Shutdown;
use hookline_core::names::RC_EVENTS;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the tables are read.
pub const POLL: Duration = Duration::from_secs(2);
/// How often orphaned consumers are looked for.
const JANITOR: Duration = Duration::from_secs(60);

struct Running {
    stop: Shutdown,
    webhook: watch::Sender<Arc<Webhook>>,
}

/// Runs until `shutdown` fires, then waits for every worker to drain.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut last_janitor: Option<Instant> = None;
    loop {
        let pass = ctx.sync_started.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(e) = sync(&ctx, &shutdown, &mut running, &mut tasks).await {
            tracing::warn!(error = %e, "reading webhooks failed; keeping the current workers");
        }
        ctx.sync_done.send_replace(pass);
        if last_janitor.is_none_or(|t| t.elapsed() >= JANITOR) {
            last_janitor = Some(Instant::now());
            if let Err(e) = janitor(&ctx).await {
                tracing::warn!(error = %e, "consumer clean-up failed");
            }
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = ctx.poke.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    for r in running.values() {
        r.stop.trigger();
    }
    while tasks.join_next().await.is_some() {}
}

fn start_time(webhook: &Webhook) -> DeliverPolicy {
    // From the webhook's creation: deterministic across instances and
    // restarts (unlike `New`, which would depend on which instance created
    // the consumer and when), and events published between the API call and
    // the consumer's creation are not skipped.
    let nanos = webhook.created_at.timestamp_nanos_opt().unwrap_or_default() as i128;
    match async_nats::datetime::from_nanos(nanos) {
        Ok(start_time) => DeliverPolicy::ByStartTime { start_time },
        Err(_) => DeliverPolicy::New,
    }
}

async fn sync(
    ctx: &Arc<Ctx>,
    shutdown: &Shutdown,
    running: &mut HashMap<String, Running>,
    tasks: &mut JoinSet<()>,
) -> Result<(), sqlx::Error> {
    let all = webhooks::list(&ctx.pool, &ctx.keys).await?;
    let open = replays::open(&ctx.pool).await?;
    let active: HashMap<&str, Arc<Webhook>> = all
        .iter()
        .filter(|w| w.active)
        .map(|w| (w.id.as_str(), Arc::new(w.clone())))
        .collect();

    let mut wanted: HashMap<String, (Arc<Webhook>, Source)> = HashMap::new();
    for w in active.values() {
        let source = Source {
            consumer: consumer_name(&w.id),
            start: start_time(w),
            replay: None,
        };
        wanted.insert(source.consumer.clone(), (w.clone(), source));
    }
    for r in &open {
        if replay_done(ctx, r).await {
            continue;
        }
        if let Some(w) = active.get(r.webhook_id.as_str()) {
            let source = Source {
                consumer: r.consumer_name(),
                start: DeliverPolicy::ByStartSequence {
                    start_sequence: r.start_seq.max(1) as u64,
                },
                replay: Some((r.end_seq.max(0) as u64, r.event_types.clone())),
            };
            wanted.insert(source.consumer.clone(), (w.clone(), source));
        }
    }

    running.retain(|name, r| {
        let keep = wanted.contains_key(name);
        if !keep {
            tracing::info!(consumer = %name, "stopping delivery worker");
            r.stop.trigger();
        }
        keep
    });
    for (name, (webhook, source)) in wanted {
        match running.get(&name) {
            Some(r) => {
                r.webhook.send_if_modified(|cur| {
                    let changed = cur.updated_at != webhook.updated_at;
                    if changed {
                        *cur = webhook.clone();
                    }
                    changed
                });
            }
            None => {
                tracing::info!(consumer = %name, url = %crate::redact::url(&webhook.url), "starting delivery worker");
                let stop = shutdown.child();
                let (tx, rx) = watch::channel(webhook);
                tasks.spawn(worker::run(ctx.clone(), source, rx, stop.clone()));
                running.insert(name, Running { stop, webhook: tx });
            }
        }
    }
    Ok(())
}

/// Whether a replay's window is fully acknowledged; if so, finishes it and
/// deletes its consumer.
async fn replay_done(ctx: &Ctx, replay: &Replay) -> bool {
    let name = replay.consumer_name();
    let Ok(mut stream) = ctx
        .nats
        .js
        .get_stream(ctx.nats.names.stream(RC_EVENTS))
        .await
    else {
        return false;
    };
    let done = match stream.consumer_info(&name).await {
        Ok(info) => info.ack_floor.stream_sequence >= replay.end_seq.max(0) as u64,
        Err(_) => {
            // Not created yet (or already deleted): a stream that no longer
            // holds the window also counts as done.
            let first = stream
                .info()
                .await
                .map(|i| i.state.first_sequence)
                .unwrap_or(0);
            first > replay.end_seq.max(0) as u64
        }
    };
    if done {
        tracing::info!(webhook = %replay.webhook_id, replay = replay.id, events = replay.replayed, "replay finished");
        if let Err(e) = replays::finish(&ctx.pool, replay.id).await {
            tracing::warn!(error = %e, "could not mark replay finished");
            return false;
        }
        let _ = stream.delete_consumer(&name).await;
    }
    done
}

async fn janitor(ctx: &Ctx) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = ctx
        .nats
        .js
        .get_stream(ctx.nats.names.stream(RC_EVENTS))
        .await?;
    let names: Vec<String> = stream.consumer_names().try_collect().await?;
    let ours: Vec<&String> = names
        .iter()
        .filter(|n| webhook_of_consumer(n).is_some())
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    // Read the tables after listing consumers: a consumer is only ever
    // created after its row exists, so a live one is never mistaken for an
    // orphan.
    let ids: HashSet<WebhookId> = webhooks::list(&ctx.pool, &ctx.keys)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let open: HashSet<String> = replays::open(&ctx.pool)
        .await?
        .iter()
        .map(Replay::consumer_name)
        .collect();
    for name in ours {
        let is_replay = name.contains("-replay-");
        let orphan = !webhook_of_consumer(name).is_some_and(|id| ids.contains(&id))
            || (is_replay && !open.contains(name.as_str()));
        if orphan {
            tracing::info!(consumer = %name, "deleting orphaned consumer");
            let _ = stream.delete_consumer(name).await;
        }
    }
    Ok(())
}
