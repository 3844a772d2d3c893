use std::sync::Arc;

use bytes::Bytes;

use super::ErrorCode;
use crate::broker::{Epoch, Header};
use crate::ids::RequestId;

/// Which of the two encodings a connection speaks; chosen by WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Json,
    Binary,
}

/// Where a client left off on one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    pub epoch: Epoch,
    pub seq: u64,
}

/// One subject of a subscribe request, with its resume point if the client has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeItem {
    pub subject: String,
    pub resume: Option<ResumePoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Qos {
    #[default]
    Standard,
    Guaranteed,
}

impl Qos {
    pub fn as_str(self) -> &'static str {
        match self {
            Qos::Standard => "standard",
            Qos::Guaranteed => "guaranteed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFrame {
    pub id: RequestId,
    pub subject: String,
    pub data: Bytes,
    /// Whether the message may become the subject's snapshot (default true).
    pub retained: bool,
    pub qos: Qos,
    pub reply_to: Option<String>,
    /// W3C trace context to carry into the Kafka record.
    pub traceparent: Option<String>,
}

/// The shortest conflation interval a subscription may ask for.
pub const CONFLATE_MS_MIN: u32 = 100;
/// The longest: an hour.
pub const CONFLATE_MS_MAX: u32 = 3_600_000;

/// A subscribe's `conflate_ms` as the gateway applies it: rounded up to a multiple
/// of 100 ms; below [`CONFLATE_MS_MIN`] or above [`CONFLATE_MS_MAX`] is an error.
pub fn conflate_interval_ms(raw: u32) -> Result<u32, String> {
    if !(CONFLATE_MS_MIN..=CONFLATE_MS_MAX).contains(&raw) {
        return Err(format!(
            "conflate_ms must be from {CONFLATE_MS_MIN} to {CONFLATE_MS_MAX}, not {raw}"
        ));
    }
    Ok(raw.div_ceil(100) * 100)
}

/// How a subscribe asks for its subjects, the same for every subject in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Ask for up to this many past messages (kind `History`) instead of the
    /// snapshot.
    pub history: Option<u32>,
    /// Deliver each message's record headers (protocol 1.1).
    pub headers: bool,
    /// At most one live message per this many milliseconds per subject, the
    /// latest (protocol 1.1); a multiple of 100, at least 100.
    pub conflate_ms: Option<u32>,
    /// End a history start with [`SyncStatus::HistoryEnd`] (protocol 1.1).
    pub history_end: bool,
    /// Send values as fossil deltas against the previous one when smaller
    /// (protocol 1.1).
    pub delta: bool,
}

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Subscribe {
        id: RequestId,
        items: Vec<SubscribeItem>,
        options: SubscribeOptions,
    },
    Unsubscribe {
        id: RequestId,
        subjects: Vec<String>,
    },
    Publish(PublishFrame),
    Ping {
        id: RequestId,
    },
    /// A token: the first frame of a connection that brought none in its handshake,
    /// or a refresh on a live one.
    Auth {
        id: RequestId,
        token: String,
    },
}

impl ClientFrame {
    pub fn id(&self) -> RequestId {
        match self {
            ClientFrame::Subscribe { id, .. }
            | ClientFrame::Unsubscribe { id, .. }
            | ClientFrame::Ping { id }
            | ClientFrame::Auth { id, .. } => *id,
            ClientFrame::Publish(p) => p.id,
        }
    }
}

/// How a message reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The subject's latest retained value, sent on subscribe.
    Snapshot,
    /// A live message.
    Update,
    /// A message the client missed while away, sent on resume before `sync`.
    Recovered,
    /// A past message the client asked for with `history`.
    History,
}

impl MessageKind {
    pub const ALL: [MessageKind; 4] = [
        MessageKind::Snapshot,
        MessageKind::Update,
        MessageKind::Recovered,
        MessageKind::History,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Snapshot => "snapshot",
            MessageKind::Update => "update",
            MessageKind::Recovered => "recovered",
            MessageKind::History => "history",
        }
    }
}

