//! A live update's wire bytes, encoded once per fan-out and shared by every
//! subscriber's frame: N subscribers of a subject cost one encoding per wire format,
//! not N. Only the frames of one fan-out share it; the caches keep none, so the
//! encoded bytes live only until the last of those frames is written.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::Encoding;

#[derive(Clone, Default)]
pub struct SharedEncoding(Arc<Slots>);

/// Per wire format and headers or not: the bytes, and a transport's compressed
/// form of them (`None`: not worth compressing).
#[derive(Default)]
struct Slots {
    plain: [OnceLock<Bytes>; 4],
    compressed: [OnceLock<Option<Bytes>>; 4],
}

fn slot(encoding: Encoding, with_headers: bool) -> usize {
    let format = match encoding {
        Encoding::Json => 0,
        Encoding::Binary => 1,
    };
    format * 2 + usize::from(with_headers)
}

impl SharedEncoding {
    /// The bytes in `encoding`, with or without the record's headers (subscribers
    /// that asked for them get another frame), encoded by `encode` on the first
    /// call only.
    pub fn get_or_encode(
        &self,
        encoding: Encoding,
        with_headers: bool,
        encode: impl FnOnce() -> Vec<u8>,
    ) -> Bytes {
        self.0.plain[slot(encoding, with_headers)]
            .get_or_init(|| Bytes::from(encode()))
            .clone()
    }

    /// The same bytes compressed by a transport whose compression depends on the
    /// message only (permessage-deflate without context takeover), compressed by
    /// `compress` on the first call only.
    pub fn get_or_compress(
        &self,
        encoding: Encoding,
        with_headers: bool,
        compress: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<Bytes> {
        self.0.compressed[slot(encoding, with_headers)]
            .get_or_init(|| compress().map(Bytes::from))
            .clone()
    }
}

/// A cache, not content: it never makes two messages differ.
impl PartialEq for SharedEncoding {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SharedEncoding {}

impl fmt::Debug for SharedEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedEncoding")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Message, MessageKind, RecordOrigin, ServerFrame};
    use crate::Epoch;

    fn frame(kind: MessageKind, shared: &SharedEncoding) -> ServerFrame {
        ServerFrame::Message(Message {
            delta: false,
            subject: Arc::from("/t/k"),
            data: Some(Bytes::from_static(b"payload")),
            seq: 7,
            epoch: Epoch::new("e-0"),
            kind,
            headers: None,
            headers_truncated: false,
            origin: Some(RecordOrigin {
                timestamp_ms: 1,
                handed_over_unix_us: 0,
                traceparent: None,
                shared_encoding: Some(shared.clone()),
            }),
        })
    }

    #[test]
    fn a_fan_out_encodes_once_per_format_and_only_live_updates() {
        let shared = SharedEncoding::default();
        for encoding in [Encoding::Json, Encoding::Binary] {
            let a = encoding.encode_server_shared(&frame(MessageKind::Update, &shared));
            let b = encoding.encode_server_shared(&frame(MessageKind::Update, &shared));
            assert_eq!(a.as_ptr(), b.as_ptr(), "one encoding shared");
            assert_eq!(
                a,
                encoding.encode_server(&frame(MessageKind::Update, &shared))
            );
            // Another kind (a snapshot made from the same message) is its own frame.
            let snapshot = frame(MessageKind::Snapshot, &shared);
            assert_eq!(
                encoding.encode_server_shared(&snapshot),
                encoding.encode_server(&snapshot)
            );
            assert_ne!(encoding.encode_server_shared(&snapshot), a);
        }
    }
}
