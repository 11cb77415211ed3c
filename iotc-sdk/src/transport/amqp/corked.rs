//! A write side that gathers AMQP frames into few TLS writes.
//!
//! fe2o3-amqp's connection engine writes and flushes every frame on its own, so every transfer
//! and every flow or disposition frame became one TLS record: one `SSL_write` (or rustls
//! record) with its per-record work, the largest single cost of an AMQP message. [`Corked`]
//! hands the frames to a writer task instead: a flush returns once the bytes are handed over
//! (as a flush into the kernel's socket buffer does), and while the writer is busy with one
//! write, the frames written meanwhile gather and go out together in the next one. An idle
//! connection is not delayed: the first frame wakes the writer at once.
//!
//! Back-pressure stays: past [`LIMIT`] bytes waiting, writes wait for the writer. A write
//! error of the writer is returned by the next write or flush.
//!
//! Reads go through a buffer of its own, zeroed once: fe2o3-amqp reads into the spare,
//! uninitialized capacity of its frame buffer, which the TLS stream zeroes on every read before
//! it fills a few hundred bytes of it (tokio-native-tls: some 4,000 instructions a read, more
//! than the bytes' own copy).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::Notify;

/// How many bytes may wait for the writer before writes wait too.
pub(crate) const LIMIT: usize = 256 * 1024;

/// The read buffer: one TLS record's plaintext at most (16 KiB).
const READ_BUFFER: usize = 16 * 1024;

/// A stream whose writes go through a writer task (see the module documentation).
pub(crate) struct Corked<S> {
    read: ReadHalf<S>,
    /// Initialized once; what a read brings is copied to the caller's buffer.
    scratch: Box<[u8]>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: bytes are waiting, or the stream is shutting down.
    work: Notify,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer's error, for the next write or flush (kind and text: `io::Error` is not
    /// `Clone`).
    failed: Option<(io::ErrorKind, String)>,
    /// Shutdown asked for: the writer writes what is waiting, shuts the stream down and ends.
    closing: bool,
    /// The writer has ended.
    done: bool,
    /// A write waiting for room, or a shutdown waiting for the writer to end.
    waiter: Option<Waker>,
}

impl<S> Corked<S>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    /// Wraps `stream`; spawns its writer task on the current tokio runtime.
    pub(crate) fn new(stream: S) -> Self {
        let (read, write) = tokio::io::split(stream);
        let shared = Arc::new(Shared::default());
        tokio::spawn(writer(write, Arc::clone(&shared)));
        Corked {
            read,
            scratch: vec![0; READ_BUFFER].into_boxed_slice(),
            shared,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (plain fields).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn error(&self) -> Option<io::Error> {
        self.failed
            .as_ref()
            .map(|(kind, text)| io::Error::new(*kind, text.clone()))
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }
}

/// Writes what gathers in `shared` to `stream` until shut down or failed.
async fn writer<S: AsyncWrite>(mut stream: WriteHalf<S>, shared: Arc<Shared>) {
    let mut batch = Vec::new();
    loop {
        let closing = {
            let mut state = shared.lock();
            std::mem::swap(&mut batch, &mut state.pending);
            state.wake();
            state.closing
        };
        if batch.is_empty() {
            if closing {
                let _ = stream.shutdown().await;
                break;
            }
            shared.work.notified().await;
            continue;
        }
        let written = async {
            stream.write_all(&batch).await?;
            stream.flush().await
        }
        .await;
        batch.clear();
        if let Err(e) = written {
            let mut state = shared.lock();
            state.failed = Some((e.kind(), e.to_string()));
            state.pending = Vec::new();
            break;
        }
    }
    let mut state = shared.lock();
    state.done = true;
    state.wake();
}

impl<S: AsyncRead> AsyncRead for Corked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining().min(this.scratch.len());
        let mut scratch = ReadBuf::new(&mut this.scratch[..room]);
        match Pin::new(&mut this.read).poll_read(cx, &mut scratch) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(scratch.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S> AsyncWrite for Corked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.shared.lock();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if state.closing || state.done {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if state.pending.len() >= LIMIT {
            state.waiter = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let first = state.pending.is_empty();
        state.pending.extend_from_slice(buf);
        drop(state);
        if first {
            self.shared.work.notify_one();
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// Handed over is flushed: the writer task is already on its way (see the module
    /// documentation); the writer's error, if any, is returned here.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.shared.lock().error() {
            Some(error) => Poll::Ready(Err(error)),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.shared.lock();
        if state.done {
            return Poll::Ready(state.error().map_or(Ok(()), Err));
        }
        state.closing = true;
        state.waiter = Some(cx.waker().clone());
        drop(state);
        self.shared.work.notify_one();
        Poll::Pending
    }
}

impl<S> Drop for Corked<S> {
    /// The writer writes what is waiting, shuts the stream down and ends.
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.work.notify_one();
    }
}

impl<S> fmt::Debug for Corked<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Corked")
            .field("pending", &state.pending.len())
            .field("closing", &state.closing)
            .field("done", &state.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Frames written one by one, each flushed, arrive whole and in order; reading goes on
    /// beside; a shutdown writes what waits first.
    #[tokio::test]
    async fn frames_arrive_in_order_and_shutdown_writes_what_waits() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut corked = Corked::new(client);
        let mut expected = Vec::new();
        for n in 0..200u32 {
            let frame = n.to_be_bytes();
            corked.write_all(&frame).await.unwrap();
            corked.flush().await.unwrap();
            expected.extend_from_slice(&frame);
        }
        server.write_all(b"pong").await.unwrap();
        let mut pong = [0u8; 4];
        corked.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"pong");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        corked.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), expected);
    }

    /// Reads larger than the read buffer arrive whole, in order.
    #[tokio::test]
    async fn reads_larger_than_the_buffer_arrive_whole() {
        let (client, mut server) = tokio::io::duplex(4096);
        let mut corked = Corked::new(client);
        let sent: Vec<u8> = (0..40_000u32).map(|n| (n % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move { server.write_all(&sent).await.unwrap() })
        };
        let mut got = vec![0u8; sent.len()];
        corked.read_exact(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, sent);
    }

    /// Past the limit a write waits until the writer has taken the bytes.
    #[tokio::test]
    async fn writes_wait_past_the_limit() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut corked = Corked::new(client);
        let chunk = vec![7u8; LIMIT];
        corked.write_all(&chunk).await.unwrap();
        // The writer takes the first chunk and is stuck on the 1 KiB pipe; the second fills
        // the buffer; the third must wait, not grow the buffer without bound.
        corked.write_all(&chunk).await.unwrap();
        let more = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            corked.write_all(&chunk),
        )
        .await;
        assert!(more.is_err(), "a write past the limit did not wait");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got.len()
        });
        corked.write_all(&chunk).await.unwrap();
        corked.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), 3 * LIMIT);
    }

    /// A failed write side is reported by the next write or flush.
    #[tokio::test]
    async fn a_writer_error_is_returned_by_the_next_write() {
        let (client, server) = tokio::io::duplex(16);
        drop(server);
        let mut corked = Corked::new(client);
        corked.write_all(b"lost").await.unwrap();
        let failed = async {
            loop {
                if let Err(e) = corked.write_all(b"more").await {
                    return e;
                }
                tokio::task::yield_now().await;
            }
        };
        let error = tokio::time::timeout(std::time::Duration::from_secs(5), failed)
            .await
            .expect("the error arrives");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }
}
