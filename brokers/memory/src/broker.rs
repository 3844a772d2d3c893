//! The broker handle: topics, produce, fetch, and the switch that simulates outages.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_core::partitioner::partition_for_key;
use sluice_core::subject::is_valid_topic;
use sluice_core::PartitionMeta;
use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, Fetched, Header};
use tokio::sync::{mpsc, watch};

use crate::config::MemoryBrokerConfig;
use crate::data_dir::{DataDir, FsyncPolicy, TopicFile};
use crate::log::{PartitionLog, Retention, Visibility};
use crate::partition_files::PartitionFiles;
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

/// What the embedded broker holds, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogStats {
    /// Records held, over every partition.
    pub records: u64,
    /// Key plus payload bytes held (each partition bounded by `retention_bytes_max`).
    pub records_bytes: u64,
    /// Segment files on disk (0 with the log in memory only).
    pub segments: u64,
    pub syncs_total: u64,
    pub sync_seconds_total: f64,
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

    /// Loads every topic of the data directory, with the epochs it had.
    fn restore_topics(&self) -> Result<(), TopicError> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(());
        };
        let storage_error = |err: std::io::Error| TopicError::Storage(err.to_string());
        for mut file in dir.topics().map_err(storage_error)? {
            let name: Arc<str> = Arc::from(file.name.as_str());
            let mut logs = Vec::new();
            let mut epochs_changed = false;
            for (partition, epoch) in (0u32..).zip(file.epochs.iter_mut()) {
                let recovered = PartitionFiles::recover(
                    dir.storage.clone(),
                    &dir.partition_dir(&file.name, partition),
                    &name,
                    partition,
                    dir.config.segment_bytes_max,
                )
                .map_err(storage_error)?;
                if recovered.lost_inside || dir.epochs_reset {
                    *epoch = format!("{}-{partition}", fresh_incarnation(None));
                    epochs_changed = true;
                }
                tracing::info!(
                    topic = %name,
                    partition,
                    records = recovered.records.len(),
                    next_offset = recovered.next_offset,
                    truncated_bytes = recovered.truncated_bytes,
                    "embedded log: partition recovered"
                );
                let log = PartitionLog::recovered(
                    Epoch::new(epoch.clone()),
                    recovered,
                    self.retention(),
                    now_ms(),
                )
                .map_err(storage_error)?;
                logs.push(log);
            }
            if epochs_changed {
                dir.write_topic(&file).map_err(storage_error)?;
            }
            let mut state = self.lock();
            let generation = state.generation_next;
            state.generation_next += 1;
            state
                .topics
                .insert(name.clone(), Topic::new(name, logs, generation));
        }
        Ok(())
    }

    /// The thread that syncs on an interval and drops records past their age.
    fn start_background(&self) {
        let period = match self.fsync() {
            Some(FsyncPolicy::Interval(interval)) => interval,
            _ if self.shared.config.retention_ms.is_some() => Duration::from_secs(1),
            _ => return,
        };
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("sluice-log-sync".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                let broker = MemoryBroker { shared };
                if matches!(broker.fsync(), Some(FsyncPolicy::Interval(_))) {
                    // A failure is logged and stops writes; nothing else to do here.
                    let _ = broker.sync();
                }
                broker.expire();
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "embedded log: cannot start the sync thread");
        }
    }

    /// The fsync policy of a durable broker.
    pub fn fsync(&self) -> Option<FsyncPolicy> {
        self.shared.data_dir.as_ref().map(|dir| dir.config.fsync)
    }

    /// True when produces must wait for [`Self::sync`] before they are answered.
    pub fn acks_after_sync(&self) -> bool {
        self.fsync().is_some_and(FsyncPolicy::acks_after_sync)
    }

    /// Makes every record appended so far durable, then visible. Blocks for the
    /// syncs, outside the broker's lock; call it off the async threads. A failed
    /// sync stops the broker taking writes: after an fsync error the kernel may
    /// have dropped the data, so nothing written since can be vouched for.
    pub fn sync(&self) -> Result<(), BrokerError> {
        if self.shared.data_dir.is_none() {
            return Ok(());
        }
        let _serial = self
            .shared
            .sync_serial
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending: Vec<_> =
            {
                let mut state = self.lock();
                state
                    .topics
                    .values_mut()
                    .flat_map(|topic| {
                        let (name, generation) = (topic.name.clone(), topic.generation);
                        topic.partitions.iter_mut().zip(0u32..).filter_map(
                            move |(log, partition)| {
                                let (files, end) = log.take_unsynced()?;
                                Some((name.clone(), generation, partition, files, end))
                            },
                        )
                    })
                    .collect()
            };
        if pending.is_empty() {
            return Ok(());
        }
        for (topic, _, partition, files, _) in &pending {
            for file in files {
                let started = Instant::now();
                let synced = file.sync();
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.shared.syncs_total.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .sync_micros_total
                    .fetch_add(micros, Ordering::Relaxed);
                if let Err(err) = synced {
                    tracing::error!(%topic, partition, %err, "embedded log: fsync failed; the broker stops taking writes");
                    self.set_available(false);
                    return Err(BrokerError::Unavailable(format!(
                        "the embedded log could not sync: {err}"
                    )));
                }
            }
        }
        {
            let mut state = self.lock();
            for (topic, generation, partition, _, end) in pending {
                let Some(topic) = state.topics.get_mut(&topic) else {
                    continue;
                };
                if topic.generation != generation {
                    continue;
                }
                if let Some(log) = topic.partition_mut(partition) {
                    log.expose_to(end);
                }
            }
        }
        self.notify();
        Ok(())
    }

    /// What the log holds and how often it synced.
    pub fn log_stats(&self) -> LogStats {
        let mut stats = LogStats {
            syncs_total: self.shared.syncs_total.load(Ordering::Relaxed),
            sync_seconds_total: self.shared.sync_micros_total.load(Ordering::Relaxed) as f64 / 1e6,
            ..LogStats::default()
        };
        let state = self.lock();
        for log in state
            .topics
            .values()
            .flat_map(|topic| topic.partitions.iter())
        {
            stats.records += log.records_len() as u64;
            stats.records_bytes += log.records_bytes() as u64;
            stats.segments += log.segment_count().unwrap_or(0) as u64;
        }
        stats
    }

    /// Drops records older than the retention age.
    fn expire(&self) {
        if self.shared.config.retention_ms.is_none() {
            return;
        }
        let retention = self.retention();
        let now = now_ms();
        let mut state = self.lock();
        for log in state
            .topics
            .values_mut()
            .flat_map(|topic| topic.partitions.iter_mut())
        {
            if let Err(err) = log.enforce(retention, now) {
                tracing::warn!(%err, "embedded log: could not delete a segment retention dropped");
            }
        }
        drop(state);
        self.notify();
    }

    /// Syncs everything and records a clean stop, so the next start trusts the
    /// log whatever the fsync policy. Call before the process exits.
    pub fn close(&self) {
        let Some(dir) = &self.shared.data_dir else {
            return;
        };
        // Everything is written out, whatever the policy, before `clean` is set.
        let synced = self.sync();
        match synced
            .map_err(|err| err.to_string())
            .and_then(|()| dir.mark_clean().map_err(|err| err.to_string()))
        {
            Ok(()) => {
                tracing::info!(data_dir = %dir.config.data_dir.display(), "embedded log: synced and closed")
            }
            Err(err) => tracing::error!(%err, "embedded log: could not close cleanly"),
        }
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

    /// The logs of a new topic: in memory, or in fresh files with the topic's
    /// epochs written before any record.
    fn new_partition_logs(
        &self,
        name: &Arc<str>,
        epochs: Vec<Epoch>,
    ) -> Result<Vec<PartitionLog>, TopicError> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(epochs.into_iter().map(PartitionLog::new).collect());
        };
        let storage_error =
            |err: std::io::Error| TopicError::Storage(format!("topic {name:?}: {err}"));
        // A directory left by a topic deleted while the process died goes first.
        dir.remove_topic(name).map_err(storage_error)?;
        dir.write_topic(&TopicFile {
            name: name.to_string(),
            epochs: epochs
                .iter()
                .map(|epoch| epoch.as_str().to_owned())
                .collect(),
        })
        .map_err(storage_error)?;
        epochs
            .into_iter()
            .zip(0u32..)
            .map(|(epoch, partition)| {
                let recovered = PartitionFiles::recover(
                    dir.storage.clone(),
                    &dir.partition_dir(name, partition),
                    name,
                    partition,
                    dir.config.segment_bytes_max,
                )
                .map_err(storage_error)?;
                PartitionLog::recovered(epoch, recovered, self.retention(), now_ms())
                    .map_err(storage_error)
            })
            .collect()
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
