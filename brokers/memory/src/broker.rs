//! The broker handle: topics, produce, fetch, and the switch that simulates outages.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_core::partitioner::partition_for_key;
use sluice_core::subject::is_valid_topic;
use sluice_core::PartitionMeta;
use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, Fetched, Header};
use tokio::sync::{mpsc, watch};

use crate::config::MemoryBrokerConfig;
use crate::log::Retention;
use crate::session;
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
    /// A broker holding the topics of `config`, empty and available.
    pub fn new(config: MemoryBrokerConfig) -> Result<Self, TopicError> {
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
            }),
        };
        for topic in &broker.shared.config.topics {
            broker.create_topic(&topic.name, topic.partitions)?;
        }
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
            let topic = Topic::new(name.clone(), partitions, &incarnation, generation);
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
        let deleted = self.lock().topics.remove(name).is_some();
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
            };
            let log = topic
                .partition_mut(partition)
                .ok_or(BrokerError::UnknownTopic)?;
            log.append(record, retention)?
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
    pub fn fetch(
        &self,
        topic: &str,
        partition: u32,
        epoch: &Epoch,
        key: Option<&[u8]>,
        from_offset: u64,
        to_offset: u64,
    ) -> Result<Fetched, BrokerError> {
        let state = self.lock();
        state.check_available()?;
        let log = state
            .topics
            .get(topic)
            .and_then(|t| t.partition(partition))
            .ok_or(BrokerError::UnknownTopic)?;
        log.fetch(
            epoch,
            key,
            from_offset,
            to_offset,
            self.shared.config.fetch_records_max,
        )
    }

    /// The offset the next record of the partition will get.
    pub fn high_watermark(&self, topic: &str, partition: u32) -> Option<u64> {
        let state = self.lock();
        let log = state.topics.get(topic)?.partition(partition)?;
        Some(log.next_offset())
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
