//! JetStream API calls made while declaring, and what each answer means for
//! start-up: carry on, wait and ask again, or stop.
//!
//! A fresh server or cluster answers its first requests badly for a while:
//! not at all (no meta leader yet: the request times out), "no responders"
//! (JetStream still starting), or an error naming the cluster's state.
//! Processes that declare the same stream at the same moment also get
//! errors that only mean "someone else just did it". Neither is a reason to
//! exit; a refusal that names a setting is.

use async_nats::jetstream::context::RequestErrorKind;
use async_nats::jetstream::{self, response::Response};
use async_nats::jetstream::{Error as ApiError, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// What a failed declaration call reports, kept whole for the log line and
/// the start-up error.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a declaration call did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The stream or consumer does not exist (yet).
    #[error("not found")]
    Missing,
    /// JetStream is not ready to answer: no answer in time, no responders,
    /// no leader, a cluster still forming or placing. Waiting fixes it.
    #[error("{0}")]
    NotReady(#[source] Cause, Option<ErrorCode>),
    /// Another process declared the same thing at the same moment
    /// ("already in use", "already exists", "subjects overlap"): read again
    /// and compare.
    #[error("{0}")]
    Race(#[source] ApiError, ErrorCode),
    /// The server refused, for a reason waiting does not change.
    #[error(transparent)]
    Refused(ApiError),
    /// The client could not even make the call (an invalid name, an answer
    /// that does not parse).
    #[error(transparent)]
    Local(Cause),
}

/// A request that got no usable answer, in words an operator reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unanswered {
    /// No answer within the call's time-out.
    #[error("JetStream did not answer in time")]
    TimedOut(#[source] jetstream::context::RequestError),
    /// Nobody subscribed to the API subject.
    #[error("no JetStream responders (JetStream not ready, or not enabled)")]
    NoResponders(#[source] jetstream::context::RequestError),
    /// Anything else, such as a connection being re-established.
    #[error("JetStream request failed: {0}")]
    Other(#[source] jetstream::context::RequestError),
}

/// Server error codes that mean "JetStream is not ready yet", not "no".
/// Placement failures (no suitable peers, insufficient resources) are among
/// them: a cluster whose peers have not all reported yet answers so, and if
/// it still does at the deadline the replica count is blamed.
const NOT_READY: [ErrorCode; 10] = [
    ErrorCode::CLUSTER_INCOMPLETE,
    ErrorCode::CLUSTER_NO_PEERS,
    ErrorCode::CLUSTER_NOT_ACTIVE,
    ErrorCode::CLUSTER_NOT_ASSIGNED,
    ErrorCode::CLUSTER_NOT_AVAILABLE,
    ErrorCode::CLUSTER_NOT_LEADER,
    ErrorCode::INSUFFICIENT_RESOURCES,
    ErrorCode::RAFT_GENERAL,
    ErrorCode::STREAM_OFFLINE,
    ErrorCode::CONSUMER_OFFLINE,
];

/// Server error codes a concurrent declaration of the same thing causes.
const RACES: [ErrorCode; 5] = [
    ErrorCode::STREAM_NAME_EXIST,
    ErrorCode::STREAM_SUBJECT_OVERLAP,
    ErrorCode::CONSUMER_NAME_EXIST,
    ErrorCode::CONSUMER_EXISTING_ACTIVE,
    ErrorCode::CONSUMER_ALREADY_EXISTS,
];

/// Placement failures: at the deadline they blame `nats.replicas`.
pub(crate) fn is_placement(code: Option<ErrorCode>) -> bool {
    matches!(
        code,
        Some(ErrorCode::CLUSTER_NO_PEERS | ErrorCode::INSUFFICIENT_RESOURCES)
    )
}

/// Sorts a server error.
pub(crate) fn classify(error: ApiError) -> Failure {
    let code = error.error_code();
    if code == ErrorCode::STREAM_NOT_FOUND || code == ErrorCode::CONSUMER_NOT_FOUND {
        Failure::Missing
    } else if NOT_READY.contains(&code) || error.code() == 503 {
        Failure::NotReady(error.into(), Some(code))
    } else if RACES.contains(&code) {
        Failure::Race(error, code)
    } else {
        Failure::Refused(error)
    }
}

/// Sorts a request that got no usable answer: every such case (a time-out,
/// no responders, a connection being re-established) is one waiting fixes.
pub(crate) fn unanswered(error: jetstream::context::RequestError) -> Failure {
    let unanswered = match error.kind() {
        RequestErrorKind::TimedOut => Unanswered::TimedOut(error),
        RequestErrorKind::NoResponders => Unanswered::NoResponders(error),
        _ => Unanswered::Other(error),
    };
    Failure::NotReady(unanswered.into(), None)
}

/// How long one declaration call waits for its answer. Shorter than the
/// connection's JetStream time-out: a cluster without a meta leader yet
/// answers nothing, and asking again soon (reading first, so a slow create
/// that did happen is found) gets a process ready sooner than one long wait.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// One JetStream API call (`subject` without the `$JS.API.` prefix).
pub(crate) async fn call<T: DeserializeOwned>(
    js: &jetstream::Context,
    subject: String,
    payload: &(impl Serialize + ?Sized),
) -> Result<T, Failure> {
    // A copy: handles made from `js` later keep the connection's time-out.
    let mut js = js.clone();
    js.set_timeout(CALL_TIMEOUT);
    match js.request::<_, _, Response<T>>(subject, payload).await {
        Ok(Response::Ok(value)) => Ok(value),
        Ok(Response::Err { error }) => Err(classify(error)),
        Err(e) => Err(unanswered(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: usize, err_code: u64) -> ApiError {
        serde_json::from_value(serde_json::json!({
            "code": code, "err_code": err_code, "description": "x"
        }))
        .unwrap()
    }

    #[test]
    fn answers_are_sorted_by_what_start_up_does_about_them() {
        assert!(matches!(classify(error(404, 10059)), Failure::Missing));
        assert!(matches!(classify(error(404, 10014)), Failure::Missing));
        assert!(matches!(classify(error(503, 10008)), Failure::NotReady(..)));
        assert!(matches!(classify(error(500, 10009)), Failure::NotReady(..)));
        assert!(matches!(classify(error(503, 1)), Failure::NotReady(..)));
        assert!(matches!(classify(error(400, 10065)), Failure::Race(..)));
        assert!(matches!(classify(error(400, 10058)), Failure::Race(..)));
        assert!(matches!(classify(error(400, 10148)), Failure::Race(..)));
        assert!(matches!(classify(error(400, 10074)), Failure::Refused(_)));
        assert!(matches!(classify(error(500, 10052)), Failure::Refused(_)));
        assert!(is_placement(Some(ErrorCode::CLUSTER_NO_PEERS)));
        assert!(!is_placement(None));
    }
}
