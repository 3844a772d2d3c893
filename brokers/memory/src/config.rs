//! What the embedded broker holds and how much of it.

use crate::data_dir::DurableConfig;

/// Sizing of a [`crate::MemoryBroker`]. Every queue and log is bounded, so a busy
/// gateway costs a known amount of memory instead of growing without limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBrokerConfig {
    /// Topics created when the broker starts; more can be added with
    /// [`crate::MemoryBroker::create_topic`].
    pub topics: Vec<TopicConfig>,
    /// Records kept per partition before the oldest are dropped. At least one record
    /// is always kept, so `0` acts as `1`.
    pub retention_records_max: usize,
    /// Key plus payload bytes kept per partition before the oldest records are
    /// dropped. A single record bigger than this is refused as `TooLarge`.
    pub retention_bytes_max: usize,
    /// Records examined per `Fetch` answer, so one history request cannot hold the
    /// broker lock for a whole log. `0` acts as `1`, so a fetch always progresses.
    pub fetch_records_max: usize,
    /// Capacity of each session's event channel (and of its command channel): a
    /// gateway that reads slowly slows its session down instead of growing a queue.
    /// `0` acts as `1`, the smallest channel tokio allows.
    pub events_queue_max: usize,
    /// Records older than this many milliseconds are dropped (checked every
    /// second and on each append); `None` keeps them until the other limits.
    pub retention_ms: Option<u64>,
    /// Keep the log in files so it survives a restart; `None` keeps it in memory.
    pub durable: Option<DurableConfig>,
}

impl Default for MemoryBrokerConfig {
    fn default() -> Self {
        MemoryBrokerConfig {
            topics: Vec::new(),
            retention_records_max: 100_000,
            retention_bytes_max: 64 * 1024 * 1024,
            fetch_records_max: 10_000,
            events_queue_max: 1024,
            retention_ms: None,
            durable: None,
        }
    }
}

/// A topic to create at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// Kafka topic name; the first segment of the subjects it carries.
    pub name: String,
    /// Number of partitions. A produce names its partition (the gateway's: where the
    /// key's records are, else the topic's partitioner); `produce_keyed` uses
    /// Kafka's murmur2. Must be at least 1.
    pub partitions: u32,
}
