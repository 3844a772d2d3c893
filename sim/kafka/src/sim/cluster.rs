//! The simulated Kafka cluster: one broker's worth of Kafka's rules, kept outside
//! every simulated node (as a disk would be), and the faults a seed drives.
//!
//! Rules kept: a produce lands on the partition it names; offsets are dense and
//! never reused; retention deletes the oldest records and moves the log start; a
//! read below the start or past the end is out of range; every topic has an id,
//! and a topic deleted and created again gets a new one; the high watermark is the
//! next offset.
//!
//! Faults: the broker restarts (unreachable for a while; the log survives; the
//! producer ids it knew are forgotten, so old producers are fenced); a client is
//! cut off from it (by `client.id`); fetch answers are slow or lost; produce
//! acknowledgements are lost (the record is written, the producer times out).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::KafkaError;
use super::message::{OwnedMessage, StoredRecord};
use super::metadata::{Metadata, MetadataBroker, MetadataPartition, MetadataTopic};
use super::types::RDKafkaErrorCode;

/// How the cluster behaves when nothing goes wrong.
#[derive(Debug, Clone)]
pub struct SimClusterConfig {
    /// Seeds every random choice the cluster makes (latencies, lost answers, ids).
    pub seed: u64,
    /// Records kept per partition; older ones are deleted, moving the log start.
    pub retention_records_max: usize,
    /// A fetch answer takes 1..=this many ms.
    pub fetch_latency_ms_max: u64,
    /// Records one fetch answer carries per partition at most.
    pub fetch_records_max: usize,
    /// After a restart the broker has forgotten the producer ids it issued:
    /// producers created before it get `OutOfOrderSequenceNumber` until replaced.
    pub fence_producers_on_restart: bool,
}

impl Default for SimClusterConfig {
    fn default() -> Self {
        SimClusterConfig {
            seed: 0,
            retention_records_max: usize::MAX,
            fetch_latency_ms_max: 5,
            fetch_records_max: 500,
            fence_producers_on_restart: false,
        }
    }
}

/// Faults switched on and off while the cluster runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Each fetch answer is delayed by up to this many ms more.
    pub fetch_delay_ms_max: u64,
    /// Fetch answers lost per 1000: the client waits its request timeout.
    pub fetch_loss_per_mille: u32,
    /// Produce acknowledgements lost per 1000: the record is written, but the
    /// producer hears nothing and reports `MessageTimedOut` at its message timeout.
    pub produce_ack_loss_per_mille: u32,
}

/// Called with every record appended: `(topic, topic id, partition, record)`.
pub type AppendHook = Box<dyn FnMut(&str, u64, u32, &StoredRecord) + Send>;

/// A handle on one simulated cluster; clones share it.
#[derive(Clone)]
pub struct SimCluster {
    state: Arc<Mutex<State>>,
}

struct State {
    config: SimClusterConfig,
    topics: BTreeMap<String, SimTopic>,
    up: bool,
    /// Bumped by every restart; producers remember the one they were made in.
    generation: u64,
    cut: BTreeSet<String>,
    faults: Faults,
    rng: ChaCha8Rng,
    appended: Option<AppendHook>,
}

struct SimTopic {
    id: u64,
    partitions: Vec<SimPartition>,
}

#[derive(Default)]
struct SimPartition {
    start: u64,
    records: VecDeque<Arc<StoredRecord>>,
}

impl SimPartition {
    fn end(&self) -> u64 {
        self.start + self.records.len() as u64
    }
}

thread_local! {
    /// Clusters by `bootstrap.servers`. A madsim runtime runs on one thread, so
    /// each seed sees only its own.
    static CLUSTERS: RefCell<HashMap<String, SimCluster>> = RefCell::new(HashMap::new());
}

/// What a fetch of one partition found.
pub(crate) enum Read {
    /// Records from the asked offset on (maybe none), and the high watermark.
    Records(Vec<Arc<StoredRecord>>, u64),
    /// The offset is below the log start or past its end.
    OutOfRange,
    UnknownPartition,
}

/// Why a produce did not land.
pub(crate) enum NotWritten {
    /// The broker is down or cut off: the producer retries.
    Unreachable,
    Refused(RDKafkaErrorCode),
}

/// How the next fetch answer goes.
pub(crate) struct FetchDraw {
    pub delay: Duration,
    pub lost: bool,
}

impl SimCluster {
    /// Starts a cluster that clients configured with `bootstrap.servers = servers`
    /// reach.
    pub fn start(servers: &str, config: SimClusterConfig) -> SimCluster {
        let cluster = SimCluster {
            state: Arc::new(Mutex::new(State {
                rng: ChaCha8Rng::seed_from_u64(config.seed),
                config,
                topics: BTreeMap::new(),
                up: true,
                generation: 0,
                cut: BTreeSet::new(),
                faults: Faults::default(),
                appended: None,
            })),
        };
        CLUSTERS.with(|c| c.borrow_mut().insert(servers.to_owned(), cluster.clone()));
        cluster
    }

