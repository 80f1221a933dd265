//! Lingering close: a connection closed under a client that is still
//! sending must first let the client read the answer.
//!
//! Why: when a handler refuses a large upload without reading it (413,
//! 404, 401), the response says `Connection: close` and hyper closes the
//! socket while the client is still writing. Closing a TCP socket with
//! unread bytes in its receive buffer makes the kernel send a reset, which
//! destroys the answer on its way and makes the client's next write fail
//! with "broken pipe": the client never learns why it was refused.
//!
//! Lifecycle: [`Lingering`] wraps one accepted connection. The request
//! handler [`Unread::arm`]s it when it leaves a body unread and closes. When
//! hyper shuts the connection down, an armed connection sends its FIN (the
//! answer is complete), then reads and discards whatever the client still
//! sends until the client closes its side or the linger time is up; only
//! then is the socket dropped. A connection that was not armed (idle
//! keep-alive, graceful shutdown) closes at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Set by a request that left its body unread on a connection about to close.
#[derive(Clone, Debug, Default)]
pub struct Unread(Arc<AtomicBool>);

impl Unread {
    /// The connection must linger when it closes.
    pub fn arm(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_armed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

enum Phase {
    Open,
    Lingering(Pin<Box<Sleep>>),
    Closed,
}

/// A TCP connection that lingers on shutdown when armed.
pub struct Lingering {
    stream: TcpStream,
    unread: Unread,
    /// Longest the connection keeps reading after its answer.
    linger: Duration,
    phase: Phase,
}

impl Lingering {
    /// Wraps `stream`; `unread` is the handle requests arm.
    pub fn new(stream: TcpStream, unread: Unread, linger: Duration) -> Self {
        Self {
            stream,
            unread,
            linger,
            phase: Phase::Open,
        }
    }

    /// Reads and discards until the client closes, fails, or time is up.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Phase::Lingering(deadline) = &mut self.phase else {
            return Poll::Ready(());
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Phase::Open = this.phase {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            if !this.unread.is_armed() {
                this.phase = Phase::Closed;
                return Poll::Ready(Ok(()));
            }
            this.phase = Phase::Lingering(Box::pin(tokio::time::sleep(this.linger)));
        }
        ready!(this.poll_discard(cx));
        this.phase = Phase::Closed;
        Poll::Ready(Ok(()))
    }
}