/// A message on a subject. Cloning shares the payload.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: Arc<str>,
    /// `None` for a tombstone: the subject's value was deleted.
    pub data: Option<Bytes>,
    pub seq: u64,
    pub epoch: Epoch,
    pub kind: MessageKind,
    /// The record's headers, bounded (`gateway.message_headers_max`,
    /// `message_headers_bytes_max`). Kept in the caches; a frame carries them only
    /// to a subscription that asked (protocol 1.1), else `None`.
    pub headers: Option<Arc<[Header]>>,
    /// Headers beyond the bounds were left out of [`Message::headers`].
    pub headers_truncated: bool,
    /// `data` is a fossil delta against the previous value sent on this
    /// subscription (protocol 1.1, [`super::fossil_delta`]), not the value.
    pub delta: bool,
    /// Where the record came from, for delivery metrics and traces. Never encoded;
    /// `None` on messages decoded from the wire.
    pub origin: Option<RecordOrigin>,
}

/// Equality is what the client sees: [`Message::origin`] is local metadata.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.subject == other.subject
            && self.data == other.data
            && self.seq == other.seq
            && self.epoch == other.epoch
            && self.kind == other.kind
            && self.headers == other.headers
            && self.headers_truncated == other.headers_truncated
            && self.delta == other.delta
    }
}

impl Eq for Message {}

/// The broker record behind a message: its timestamp (delivery latency is measured
/// from it) and the W3C trace context the publisher wrote (delivery spans continue
/// that trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOrigin {
    /// Broker timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// [`crate::BrokerRecord::handed_over_unix_us`]: 0 when not stamped.
    pub handed_over_unix_us: i64,
    pub traceparent: Option<Bytes>,
    /// Set on the frames of one live fan-out: their wire bytes, encoded once.
    pub shared_encoding: Option<super::SharedEncoding>,
}

impl Message {
    /// Bytes this message is charged against a client's outbound queue and the caches:
    /// payload, subject and epoch, plus a fixed allowance for framing.
    pub fn cost_bytes(&self) -> usize {
        64 + self.subject.len()
            + self.epoch.as_str().len()
            + self.data.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .as_deref()
                .map_or(0, super::headers::headers_bytes)
    }

    /// This message as a frame for a subscription: with its headers only if the
    /// subscription asked for them.
    pub fn for_subscription(&self, headers: bool) -> Message {
        let mut message = self.clone();
        message.keep_headers(headers);
        message
    }

    /// Drops the headers unless `wanted`.
    pub fn keep_headers(&mut self, wanted: bool) {
        if !wanted {
            self.headers = None;
            self.headers_truncated = false;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    /// The resume was complete: everything missed has been sent.
    Sync,
    /// The resume point could not be honoured; the snapshot follows instead.
    Resync,
    /// A history start sent everything it will (protocol 1.1, asked for with
    /// `history_end`). `complete`: the history holds the `n` messages asked for, or
    /// every message the subject's log ever had; false when the log no longer has
    /// older ones (retention removed them) and fewer than `n` were sent.
    HistoryEnd { complete: bool },
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Sync => "sync",
            SyncStatus::Resync => "resync",
            SyncStatus::HistoryEnd { .. } => "history_end",
        }
    }
}

/// A frame from the gateway to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    Ok {
        id: RequestId,
    },
    Error {
        id: Option<RequestId>,
        subject: Option<String>,
        code: ErrorCode,
        message: String,
    },
    Message(Message),
    Ack {
        id: RequestId,
        epoch: Epoch,
        seq: u64,
    },
    Status {
        subject: Arc<str>,
        status: SyncStatus,
    },
    /// The connection's token expires in this many milliseconds; send `auth` with a
    /// fresh one, or the connection is closed (4002) when it does.
    TokenExpiring {
        expires_in_ms: u64,
    },
}

impl ServerFrame {
    /// Bytes charged against the client's outbound queue for this frame.
    pub fn cost_bytes(&self) -> usize {
        match self {
            ServerFrame::Message(m) => m.cost_bytes(),
            ServerFrame::Error {
                subject, message, ..
            } => 64 + message.len() + subject.as_ref().map_or(0, String::len),
            ServerFrame::Status { subject, .. } => 64 + subject.len(),
            ServerFrame::Ack { epoch, .. } => 64 + epoch.as_str().len(),
            ServerFrame::Ok { .. } => 32,
            ServerFrame::TokenExpiring { .. } => 64,
        }
    }
}

/// A frame that could not be decoded. Carries the request id when it could be read,
/// so the error reply can name the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

impl DecodeError {
    pub fn new(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        DecodeError {
            id,
            code,
            message: message.into(),
        }
    }

    /// Turns the decode failure into the error frame the client is sent.
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            id: self.id,
            subject: None,
            code: self.code,
            message: self.message,
        }
    }
}
