//! The byte streams under fe2o3-amqp: [`Prefixed`] replays bytes already read (the peeked
//! AMQP header); [`Severable`] lets the listener cut the connection's socket under the AMQP
//! engine (fault injection `KillTcp`), with no CLOSE frame.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tls::DeviceIo;

/// The device's stream while it is connected, and the tasks waiting on it.
#[derive(Default)]
struct Slot {
    io: Option<Box<dyn DeviceIo>>,
    /// Woken when the stream is cut, so the engine sees the reset at once.
    wakers: Vec<Waker>,
}

/// A device stream the AMQP engine reads and writes until [`Cutter::cut`] drops it: then
/// every read and write fails with `ConnectionReset`.
pub(crate) struct Severable(Arc<Mutex<Slot>>);

impl std::fmt::Debug for Severable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = lock(&self.0).io.is_none();
        f.debug_struct("Severable").field("cut", &cut).finish()
    }
}

/// Cuts a [`Severable`] stream.
#[derive(Clone)]
pub(crate) struct Cutter(Arc<Mutex<Slot>>);

/// Wraps `io`; returns the stream for the engine and the handle that cuts it.
pub(crate) fn severable(io: Box<dyn DeviceIo>) -> (Severable, Cutter) {
    let slot = Arc::new(Mutex::new(Slot {
        io: Some(io),
        wakers: Vec::new(),
    }));
    (Severable(slot.clone()), Cutter(slot))
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cutter {
    /// Drops the socket as the network would: a TCP reset when `reset` and the stream reaches
    /// its socket ([`DeviceIo::prepare_abort`]), else a FIN; no TLS close_notify, no AMQP
    /// CLOSE. The engine's next read or write fails.
    pub(crate) fn cut(&self, reset: bool) {
        let (io, wakers) = {
            let mut slot = lock(&self.0);
            (slot.io.take(), std::mem::take(&mut slot.wakers))
        };
        if let Some(io) = io {
            if reset {
                io.prepare_abort();
            }
            drop(io);
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection cut")
}

impl Severable {
    /// Runs `f` on the stream, or fails once it is cut (remembering the waker to wake then).
    fn with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut Box<dyn DeviceIo>>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut slot = lock(&self.0);
        let Slot { io, wakers } = &mut *slot;
        match io.as_mut() {
            None => Poll::Ready(Err(reset())),
            Some(io) => {
                let polled = f(Pin::new(io), cx);
                if polled.is_pending() && !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                polled
            }
        }
    }
}

impl AsyncRead for Severable {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(cx, |io, cx| io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Severable {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |io, cx| io.poll_shutdown(cx))
    }
}

/// `inner`, with `prefix` read first.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    impl DeviceIo for tokio::io::DuplexStream {}

    #[tokio::test]
    async fn replays_the_prefix_first() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"rest")
            .await
            .unwrap();
        drop(a);
        let mut s = Prefixed::new(b"AMQP".to_vec(), b);
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"AMQPrest");
    }

    #[tokio::test]
    async fn a_cut_fails_the_pending_read_and_closes_the_socket() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut s, cutter) = severable(Box::new(a));
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            s.read(&mut byte).await
        });
        tokio::task::yield_now().await;
        cutter.cut(true);
        let read = reader.await.unwrap();
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        // The peer sees the end of the stream, with nothing written before it.
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
