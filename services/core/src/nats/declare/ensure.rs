//! Compare-first create-or-update of one stream or durable consumer, with
//! patience: read what the server has; write only when it is missing or
//! differs; on "not ready" wait and ask again until the deadline; on a
//! concurrent creator's race read again and compare.

use super::answer::{self, Cause, Failure, call, classify};
use super::compare::{consumer_differences, stream_differences};
use crate::config::ConfigError;
use async_nats::jetstream::consumer::{self, FromConsumer, IntoConsumerConfig, pull};
use async_nats::jetstream::{self, stream};
use async_nats::jetstream::{Error as ApiError, ErrorCode};
use std::time::{Duration, Instant};

/// How long a declaration may keep waiting, and how long it waits next.
pub(crate) struct Patience {
    started: Instant,
    limit: Duration,
    delay: Duration,
    overlaps: u32,
}

/// Answers of "subjects overlap" in a row, with the stream still missing,
/// after which the overlap is taken to be with another stream, not a racer.
const OVERLAPS_BEFORE_BLAME: u32 = 8;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);

impl Patience {
    /// Waits at most `limit` (`nats.connect_timeout`) from now.
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            started: Instant::now(),
            limit,
            delay: FIRST_DELAY,
            overlaps: 0,
        }
    }

    /// Sleeps before the next try (with jitter, so racing processes drift
    /// apart), or says `Err` when the time is up.
    async fn pause(&mut self) -> Result<(), Duration> {
        let waited = self.started.elapsed();
        if waited >= self.limit {
            return Err(waited);
        }
        let jitter = rand::random_range(0..=self.delay.as_millis() as u64 / 2);
        let sleep = (self.delay + Duration::from_millis(jitter)).min(self.limit - waited);
        tokio::time::sleep(sleep).await;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        Ok(())
    }
}

/// Why a declaration stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Still not ready at the deadline.
    Waited { waited: Duration, last: Failure },
    /// A setting must change: the operator's move.
    Setting(ConfigError),
    /// The server or client refused for another reason.
    Refused(Cause),
}

/// What to do with a failure that is not a success: wait (`Ok`) or stop.
async fn judge(
    what: &str,
    failure: Failure,
    replicas: usize,
    patience: &mut Patience,
) -> Result<(), Stop> {
    let failure = match failure {
        Failure::Local(cause) => return Err(Stop::Refused(cause)),
        other => other,
    };
    let overlap =
        matches!(&failure, Failure::Race(_, code) if *code == ErrorCode::STREAM_SUBJECT_OVERLAP);
    if !overlap {
        patience.overlaps = 0;
    }
    let placement = match &failure {
        Failure::NotReady(_, code) => answer::is_placement(*code),
        Failure::Race(..) if overlap => {
            patience.overlaps += 1;
            if patience.overlaps >= OVERLAPS_BEFORE_BLAME {
                return Err(Stop::Setting(ConfigError::Invalid {
                    key: "nats.prefix",
                    message: format!(
                        "names {what}, whose subjects another stream already holds ({failure}); \
                         choose another prefix or remove that stream"
                    ),
                }));
            }
            false
        }
        Failure::Refused(e) => return Err(refusal(what, e, replicas, &[])),
        Failure::Missing | Failure::Race(..) | Failure::Local(_) => false,
    };
    tracing::info!(%what, reason = %failure, "JetStream not ready for the declaration yet; waiting");
    match patience.pause().await {
        Ok(()) => Ok(()),
        Err(waited) if placement => Err(Stop::Setting(ConfigError::Invalid {
            key: "nats.replicas",
            message: format!(
                "is {replicas}, but {what} could not be placed within {waited:?} \
                 (nats.connect_timeout): {failure}"
            ),
        })),
        Err(waited) => Err(Stop::Waited {
            waited,
            last: failure,
        }),
    }
}

/// A refusal to create or update: which setting the operator must look at.
fn refusal(what: &str, e: &ApiError, replicas: usize, differences: &[&str]) -> Stop {
    let code = e.error_code();
    let (key, message) = if code == ErrorCode::STREAM_REPLICAS_NOT_SUPPORTED
        || differences.contains(&"num_replicas")
    {
        (
            "nats.replicas",
            format!("is {replicas}, which the server refuses for {what}: {e}"),
        )
    } else if code == ErrorCode::JETSTREAM_NOT_ENABLED
        || code == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT
    {
        (
            "nats.url",
            format!("points at a server or account without JetStream: {e}"),
        )
    } else if !differences.is_empty() {
        (
            "nats.prefix",
            format!(
                "names {what}, which exists with other settings ({}) the server will not change: \
                 {e}; remove it, or choose another prefix",
                differences.join(", ")
            ),
        )
    } else {
        return Stop::Refused(Box::new(e.clone()));
    };
    Stop::Setting(ConfigError::Invalid { key, message })
}

