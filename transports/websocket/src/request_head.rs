//! The first request of a connection, read before tungstenite sees it, so that a
//! plain `GET` (a browser fetching the SDK or the demo page) can be answered with
//! a file while a WebSocket upgrade goes on exactly as before: the bytes read here
//! are handed back to tungstenite first ([`Replayed`]), so the upgrade sees the
//! same bytes in the same order.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The most bytes read while looking for the end of the request head. A longer
/// head is left to tungstenite, which refuses it as it always did.
const HEAD_BYTES_MAX: usize = 16 * 1024;

/// What the request head says, as far as choosing between an upgrade and a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// A complete request that does not ask for a WebSocket upgrade.
    Plain { method: String, path: String },
    /// An upgrade request, or anything this reader cannot judge (a partial or
    /// oversized head, bytes that are not HTTP): tungstenite decides, as before.
    Upgrade,
}

/// A stream that first gives back the bytes [`Replayed::read_head`] took.
pub struct Replayed<S> {
    inner: S,
    /// Bytes read by `read_head` that the reader has not taken yet; freed when taken.
    unread: Box<[u8]>,
    taken: usize,
}

impl<S> Replayed<S> {
    pub fn new(inner: S) -> Self {
        Replayed {
            inner,
            unread: Box::default(),
            taken: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> Replayed<S> {
    /// Reads until the end of the request head (or EOF, or [`HEAD_BYTES_MAX`]) and
    /// keeps the bytes for replay. Call once, before anything else reads.
    pub async fn read_head(&mut self) -> io::Result<Head> {
        let mut head = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        let verdict = loop {
            let n = self.inner.read(&mut chunk).await?;
            head.extend_from_slice(&chunk[..n]);
            if n == 0 || head.len() >= HEAD_BYTES_MAX {
                break Head::Upgrade;
            }
            if let Some(verdict) = judge(&head) {
                break verdict;
            }
        };
        self.unread = head.into_boxed_slice();
        self.taken = 0;
        Ok(verdict)
    }
}

/// `None` while the head is incomplete.
fn judge(bytes: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(Head::Upgrade),
        Ok(httparse::Status::Complete(_)) => {
            let upgrade = request.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("upgrade")
                    && String::from_utf8_lossy(h.value)
                        .trim()
                        .eq_ignore_ascii_case("websocket")
            });
            match (upgrade, request.method, request.path) {
                (false, Some(method), Some(path)) => Some(Head::Plain {
                    method: method.to_owned(),
                    path: path.to_owned(),
                }),
                _ => Some(Head::Upgrade),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.taken < self.unread.len() {
            let n = buf.remaining().min(self.unread.len() - self.taken);
            let from = self.taken;
            buf.put_slice(&self.unread[from..from + n]);
            self.taken += n;
            if self.taken == self.unread.len() {
                self.unread = Box::default();
                self.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

write_through!(Replayed);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn head_of(request: &[u8]) -> (Head, Vec<u8>) {
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        far.write_all(request).await.unwrap();
        drop(far);
        let mut replayed = Replayed::new(near);
        let head = replayed.read_head().await.unwrap();
        let mut again = Vec::new();
        replayed.read_to_end(&mut again).await.unwrap();
        (head, again)
    }

    #[tokio::test]
    async fn a_plain_get_is_told_apart_and_its_bytes_are_replayed() {
        let request = b"GET /sdk/sluice.js HTTP/1.1\r\nHost: x\r\n\r\n";
        let (head, again) = head_of(request).await;
        let path = "/sdk/sluice.js".to_owned();
        let method = "GET".to_owned();
        assert_eq!(head, Head::Plain { method, path });
        assert_eq!(again, request);
    }

    #[tokio::test]
    async fn an_upgrade_is_left_to_tungstenite_with_every_byte() {
        let request = b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\n\r\n\x81\x00";
        let (head, again) = head_of(request).await;
        assert_eq!(head, Head::Upgrade);
        assert_eq!(again, request);
    }

    #[tokio::test]
    async fn a_partial_or_garbled_head_is_left_to_tungstenite() {
        let (head, again) = head_of(b"GET /v1/ws HTTP/1.1\r\nUpgr").await;
        assert_eq!(
            (head, again.as_slice()),
            (Head::Upgrade, &b"GET /v1/ws HTTP/1.1\r\nUpgr"[..])
        );
        let (head, again) = head_of(b"\x00\x01 not http\r\n\r\n").await;
        assert_eq!(
            (head, again.as_slice()),
            (Head::Upgrade, &b"\x00\x01 not http\r\n\r\n"[..])
        );
    }
}
