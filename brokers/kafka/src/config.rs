use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How to reach Kafka and what to read. `docs/kafka.md` documents every key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` of the cluster.
    pub bootstrap_servers: String,
    /// Topics matching this regex (whole name) are exposed too, besides the gateway's
    /// `exposed_topics`; new ones appear at the next metadata refresh.
    pub exposed_topic_pattern: Option<String>,
    /// Where the snapshot bootstrap starts reading each partition: `None` reads from
    /// the earliest offset; `Some(ms)` from the first record of the last `ms`.
    pub bootstrap_lookback_ms: Option<u64>,
    /// How often topic metadata (new topics, partitions, recreated topics) is refreshed.
    pub metadata_refresh_ms: u64,
    /// How long the producer tries to deliver a publish; keep it below the gateway's
    /// `publish_timeout_ms` so a failure is reported as such, not as a timeout.
    pub produce_timeout_ms: u64,
    /// Timeout of metadata, watermark and offset look-ups.
    pub request_timeout_ms: u64,
    /// Resume fetches (reads of old offsets) running at once; more wait their turn.
    pub fetch_concurrency_max: usize,
    /// Records one fetch examines before answering; the core asks again for the rest.
    pub fetch_records_max: usize,
    /// Events buffered towards the gateway core; a slow core slows consumption.
    pub events_queue_max: usize,
    /// Records per batch handed to the core.
    pub batch_records_max: usize,
    /// Which partitions the gateway reads: `all` of every exposed topic (small
    /// deployments; the records of any partitioner reach subscribers), or only
    /// those some subscriber needs (`interest`: the topic's keys must be written
    /// with the partitioner the gateway is configured with).
    pub consumption: Consumption,
    /// Interest mode: how long a partition stays read after its last subscriber
    /// went, so a client that comes back finds it read.
    pub interest_grace_ms: u64,
    /// Extra librdkafka properties for every client (SASL, TLS, ...), e.g.
    /// `"security.protocol" = "SASL_SSL"`.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            exposed_topic_pattern: None,
            bootstrap_lookback_ms: None,
            metadata_refresh_ms: 30_000,
            produce_timeout_ms: 8_000,
            request_timeout_ms: 5_000,
            fetch_concurrency_max: 8,
            fetch_records_max: 10_000,
            events_queue_max: 1024,
            batch_records_max: 512,
            consumption: Consumption::All,
            interest_grace_ms: 30_000,
            properties: BTreeMap::new(),
        }
    }
}

/// What a gateway reads of the exposed topics (`consumption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consumption {
    /// Every partition of every exposed topic, from start to end.
    #[default]
    All,
    /// Only the partitions the gateway's subscribers' keys map to, each read from
    /// the snapshot start point when its first subscriber comes.
    Interest,
}
