//! Wire protocol v1: the frames, and their two encodings (JSON text, compact binary).
//! `docs/protocol.md` is the normative description; this module is its code.

pub mod binary;
mod error_code;
pub mod fossil_delta;
mod frame;
mod headers;
pub mod json;
mod shared_encoding;
pub mod stream_framing;

pub use error_code::ErrorCode;
pub use frame::{
    conflate_interval_ms, ClientFrame, DecodeError, Encoding, Message, MessageKind, PublishFrame,
    Qos, RecordOrigin, ResumePoint, ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
pub use headers::{headers_bytes, HeaderBounds};
pub use shared_encoding::SharedEncoding;

/// The fan-out's shared encoding a frame may use, and whether it carries headers:
/// live updates only. (A delta frame carries one of its own, shared only by the
/// subscribers that got the same delta, or none.)
fn shared_of(frame: &ServerFrame) -> Option<(&SharedEncoding, bool)> {
    let ServerFrame::Message(message) = frame else {
        return None;
    };
    let shared = message.origin.as_ref()?.shared_encoding.as_ref()?;
    (message.kind == MessageKind::Update).then_some((shared, message.headers.is_some()))
}

/// WebSocket subprotocol of the JSON encoding.
pub const SUBPROTOCOL_JSON: &str = "sluice.v1.json";
/// WebSocket subprotocol of the binary encoding.
pub const SUBPROTOCOL_BINARY: &str = "sluice.v1.bin";
/// QUIC ALPN of protocol v1: the binary encoding in length-prefixed frames.
pub const ALPN_QUIC: &[u8] = b"sluice/1";

impl Encoding {
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Json => SUBPROTOCOL_JSON,
            Encoding::Binary => SUBPROTOCOL_BINARY,
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<Self> {
        match name {
            SUBPROTOCOL_JSON => Some(Encoding::Json),
            SUBPROTOCOL_BINARY => Some(Encoding::Binary),
            _ => None,
        }
    }

    pub fn decode_client(self, data: &[u8]) -> Result<ClientFrame, DecodeError> {
        match self {
            Encoding::Json => json::decode_client(data),
            Encoding::Binary => binary::decode_client(data),
        }
    }

    pub fn encode_server(self, frame: &ServerFrame) -> Vec<u8> {
        match self {
            Encoding::Json => json::encode_server(frame),
            Encoding::Binary => binary::encode_server(frame),
        }
    }

    /// [`Encoding::encode_server`], except that a live update carrying a
    /// [`SharedEncoding`] is encoded once for all its subscribers.
    pub fn encode_server_shared(self, frame: &ServerFrame) -> bytes::Bytes {
        match shared_of(frame) {
            Some((shared, with_headers)) => {
                shared.get_or_encode(self, with_headers, || self.encode_server(frame))
            }
            None => bytes::Bytes::from(self.encode_server(frame)),
        }
    }

    /// A transport's compressed form of `plain` (this frame's bytes), made by
    /// `compress` — once for all subscribers of a live update, like the bytes.
    /// `compress` must depend on its input only.
    pub fn compress_server_shared(
        self,
        frame: &ServerFrame,
        plain: &[u8],
        compress: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
    ) -> Option<bytes::Bytes> {
        match shared_of(frame) {
            Some((shared, with_headers)) => {
                shared.get_or_compress(self, with_headers, || compress(plain))
            }
            None => compress(plain).map(bytes::Bytes::from),
        }
    }

    pub fn decode_server(self, data: &[u8]) -> Result<ServerFrame, DecodeError> {
        match self {
            Encoding::Json => json::decode_server(data),
            Encoding::Binary => binary::decode_server(data),
        }
    }

    pub fn encode_client(self, frame: &ClientFrame) -> Vec<u8> {
        match self {
            Encoding::Json => json::encode_client(frame),
            Encoding::Binary => binary::encode_client(frame),
        }
    }
}
