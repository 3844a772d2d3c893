//! The broker handle: topics, produce, fetch, and the switch that simulates outages.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_core::partitioner::partition_for_key;
use sluice_core::subject::is_valid_topic;
use sluice_core::PartitionMeta;
use sluice_core::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, FetchRequest, Fetched, Header,
};
use tokio::sync::{mpsc, watch};

mod durable;

pub use durable::LogStats;

use crate::config::MemoryBrokerConfig;
use crate::data_dir::DataDir;
use crate::log::{Retention, Visibility};
use crate::session;
use crate::storage::{DiskStorage, Storage};
use crate::topic::{Topic, TopicError};

/// An embedded, in-memory stand-in for Kafka. Cloning is cheap and every clone
/// sees the same topics; gateways attach with [`MemoryBroker::connect`].
#[derive(Clone)]
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

struct Shared {
    config: MemoryBrokerConfig,
    state: Mutex<State>,
    /// Bumped after every change sessions may care about (records, topics,
    /// availability), so idle sessions sleep until there is something to send.
    changed: watch::Sender<u64>,
    /// The files of a durable broker; `None` keeps everything in memory only.
    data_dir: Option<DataDir>,
    /// One sync at a time: a produce whose record another sync is writing out
    /// waits for that sync instead of being acknowledged before it ends.
    sync_serial: Mutex<()>,
    /// File syncs done, and the time they took, for the metrics.
    syncs_total: AtomicU64,
    sync_micros_total: AtomicU64,
}

/// What the lock guards. Never held across an `.await`.
pub(crate) struct State {
    pub topics: BTreeMap<Arc<str>, Topic>,
    pub available: bool,
    generation_next: u64,
    /// The last incarnation each name had, so a recreated topic never repeats it.
    incarnations_last: BTreeMap<Arc<str>, String>,
}

impl MemoryBroker {
    /// A broker holding the topics of `config`, and available. With
    /// `config.durable` it keeps its log in files under the data directory and
    /// starts with what they hold; otherwise it starts empty.
    pub fn new(config: MemoryBrokerConfig) -> Result<Self, TopicError> {
        Self::open(config, Arc::new(DiskStorage), true)
    }

