//! The socket under a WebSocket: collects what tungstenite writes until it
//! flushes, writes it in one go, then frees it. tungstenite's own write buffer
//! keeps its largest size for the connection's life (it has no way to shrink
//! it): after one burst of messages (a resume's dozen) an idle connection held
//! 5 KiB for it. tungstenite is set to pass every frame straight down
//! (`write_buffer_size = 0`), so its buffer holds one frame at a time and the
//! batch lives here, only until it is written.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes collected before a write waits for the socket: the bound of the batch.
const BATCH_BYTES_MAX: usize = 64 * 1024;

pub struct FlushBuffered<S> {
    inner: S,
    batch: Vec<u8>,
    /// How much of `batch` the socket has taken.
    written: usize,
}

impl<S> FlushBuffered<S> {
    pub fn new(inner: S) -> Self {
        FlushBuffered {
            inner,
            batch: Vec::new(),
            written: 0,
        }
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> FlushBuffered<S> {
    /// Appends WebSocket frames the connection framed itself, to go out with the
    /// next flush. Data frames skip tungstenite, which would first copy each one
    /// into a buffer of its own: here a batch is one allocation and one copy.
    /// tungstenite hands every frame of its own (pings, pongs, the close) down
    /// whole, so frames never interleave. `reserve_bytes` is the batch's size.
    pub fn append_frames(&mut self, reserve_bytes: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.batch.reserve(reserve_bytes);
        write(&mut self.batch);
    }
}

impl<S: AsyncWrite + Unpin> FlushBuffered<S> {
    /// Writes the batch to the socket, then frees it.
    fn poll_write_batch(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.batch.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.batch[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.batch = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FlushBuffered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FlushBuffered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.batch.len() >= BATCH_BYTES_MAX {
            ready!(self.poll_write_batch(cx))?;
        }
        self.batch.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_batch(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_batch(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_reach_the_socket_on_flush_and_the_batch_is_freed() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut buffered = FlushBuffered::new(near);
        buffered.write_all(b"hello ").await.unwrap();
        buffered.write_all(b"world").await.unwrap();
        assert!(buffered.batch.capacity() > 0);
        buffered.flush().await.unwrap();
        assert_eq!(buffered.batch.capacity(), 0);
        let mut got = [0u8; 11];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn appended_frames_keep_their_place_among_writes() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut buffered = FlushBuffered::new(near);
        buffered.write_all(b"ping ").await.unwrap();
        buffered.append_frames(6, |batch| batch.extend_from_slice(b"data, "));
        buffered.write_all(b"pong").await.unwrap();
        buffered.flush().await.unwrap();
        assert_eq!(buffered.batch.capacity(), 0);
        let mut got = [0u8; 15];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping data, pong");
    }

    #[tokio::test]
    async fn a_full_batch_waits_for_the_socket() {
        use futures_util::FutureExt;
        // The far side reads nothing: the pipe takes 1 KiB, the batch its bound.
        let (near, mut far) = tokio::io::duplex(1024);
        let mut buffered = FlushBuffered::new(near);
        let chunk = vec![7u8; 1024];
        let mut accepted = 0;
        while buffered.write_all(&chunk).now_or_never().is_some() {
            accepted += chunk.len();
            assert!(accepted <= BATCH_BYTES_MAX + 2 * 1024, "{accepted}");
        }
        let mut got = vec![0u8; 1024];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(got, chunk);
    }
}