/// Makes the stream `want` exist with `want`'s settings.
pub(crate) async fn stream(
    js: &jetstream::Context,
    want: &stream::Config,
    patience: &mut Patience,
) -> Result<(), Stop> {
    let name = &want.name;
    let what = format!("stream {name}");
    loop {
        let read = call::<stream::Info>(js, format!("STREAM.INFO.{name}"), &()).await;
        let failure = match read {
            Ok(info) => {
                let differences = stream_differences(&info.config, want);
                if differences.is_empty() {
                    return Ok(());
                }
                tracing::info!(stream = %name, ?differences, "updating the stream");
                match call::<stream::Info>(js, format!("STREAM.UPDATE.{name}"), want).await {
                    Ok(_) => return Ok(()),
                    Err(Failure::Refused(e)) => {
                        return Err(refusal(&what, &e, want.num_replicas, &differences));
                    }
                    Err(f) => f,
                }
            }
            Err(Failure::Missing) => {
                match call::<stream::Info>(js, format!("STREAM.CREATE.{name}"), want).await {
                    Ok(_) => return Ok(()),
                    Err(f) => f,
                }
            }
            Err(f) => f,
        };
        judge(&what, failure, want.num_replicas, patience).await?;
    }
}

/// What to do with a durable the server will not update to `want`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Stop start-up, naming the setting.
    Refuse,
    /// Keep consuming with the durable as it is (a warning is logged).
    Use,
}

/// Makes the durable pull consumer `want` exist on `stream_name` and
/// returns it.
pub(crate) async fn consumer(
    js: &jetstream::Context,
    stream_name: &str,
    want: &pull::Config,
    existing: Existing,
    patience: &mut Patience,
) -> Result<consumer::PullConsumer, Stop> {
    let name = want.durable_name.clone().unwrap_or_default();
    let what = format!("consumer {name} on stream {stream_name}");
    let wanted = want.clone().into_consumer_config();
    let handle = |info: consumer::Info| -> Result<consumer::PullConsumer, Stop> {
        let config =
            pull::Config::try_from_consumer_config(info.config.clone()).map_err(Stop::Refused)?;
        Ok(consumer::Consumer::new(config, info, js.clone()))
    };
    loop {
        let subject = format!("CONSUMER.INFO.{stream_name}.{name}");
        let failure = match call::<consumer::Info>(js, subject, &serde_json::json!({})).await {
            Ok(info) => {
                let differences = consumer_differences(&info.config, &wanted);
                if differences.is_empty() {
                    return handle(info);
                }
                match create(js, stream_name, want).await {
                    Ok(c) => return Ok(c),
                    Err(Failure::Refused(e)) if existing == Existing::Use => {
                        tracing::warn!(consumer = %name, ?differences, error = %e, "using the existing consumer with its own settings");
                        return handle(info);
                    }
                    Err(Failure::Refused(e)) => {
                        return Err(refusal(&what, &e, 0, &differences));
                    }
                    Err(f) => f,
                }
            }
            Err(Failure::Missing) => match create(js, stream_name, want).await {
                Ok(c) => return Ok(c),
                Err(f) => f,
            },
            Err(f) => f,
        };
        judge(&what, failure, 0, patience).await?;
    }
}

async fn create(
    js: &jetstream::Context,
    stream_name: &str,
    want: &pull::Config,
) -> Result<consumer::PullConsumer, Failure> {
    use async_nats::jetstream::stream::ConsumerErrorKind as Kind;
    let stream = js
        .get_stream_no_info(stream_name)
        .await
        .map_err(|e| Failure::Local(e.into()))?;
    stream
        .create_consumer(want.clone())
        .await
        .map_err(|e| match e.kind() {
            Kind::JetStream(api) => classify(api),
            Kind::TimedOut | Kind::Request => Failure::NotReady(e.into(), None),
            _ => Failure::Local(e.into()),
        })
}