    pub(crate) fn lookup(servers: &str) -> Option<SimCluster> {
        CLUSTERS.with(|c| c.borrow().get(servers).cloned())
    }

    /// Creates `name` with a new id; returns the id, or `None` if it exists.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Option<u64> {
        let mut state = self.lock();
        if state.topics.contains_key(name) || partitions == 0 {
            return None;
        }
        let id = state.rng.random_range(1..u64::MAX);
        let partitions = (0..partitions).map(|_| SimPartition::default()).collect();
        state
            .topics
            .insert(name.to_owned(), SimTopic { id, partitions });
        Some(id)
    }

    /// Deletes `name` and its records.
    pub fn delete_topic(&self, name: &str) -> bool {
        self.lock().topics.remove(name).is_some()
    }

    /// The broker process stops: every request fails until [`Self::restarted`].
    pub fn crashed(&self) {
        self.lock().up = false;
    }

    /// The broker is back, with its log; producer ids from before are forgotten.
    pub fn restarted(&self) {
        let mut state = self.lock();
        if !state.up {
            state.up = true;
            state.generation += 1;
        }
    }

    /// Cuts the client named `client_id` off from the broker, or heals the cut.
    pub fn set_cut(&self, client_id: &str, cut: bool) {
        let mut state = self.lock();
        if cut {
            state.cut.insert(client_id.to_owned());
        } else {
            state.cut.remove(client_id);
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Calls `hook` with every record appended from now on.
    pub fn on_append(&self, hook: AppendHook) {
        self.lock().appended = Some(hook);
    }

    /// The first retained offset of a partition.
    pub fn log_start(&self, topic: &str, partition: u32) -> Option<u64> {
        let state = self.lock();
        Some(state.partition(topic, partition)?.start)
    }

    pub(crate) fn reachable(&self, client_id: &str) -> bool {
        self.lock().reachable(client_id)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub(crate) fn watermarks(
        &self,
        client_id: &str,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), KafkaError> {
        self.offset_request(client_id, topic, partition, |log| {
            (log.start as i64, log.end() as i64)
        })
    }

    /// An offset request (ListOffsets) about one partition, answered by `answer`.
    fn offset_request<T>(
        &self,
        client_id: &str,
        topic: &str,
        partition: i32,
        answer: impl FnOnce(&SimPartition) -> T,
    ) -> Result<T, KafkaError> {
        let state = self.lock();
        if !state.reachable(client_id) {
            return Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OperationTimedOut));
        }
        let log = u32::try_from(partition)
            .ok()
            .and_then(|p| state.partition(topic, p))
            .ok_or(KafkaError::OffsetFetch(
                RDKafkaErrorCode::UnknownTopicOrPartition,
            ))?;
        Ok(answer(log))
    }

    pub(crate) fn metadata(
        &self,
        client_id: &str,
        topic: Option<&str>,
    ) -> Result<Metadata, KafkaError> {
        let state = self.lock();
        if !state.reachable(client_id) {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let topics = state
            .topics
            .iter()
            .filter(|(name, _)| topic.is_none_or(|t| t == name.as_str()))
            .map(|(name, t)| MetadataTopic {
                name: name.clone(),
                partitions: (0..t.partitions.len() as i32)
                    .map(|id| MetadataPartition { id })
                    .collect(),
                error: None,
            })
            .collect::<Vec<_>>();
        let mut topics = topics;
        if let Some(asked) = topic.filter(|t| !state.topics.contains_key(*t)) {
            topics.push(MetadataTopic {
                name: asked.to_owned(),
                partitions: Vec::new(),
                error: Some(RDKafkaErrorCode::UnknownTopicOrPartition),
            });
        }
        Ok(Metadata {
            orig_broker_id: 0,
            brokers: vec![MetadataBroker { id: 0 }],
            topics,
        })
    }

    pub(crate) fn topic_ids(
        &self,
        client_id: &str,
        topics: &[String],
    ) -> Result<HashMap<String, Option<u64>>, String> {
        let state = self.lock();
        if !state.reachable(client_id) {
            return Err("DescribeTopics timed out (simulated broker unreachable)".into());
        }
        Ok(topics
            .iter()
            .map(|t| (t.clone(), state.topics.get(t).map(|t| t.id)))
            .collect())
    }

    /// The first offset at or after `since_ms` per partition, `None` past the end.
    pub(crate) fn offset_for_time(
        &self,
        client_id: &str,
        topic: &str,
        partition: i32,
        since_ms: i64,
    ) -> Result<Option<u64>, KafkaError> {
        self.offset_request(client_id, topic, partition, |log| {
            log.records
                .iter()
                .find(|r| r.timestamp_ms >= since_ms)
                .map(|r| r.offset as u64)
        })
    }

    /// Reads a partition from `from` (the caller checked reachability).
    pub(crate) fn read(&self, topic: &str, partition: i32, from: u64) -> Read {
        let state = self.lock();
        let Some(log) = u32::try_from(partition)
            .ok()
            .and_then(|p| state.partition(topic, p))
        else {
            return Read::UnknownPartition;
        };
        if from < log.start || from > log.end() {
            return Read::OutOfRange;
        }
        let skip = (from - log.start) as usize;
        let records = log
            .records
            .iter()
            .skip(skip)
            .take(state.config.fetch_records_max.max(1))
            .cloned()
            .collect();
        Read::Records(records, log.end())
    }

    /// Where `topic`/`partition` starts and ends, for resolving `Beginning`/`End`.
    pub(crate) fn bounds(&self, topic: &str, partition: i32) -> Option<(u64, u64)> {
        let state = self.lock();
        let log = state.partition(topic, u32::try_from(partition).ok()?)?;
        Some((log.start, log.end()))
    }

    /// Draws how the next fetch answer to `client_id` goes.
    pub(crate) fn draw_fetch(&self) -> FetchDraw {
        let mut state = self.lock();
        let faults = state.faults;
        let latency_max = state.config.fetch_latency_ms_max.max(1);
        let mut delay_ms = state.rng.random_range(1..=latency_max);
        if faults.fetch_delay_ms_max > 0 {
            delay_ms += state.rng.random_range(0..=faults.fetch_delay_ms_max);
        }
        let lost = faults.fetch_loss_per_mille > 0
            && state.rng.random_range(0..1000) < faults.fetch_loss_per_mille;
        FetchDraw {
            delay: Duration::from_millis(delay_ms),
            lost,
        }
    }

    /// A produce from `client_id`'s producer made in `generation`. `Ok` holds the
    /// offset and whether the acknowledgement is lost on the way back.
    pub(crate) fn produce(
        &self,
        client_id: &str,
        generation: u64,
        message: &OwnedMessage,
    ) -> Result<(u64, bool), NotWritten> {
        let mut state = self.lock();
        if !state.reachable(client_id) {
            return Err(NotWritten::Unreachable);
        }
        if state.config.fence_producers_on_restart && generation < state.generation {
            return Err(NotWritten::Refused(
                RDKafkaErrorCode::OutOfOrderSequenceNumber,
            ));
        }
        let offset = state.append(message).map_err(NotWritten::Refused)?;
        let loss = state.faults.produce_ack_loss_per_mille;
        let ack_lost = loss > 0 && state.rng.random_range(0..1000) < loss;
        Ok((offset, ack_lost))
    }

    /// Draws a duration in `0..=max_ms` from the cluster's generator.
    pub(crate) fn draw_ms(&self, max_ms: u64) -> Duration {
        Duration::from_millis(self.lock().rng.random_range(0..=max_ms))
    }

    /// Creates a topic for an admin request; `TopicAlreadyExists` if it does.
    pub(crate) fn admin_create(
        &self,
        client_id: &str,
        name: &str,
        partitions: u32,
    ) -> Result<(), RDKafkaErrorCode> {
        if !self.reachable(client_id) {
            return Err(RDKafkaErrorCode::OperationTimedOut);
        }
        match self.create_topic(name, partitions.max(1)) {
            Some(_) => Ok(()),
            None => Err(RDKafkaErrorCode::TopicAlreadyExists),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn reachable(&self, client_id: &str) -> bool {
        self.up && !self.cut.contains(client_id)
    }

    fn partition(&self, topic: &str, partition: u32) -> Option<&SimPartition> {
        self.topics.get(topic)?.partitions.get(partition as usize)
    }

    fn append(&mut self, message: &OwnedMessage) -> Result<u64, RDKafkaErrorCode> {
        let retention = self.config.retention_records_max.max(1);
        let topic = self
            .topics
            .get_mut(&message.topic)
            .ok_or(RDKafkaErrorCode::UnknownTopicOrPartition)?;
        let topic_id = topic.id;
        let partition_index =
            u32::try_from(message.partition).map_err(|_| RDKafkaErrorCode::UnknownPartition)?;
        let partition = topic
            .partitions
            .get_mut(partition_index as usize)
            .ok_or(RDKafkaErrorCode::UnknownPartition)?;
        let offset = partition.end();
        let record = Arc::new(StoredRecord {
            offset: offset as i64,
            key: message.key.clone(),
            payload: message.payload.clone(),
            headers: message.headers.clone(),
            timestamp_ms: now_ms(),
        });
        partition.records.push_back(record.clone());
        while partition.records.len() > retention {
            partition.records.pop_front();
            partition.start += 1;
        }
        if let Some(hook) = &mut self.appended {
            hook(&message.topic, topic_id, partition_index, &record);
        }
        Ok(offset)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}