    /// [`Self::new`] on the given storage: the tests' [`crate::SimulatedDisk`].
    pub fn with_storage(
        config: MemoryBrokerConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<Self, TopicError> {
        Self::open(config, storage, false)
    }

    fn open(
        config: MemoryBrokerConfig,
        storage: Arc<dyn Storage>,
        real_files: bool,
    ) -> Result<Self, TopicError> {
        let data_dir = match &config.durable {
            Some(durable) => Some(DataDir::open(storage, durable.clone(), real_files).map_err(
                |err| {
                    TopicError::Storage(format!(
                        "cannot open the data directory {}: {err}",
                        durable.data_dir.display()
                    ))
                },
            )?),
            None => None,
        };
        let broker = MemoryBroker {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    topics: BTreeMap::new(),
                    available: true,
                    generation_next: 0,
                    incarnations_last: BTreeMap::new(),
                }),
                changed: watch::Sender::new(0),
                config,
                data_dir,
                sync_serial: Mutex::new(()),
                syncs_total: AtomicU64::new(0),
                sync_micros_total: AtomicU64::new(0),
            }),
        };
        broker.restore_topics()?;
        for topic in &broker.shared.config.topics {
            match broker.create_topic(&topic.name, topic.partitions) {
                Err(TopicError::AlreadyExists(_)) if broker.shared.data_dir.is_some() => {
                    let kept = broker
                        .lock()
                        .topics
                        .get(topic.name.as_str())
                        .map(Topic::partition_count);
                    if kept != Some(topic.partitions) {
                        tracing::warn!(topic = %topic.name, ?kept, configured = topic.partitions, "embedded log: the topic on disk keeps its partition count");
                    }
                }
                other => other?,
            }
        }
        broker.start_background();
        Ok(broker)
    }

    /// The sizing this broker was started with.
    pub fn config(&self) -> &MemoryBrokerConfig {
        &self.shared.config
    }

    /// Creates `name` with a fresh incarnation, so its epochs differ from any
    /// earlier topic of that name. Connected sessions announce it.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<(), TopicError> {
        self.create_topic_incarnation(name, partitions, None)
    }

    /// Creates `name` with the given incarnation, as a broker restoring a persisted
    /// log does (the simulator's durable log server after a restart): its epochs are
    /// the ones the topic had before, so resume points stay valid.
    pub fn restore_topic(
        &self,
        name: &str,
        partitions: u32,
        incarnation: &str,
    ) -> Result<(), TopicError> {
        self.create_topic_incarnation(name, partitions, Some(incarnation))
    }

    fn create_topic_incarnation(
        &self,
        name: &str,
        partitions: u32,
        incarnation: Option<&str>,
    ) -> Result<(), TopicError> {
        if !is_valid_topic(name) {
            return Err(TopicError::InvalidName(name.to_owned()));
        }
        if partitions == 0 {
            return Err(TopicError::NoPartitions(name.to_owned()));
        }
        {
            let mut state = self.lock();
            if state.topics.contains_key(name) {
                return Err(TopicError::AlreadyExists(name.to_owned()));
            }
            let name: Arc<str> = Arc::from(name);
            let incarnation = match incarnation {
                Some(given) => given.to_owned(),
                None => fresh_incarnation(state.incarnations_last.get(&name)),
            };
            let generation = state.generation_next;
            state.generation_next += 1;
            let epochs = Topic::epochs(partitions, &incarnation);
            let logs = self.new_partition_logs(&name, epochs)?;
            let topic = Topic::new(name.clone(), logs, generation);
            tracing::debug!(topic = %name, partitions, incarnation, "memory broker: topic created");
            state.incarnations_last.insert(name.clone(), incarnation);
            state.topics.insert(name, topic);
        }
        self.notify();
        Ok(())
    }

    /// Deletes `name` and its records; `false` if there was no such topic.
    /// Connected sessions announce it with empty partitions.
    pub fn delete_topic(&self, name: &str) -> bool {
        let deleted = {
            let mut state = self.lock();
            let deleted = state.topics.remove(name).is_some();
            if let (true, Some(dir)) = (deleted, &self.shared.data_dir) {
                if let Err(err) = dir.remove_topic(name) {
                    tracing::error!(topic = name, %err, "embedded log: could not remove a deleted topic's files");
                }
            }
            deleted
        };
        if deleted {
            tracing::debug!(topic = name, "memory broker: topic deleted");
            self.notify();
        }
        deleted
    }

    /// Appends a record to `topic`/`partition` and returns its offset. A `None`
    /// payload writes a tombstone.
    pub fn produce(
        &self,
        topic: &str,
        partition: u32,
        key: Option<Bytes>,
        payload: Option<Bytes>,
        headers: Vec<Header>,
    ) -> Result<u64, BrokerError> {
        let timestamp_ms = now_ms();
        let retention = self.retention();
        let visibility = if self.acks_after_sync() {
            Visibility::AfterSync
        } else {
            Visibility::AtWrite
        };
        let offset = {
            let mut state = self.lock();
            state.check_available()?;
            let topic = state
                .topics
                .get_mut(topic)
                .ok_or(BrokerError::UnknownTopic)?;
            let record = BrokerRecord {
                topic: topic.name.clone(),
                partition,
                offset: 0,
                key,
                payload,
                headers: headers.into(),
                timestamp_ms,
                handed_over_unix_us: 0,
            };
            let log = topic
                .partition_mut(partition)
                .ok_or(BrokerError::UnknownTopic)?;
            log.append(record, retention, visibility)?
        };
        self.notify();
        Ok(offset)
    }

    /// Like [`Self::produce`], but picks the partition as a Kafka producer would
    /// (murmur2 of the key; null keys go to 0). Returns `(partition, offset)`.
    pub fn produce_keyed(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Option<Bytes>,
        headers: Vec<Header>,
    ) -> Result<(u32, u64), BrokerError> {
        let partition_count = self
            .lock()
            .topics
            .get(topic)
            .map(Topic::partition_count)
            .ok_or(BrokerError::UnknownTopic)?;
        let partition = partition_for_key(key.as_deref(), partition_count);
        // If the topic is recreated in between, the partition is still in range or
        // the produce reports `UnknownTopic`: never a wrong silent write.
        let offset = self.produce(topic, partition, key, payload, headers)?;
        Ok((partition, offset))
    }

    /// The partitions of `topic`, with `start_offset` the current log start.
    pub fn topic_meta(&self, topic: &str) -> Option<Vec<PartitionMeta>> {
        let state = self.lock();
        let topic = state.topics.get(topic)?;
        Some(topic.meta(topic.start_offsets()))
    }

    /// Up to `max` retained records of a partition from `from_offset` on (from the
    /// log start if older). An inspection tool: it works while unavailable too.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max: usize,
    ) -> Vec<BrokerRecord> {
        let state = self.lock();
        let Some(log) = state.topics.get(topic).and_then(|t| t.partition(partition)) else {
            return Vec::new();
        };
        log.records_from(from_offset).take(max).cloned().collect()
    }

    /// Answers a [`BrokerCommand::Fetch`] as documented there, examining at most
    /// `fetch_records_max` offsets per call.
    pub fn fetch(&self, request: &FetchRequest) -> Result<Fetched, BrokerError> {
        let state = self.lock();
        state.check_available()?;
        let log = state
            .topics
            .get(request.topic.as_ref())
            .and_then(|t| t.partition(request.partition))
            .ok_or(BrokerError::UnknownTopic)?;
        let from_offset = if request.from_log_start && request.epoch == *log.epoch() {
            request.from_offset.max(log.start_offset())
        } else {
            request.from_offset
        };
        log.fetch(
            &request.epoch,
            request.key.as_deref(),
            from_offset,
            request.to_offset,
            self.shared.config.fetch_records_max,
        )
    }

    /// The offset after the last record readers may see (with `fsync = always`,
    /// the last synced one).
    pub fn high_watermark(&self, topic: &str, partition: u32) -> Option<u64> {
        let state = self.lock();
        let log = state.topics.get(topic)?.partition(partition)?;
        Some(log.visible_end())
    }

    /// Segment files on disk for the partition, for a durable broker.
    pub fn segment_count(&self, topic: &str, partition: u32) -> Option<usize> {
        let state = self.lock();
        state
            .topics
            .get(topic)?
            .partition(partition)?
            .segment_count()
    }

    /// Simulates an outage: while unavailable, Produce and Fetch answer
    /// `Unavailable` and sessions stream nothing. Records are kept.
    pub fn set_available(&self, available: bool) {
        self.lock().available = available;
        tracing::debug!(available, "memory broker: availability changed");
        self.notify();
    }

    /// `false` while an outage is being simulated with [`Self::set_available`].
    pub fn is_available(&self) -> bool {
        self.lock().available
    }

    /// Starts a session for one gateway and returns its two ends.
    ///
    /// The session first sends a `TopicMeta` for every topic, then streams every
    /// retained record in offset order per partition, and answers commands. It ends
    /// when either end is dropped. Must be called within a tokio runtime.
    pub fn connect(&self) -> (mpsc::Sender<BrokerCommand>, mpsc::Receiver<BrokerEvent>) {
        session::spawn(self.clone(), self.shared.config.events_queue_max)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every change leaves the state valid (at worst a log briefly over its
        // retention), so a panic elsewhere need not poison the broker.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        self.shared
            .changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    fn retention(&self) -> Retention {
        Retention {
            records_max: self.shared.config.retention_records_max,
            bytes_max: self.shared.config.retention_bytes_max,
            age_ms_max: self.shared.config.retention_ms,
        }
    }
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryBroker")
            .field("topics", &state.topics.keys().collect::<Vec<_>>())
            .field("available", &state.available)
            .finish_non_exhaustive()
    }
}

impl State {
    fn check_available(&self) -> Result<(), BrokerError> {
        if self.available {
            Ok(())
        } else {
            Err(BrokerError::Unavailable(
                "memory broker is paused".to_owned(),
            ))
        }
    }
}

/// Eight random hex characters, different from `previous`.
fn fresh_incarnation(previous: Option<&String>) -> String {
    loop {
        let incarnation = format!("{:08x}", rand::random::<u32>());
        if previous != Some(&incarnation) {
            return incarnation;
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
