//! The core's limits. Every queue and cache of the gateway is bounded by one of these.

use std::collections::BTreeMap;

use crate::partitioner::Partitioner;

/// Limits and behaviour of one gateway. The defaults suit a small production node;
/// `docs/configuration.md` documents each key of the TOML config that sets them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Topics clients may subscribe and publish to. Others are refused with `not_exposed`.
    pub exposed_topics: Vec<String>,
    /// Largest client frame accepted; a larger one closes the connection with 1009.
    pub frame_bytes_max: usize,
    /// Subscriptions one connection may hold; more get `too_many_subscriptions`.
    pub subscriptions_per_client_max: usize,
    /// Bytes queued towards one client before it is disconnected as a `slow_consumer`.
    pub client_queue_bytes_max: usize,
    /// Publishes of one connection awaiting the broker; more get `rate_limited`.
    pub publishes_in_flight_per_client_max: usize,
    /// How long a publish may wait for the broker before it fails with `unavailable`.
    pub publish_timeout_ms: u64,
    /// Total bytes of snapshots kept; the least recently used are evicted beyond it.
    pub snapshot_cache_bytes_max: usize,
    /// Messages kept per subject for history and resume.
    pub message_cache_messages_per_subject_max: usize,
    /// Bytes kept per subject for history and resume.
    pub message_cache_bytes_per_subject_max: usize,
    /// Bytes kept for history and resume across all subjects; oldest evicted first.
    pub message_cache_bytes_max: usize,
    /// The exposed topic that holds request/reply inboxes (`""`: none). A client
    /// with a token may subscribe only to its own inbox, `/<inbox_topic>/<its
    /// sub>/…`, whatever its permissions say, and publish to any inbox (a reply);
    /// the SDKs' `request` subscribes to a fresh subject there for each call.
    pub inbox_topic: String,
    /// Record headers a message carries to subscribers that ask for them (and
    /// keeps in the caches); later ones are left out and the message says so.
    pub message_headers_max: usize,
    /// Bytes of header names and values a message keeps, likewise.
    pub message_headers_bytes_max: usize,
    /// Bytes of the key → partition memory: where each subject's records were seen,
    /// so publishes land there and a subject that moves partition is noticed. The
    /// subjects not written lately are forgotten beyond it.
    pub subject_partitions_bytes_max: usize,
    /// Where a publish to a key the gateway has not seen records of goes: the
    /// partitioner the topic's producers use. `murmur2` (Java's default) or
    /// `consistent` (librdkafka's `consistent` and default `consistent_random`).
    pub partitioner: Partitioner,
    /// Per-topic exceptions to `partitioner`: topic name → partitioner.
    pub topic_partitioners: BTreeMap<String, Partitioner>,
    /// Resumes older than the cache served from the broker at once; more wait in a queue.
    pub fetches_in_flight_max: usize,
    /// Resumes waiting for a fetch slot; beyond it a resume gets `resync` instead.
    pub fetch_queue_max: usize,
    /// The most a subscribe may ask for with `history`; more is refused. History
    /// beyond the message cache is read from the broker's log (the resume path).
    pub history_max: u32,
    /// Offsets one step of a history search reads from the log, going back from
    /// the newest, until it has found `history` messages of the subject.
    pub history_scan_offsets: u64,
    /// Values a delta subscription gets as deltas are at most this large; larger
    /// ones go whole. Bounds what each such subscription keeps (its client's
    /// value) and the work of encoding.
    pub delta_value_bytes_max: usize,
    /// Publishes one connection may make per second, sustained (a token bucket);
    /// beyond it they get `rate_limited`. 0 switches the limit off.
    pub publish_rate_per_s: u32,
    /// Publishes one connection may make at once before the rate applies.
    pub publish_burst: u32,
    /// With `[auth] mode = "jwt"`: how long a connection without a token from the
    /// handshake may take to send its `auth` frame before it is closed (4001).
    pub auth_timeout_ms: u64,
    /// How long before its token expires a connection is told `token_expiring`.
    pub token_expiry_notice_ms: u64,
    /// Whether connections need a token (`[auth] mode = "jwt"`). Set from the
    /// `[auth]` section, so it is not a key of its own.
    #[serde(skip)]
    pub auth_required: bool,
    /// Topic patterns (regexes matching the whole name) whose topics are exposed
    /// once the broker announces them: `kafka.exposed_topic_pattern`, and patterns
    /// exposed through the Portal. Set by the binary, so not a key of `[gateway]`.
    #[serde(skip)]
    pub exposed_topic_patterns: Vec<String>,
    /// Interest mode (`[broker.kafka] consumption = "interest"`): the broker reads
    /// only the partitions this gateway's subscribers need, and a partition nobody
    /// subscribes to any more is released this long after its last subscriber
    /// went. `None`: the broker reads everything. Set by the binary from
    /// `interest_grace_ms`, so not a key of `[gateway]`.
    #[serde(skip)]
    pub partition_release_grace_ms: Option<u64>,
}

impl GatewayConfig {
    pub fn header_bounds(&self) -> crate::protocol::HeaderBounds {
        crate::protocol::HeaderBounds {
            count_max: self.message_headers_max,
            bytes_max: self.message_headers_bytes_max,
        }
    }

    /// The partitioner for keys of `topic` the gateway has not seen records of.
    pub fn partitioner_of(&self, topic: &str) -> Partitioner {
        self.topic_partitioners
            .get(topic)
            .copied()
            .unwrap_or(self.partitioner)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            exposed_topics: Vec::new(),
            exposed_topic_patterns: Vec::new(),
            frame_bytes_max: 1024 * 1024,
            subscriptions_per_client_max: 1024,
            client_queue_bytes_max: 8 * 1024 * 1024,
            publishes_in_flight_per_client_max: 1024,
            publish_timeout_ms: 10_000,
            snapshot_cache_bytes_max: 256 * 1024 * 1024,
            message_cache_messages_per_subject_max: 128,
            message_cache_bytes_per_subject_max: 1024 * 1024,
            message_cache_bytes_max: 256 * 1024 * 1024,
            inbox_topic: "_inbox".to_owned(),
            message_headers_max: 32,
            message_headers_bytes_max: 4096,
            subject_partitions_bytes_max: 64 * 1024 * 1024,
            partitioner: Partitioner::Murmur2,
            topic_partitioners: BTreeMap::new(),
            fetches_in_flight_max: 16,
            fetch_queue_max: 1024,
            history_max: 1000,
            history_scan_offsets: 10_000,
            delta_value_bytes_max: 64 * 1024,
            publish_rate_per_s: 1000,
            publish_burst: 2000,
            auth_timeout_ms: 10_000,
            token_expiry_notice_ms: 60_000,
            auth_required: false,
            partition_release_grace_ms: None,
        }
    }
}
