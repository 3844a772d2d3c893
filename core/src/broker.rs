//! The broker boundary. The core asks a broker for work with [`BrokerCommand`]s
//! (as [`crate::Output::Broker`]) and learns what happened from [`BrokerEvent`]s
//! (as [`crate::Input::Broker`]). Any log that keeps per-partition offsets can sit
//! behind it: the embedded in-memory broker, Kafka, or a simulated log. The types
//! are serde-serializable so a broker can also sit across a network link (the
//! simulator's log server does).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{FetchId, ProduceId};

/// Names one log: a topic incarnation plus a partition. A `seq` is only meaningful
/// together with its epoch; when a topic is recreated its epochs change.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(Arc<str>);

impl Epoch {
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        Epoch(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Record header names Sluice reads and writes.
pub mod header {
    /// `"false"` or `"0"` marks a record that must not become the snapshot.
    pub const RETAINED: &str = "retained";
    /// `"standard"` or `"guaranteed"`, carried for consumers; the gateway does not act on it.
    pub const QOS: &str = "qos";
    /// The subject a reply is expected on.
    pub const REPLY_TO: &str = "reply_to";
    /// W3C trace context of the publish.
    pub const TRACEPARENT: &str = "traceparent";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: Bytes,
}

/// One record of a partition, as the broker stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRecord {
    pub topic: Arc<str>,
    pub partition: u32,
    pub offset: u64,
    pub key: Option<Bytes>,
    /// `None` is a tombstone: it deletes the subject's snapshot.
    pub payload: Option<Bytes>,
    /// Shared: a record is cloned for every session and batch that carries it.
    pub headers: Arc<[Header]>,
    /// Broker timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// When the broker adapter handed the record to the gateway, wall-clock
    /// microseconds since the Unix epoch; 0 when not stamped. Only the start of the
    /// gateway's own share of a delivery's latency: the core copies it and never
    /// reads a clock.
    #[serde(default)]
    pub handed_over_unix_us: i64,
}

impl BrokerRecord {
    /// A record without a `retained` header counts as retained (last value per key).
    pub fn is_retained(&self) -> bool {
        match self.header(header::RETAINED) {
            Some(value) => !matches!(&value[..], b"false" | b"0"),
            None => true,
        }
    }

    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }
}

/// One partition of a topic, as a gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    pub partition: u32,
    pub epoch: Epoch,
    /// The first offset the broker will deliver to this gateway as records. Anything
    /// older is only reachable with a [`BrokerCommand::Fetch`].
    pub start_offset: u64,
}

/// Append a record; answer with [`BrokerEvent::Produced`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceRequest {
    pub produce: ProduceId,
    pub topic: Arc<str>,
    pub partition: u32,
    pub key: Option<Bytes>,
    pub payload: Bytes,
    pub headers: Vec<Header>,
}

/// Read back the records of `partition` with offsets in `from_offset..=to_offset`
/// whose key equals `key`; answer with [`BrokerEvent::Fetched`]. The broker may stop
/// early (bounded batches) and says where in `next_offset`. A `from_offset` below
/// the log's start is [`BrokerError::OffsetOutOfRange`], unless `from_log_start`:
/// then the fetch begins at the log's start (and says so in `first_offset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub fetch: FetchId,
    pub topic: Arc<str>,
    pub partition: u32,
    pub epoch: Epoch,
    pub key: Option<Bytes>,
    pub from_offset: u64,
    pub to_offset: u64,
    pub from_log_start: bool,
}

/// What the core asks of the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokerCommand {
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    /// Interest mode: read this partition (from the snapshot start point), then
    /// answer [`BrokerEvent::PartitionReady`] behind the records that rebuild its
    /// snapshots. Sent when a client of this core first needs the partition.
    Watch {
        topic: Arc<str>,
        partition: u32,
    },
    /// Interest mode: this core no longer needs the partition (its grace period
    /// ended). The broker stops reading it once no core of the process watches it,
    /// and then sends [`BrokerEvent::PartitionReleased`].
    Unwatch {
        topic: Arc<str>,
        partition: u32,
    },
}

/// Why the broker could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("offset no longer in the log")]
    OffsetOutOfRange,
    #[error("the log's epoch changed")]
    EpochChanged,
    #[error("unknown topic or partition")]
    UnknownTopic,
    #[error("message too large for the broker")]
    TooLarge,
    #[error("broker error: {0}")]
    Other(String),
}

/// The result of a fetch: matching records, and where the broker stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    pub records: Vec<BrokerRecord>,
    /// The first offset examined: the request's `from_offset`, or the log's start
    /// if that is later (only with `from_log_start`).
    pub first_offset: u64,
    /// Every offset below this was examined; `> to_offset` when the fetch is complete.
    pub next_offset: u64,
}

/// What the broker tells the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokerEvent {
    /// The partitions of an exposed topic. Sent at start and whenever they change
    /// (a recreated topic comes back with new epochs).
    TopicMeta {
        topic: Arc<str>,
        partitions: Vec<PartitionMeta>,
    },
    /// New records, in offset order per partition. Records at or below an offset the
    /// core already processed are ignored, so redelivery is harmless.
    Records(Vec<BrokerRecord>),
    Produced {
        produce: ProduceId,
        result: Result<u64, BrokerError>,
    },
    Fetched {
        fetch: FetchId,
        result: Result<Fetched, BrokerError>,
    },
    /// Every record the broker held when the gateway started (its bootstrap) was
    /// sent before this event. Readiness waits for the core to have applied it, not
    /// for the broker to have sent the records, so the first client sees complete
    /// snapshots. A broker without a bootstrap need not send it.
    CaughtUp,
    /// Interest mode: the partition is read anew from `start_offset` (the snapshot
    /// start point); its records follow. The core forgets what it kept of the
    /// partition and applies them.
    PartitionReading {
        topic: Arc<str>,
        partition: u32,
        start_offset: u64,
    },
    /// Interest mode, the answer to this core's [`BrokerCommand::Watch`]: every
    /// record up to the high watermark at the watch came before this event, so the
    /// partition's snapshots are complete.
    PartitionReady { topic: Arc<str>, partition: u32 },
    /// Interest mode: the broker stopped reading the partition (no core watches it).
    /// The core drops its snapshots and cached messages, which would go stale, and
    /// ignores records of it until the next [`BrokerEvent::PartitionReading`].
    PartitionReleased { topic: Arc<str>, partition: u32 },
}
