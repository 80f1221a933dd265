//! The request body as the server sees it: a read deadline, and what to do
//! with the part a handler left unread.
//!
//! Why: on HTTP/1.1 the next request on a connection starts after this
//! one's body. When a handler answers without reading the body, hyper reads
//! what has already arrived and, if the body is not complete yet, closes the
//! connection after the response — without saying `Connection: close`. A
//! pooled client (webhook senders, load balancers, `reqwest`) then sends its
//! next request on a dead connection and sees "connection closed before
//! message completed". So before a response leaves, [`KeepAlive::settle`]
//! reads and discards up to [`DRAIN_LIMIT`] more bytes of an unfinished body
//! (within the same deadline); if that does not finish it, the response says
//! `Connection: close` and hyper closes the connection after sending it.
//!
//! The body itself lives behind a mutex shared by the handler's view
//! ([`Watched`]) and the server's ([`Watch`]), so the server can finish
//! reading it after the handler dropped its side.

use axum::http::{HeaderValue, Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The most a response waits to read of a body its handler left unread. It
/// covers the small bodies of ordinary mistakes (a POST to a wrong path);
/// anything larger costs a new connection rather than the bandwidth.
pub const DRAIN_LIMIT: u64 = 64 * 1024;

/// Why the body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client did not send the whole body within the read time-out.
    #[error("request body not received within {0:?}")]
    TimedOut(Duration),
    /// The connection failed while the body was read.
    #[error("reading the request body failed: {0}")]
    Read(#[source] hyper::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Reading,
    Finished,
    TimedOut,
    Failed,
}

struct Inner {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    state: State,
}

impl Inner {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.state != State::Reading {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(None) => {
                self.state = State::Finished;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if self.body.is_end_stream() {
                    self.state = State::Finished;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.state = State::Failed;
                Poll::Ready(Some(Err(BodyError::Read(e))))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.state = State::TimedOut;
                    Poll::Ready(Some(Err(BodyError::TimedOut(self.timeout))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The handler's view of the request body.
pub struct Watched(Arc<Mutex<Inner>>);

/// The server's view of the same body.
pub struct Watch(Arc<Mutex<Inner>>);

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock cannot leave `Inner` half-updated in a
    // way that matters: the worst case is a connection closed too eagerly.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watched {
    /// Wraps `body`, which must be read completely within `timeout` from now.
    pub fn new(body: Incoming, timeout: Duration) -> (Self, Watch) {
        let state = if body.is_end_stream() {
            State::Finished
        } else {
            State::Reading
        };
        let inner = Arc::new(Mutex::new(Inner {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            state,
        }));
        (Self(inner.clone()), Watch(inner))
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        lock(&self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        let inner = lock(&self.0);
        inner.state != State::Reading || inner.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0).body.size_hint()
    }
}

impl Watch {
    fn state(&self) -> State {
        lock(&self.0).state
    }

    /// Bytes still to come, when the client declared them.
    fn remaining(&self) -> Option<u64> {
        lock(&self.0).body.size_hint().exact()
    }

    /// Reads and discards the rest of the body, at most `limit` bytes.
    /// Whether the body is now complete.
    async fn drain(&self, limit: u64) -> bool {
        let mut read = 0u64;
        loop {
            let frame = std::future::poll_fn(|cx| lock(&self.0).poll_frame(cx)).await;
            match frame {
                None => return self.state() == State::Finished,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if read > limit {
                        return false;
                    }
                }
            }
        }
    }
}

/// What the server may do with a connection after one response.
#[derive(Clone, Copy, Debug)]
pub struct KeepAlive {
    /// HTTP/1.x: the body shares the connection with the next request.
    http1: bool,
    /// The client waits for `100 Continue` before sending its body; reading
    /// would ask it for a body nobody needs.
    expects_continue: bool,
}

impl KeepAlive {
    /// Reads what matters of a request before it is handled.
    pub fn of<B>(req: &Request<B>) -> Self {
        Self {
            http1: req.version() <= Version::HTTP_11,
            expects_continue: req
                .headers()
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        }
    }

    /// Finishes the body the handler left unread, or marks the response
    /// `Connection: close`. A body that timed out turns the answer into a
    /// 408, whatever the handler made of the failed read.
    pub async fn settle(self, watch: &Watch, response: Response) -> Response {
        let mut response = match watch.state() {
            State::TimedOut => timed_out(watch),
            _ => response,
        };
        if !self.http1 {
            return response;
        }
        let complete = match watch.state() {
            State::Finished => true,
            State::TimedOut | State::Failed => false,
            State::Reading => {
                !self.expects_continue
                    && watch.remaining().is_none_or(|n| n <= DRAIN_LIMIT)
                    && watch.drain(DRAIN_LIMIT).await
            }
        };
        if !complete {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    /// Whether, after [`KeepAlive::settle`], the client may still be
    /// sending a body nobody read: the connection must then linger as it
    /// closes (see [`super::linger`]). A body that timed out or failed gets
    /// no more time.
    pub fn leaves_unread(self, watch: &Watch) -> bool {
        self.http1 && !self.expects_continue && watch.state() == State::Reading
    }
}

fn timed_out(watch: &Watch) -> Response {
    let timeout = lock(&watch.0).timeout;
    let message = BodyError::TimedOut(timeout).to_string();
    (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({"status": "error", "message": message})),
    )
        .into_response()
}
