//! Where records go, as one owned part: the topics and partitions the broker
//! announced and how far this gateway has read each, what is exposed, who is
//! subscribed to each subject, the snapshot and message caches, and where each
//! subject's records are (the key → partition memory).
//!
//! Everything here is about subjects and logs, nothing about one client's queue:
//! the gateway asks it where a subject is, applies broker records and topic
//! metadata to it ([`apply`]), and reads what the Portal shows from it.

mod apply;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::exposure::Exposure;
use crate::broker::Epoch;
use crate::cache::{MessageCache, SnapshotCache, SubjectPartitions};
use crate::config::GatewayConfig;
use crate::ids::ClientId;
use crate::protocol::{HeaderBounds, Message, ResumePoint};
use crate::stats::GatewayStats;
use crate::subject::Subject;

pub(super) use apply::Routed;

/// One partition of an exposed topic, as far as this gateway has read it.
#[derive(Debug, Clone)]
pub(super) struct PartitionState {
    pub epoch: Epoch,
    /// The next offset expected from the broker; everything below was processed.
    pub next_offset: u64,
    /// Where this gateway began reading the log (the log start, or a bootstrap
    /// window's): it knows nothing of the records below.
    read_from: u64,
}

#[derive(Debug, Clone, Default)]
struct TopicState {
    partitions: Vec<PartitionState>,
}

#[derive(Debug)]
pub(super) struct Routing {
    topics: BTreeMap<Arc<str>, TopicState>,
    exposure: Exposure,
    /// Who is subscribed to each subject. Every subscription to a subject shares
    /// this table's copy of its text, so routing finds each entry by pointer.
    subscribers: HashMap<Subject, BTreeSet<ClientId>>,
    snapshots: SnapshotCache,
    messages: MessageCache,
    /// The partition each subject's records are on (the key → partition memory).
    placements: SubjectPartitions,
    /// What of a record's headers its message keeps.
    header_bounds: HeaderBounds,
    /// Whether [`crate::BrokerEvent::CaughtUp`] has been applied.
    broker_caught_up: bool,
    counters: RecordCounters,
}

/// The record counters of [`GatewayStats`], counted where records are applied.
#[derive(Debug, Default, Clone)]
struct RecordCounters {
    records_in_total: u64,
    record_bytes_in_total: u64,
    records_redelivered_total: u64,
    records_unroutable_total: u64,
    subject_partition_moves_total: u64,
}

impl Routing {
    pub fn new(config: &GatewayConfig) -> Self {
        Routing {
            topics: BTreeMap::new(),
            exposure: Exposure::new(config),
            subscribers: HashMap::new(),
            snapshots: SnapshotCache::new(config.snapshot_cache_bytes_max),
            messages: MessageCache::new(
                config.message_cache_bytes_max,
                config.message_cache_messages_per_subject_max,
                config.message_cache_bytes_per_subject_max,
            ),
            placements: SubjectPartitions::new(config.subject_partitions_bytes_max),
            header_bounds: config.header_bounds(),
            broker_caught_up: false,
            counters: RecordCounters::default(),
        }
    }

    pub fn header_bounds(&self) -> HeaderBounds {
        self.header_bounds
    }

    pub fn broker_caught_up(&self) -> bool {
        self.broker_caught_up
    }

    pub fn set_broker_caught_up(&mut self) {
        self.broker_caught_up = true;
    }

    pub fn exposure(&self) -> &Exposure {
        &self.exposure
    }

    pub fn exposure_mut(&mut self) -> &mut Exposure {
        &mut self.exposure
    }

    /// Whether clients may use `topic`: listed, or announced by the broker and
    /// matching an exposed pattern.
    pub fn is_exposed(&self, topic: &str) -> bool {
        self.exposure.is_listed(topic)
            || (self.topic_known(topic) && self.exposure.pattern_matches(topic))
    }

    /// Whether the broker has told this gateway about `topic`'s partitions yet.
    pub fn topic_known(&self, topic: &str) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|t| !t.partitions.is_empty())
    }

    /// The next offset this gateway expects per partition of `topic`.
    pub fn topic_positions(&self, topic: &str) -> Vec<(Epoch, u64)> {
        self.topics
            .get(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.epoch.clone(), p.next_offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The partition `subject` lives on and its state, if the topic's layout is known:
    /// where its records were last seen (the key → partition memory, else its
    /// snapshot's log), or, for a subject the gateway has no record of, where the
    /// topic's partitioner puts its key (null key: partition 0).
    pub fn current_partition(
        &self,
        config: &GatewayConfig,
        subject: &Subject,
    ) -> Option<(u32, &PartitionState)> {
        let topic = self.topics.get(subject.topic())?;
        let count = u32::try_from(topic.partitions.len()).ok()?;
        if count == 0 {
            return None;
        }
        let remembered = self
            .placements
            .get(subject)
            .map(|placement| placement.partition)
            .or_else(|| {
                // Forgotten for the bound, but its snapshot still says where it is.
                let epoch = self.snapshots.epoch_of(subject)?;
                let i = topic.partitions.iter().position(|p| &p.epoch == epoch)?;
                u32::try_from(i).ok()
            });
        let p = match remembered {
            Some(p) if p < count => p,
            _ => config
                .partitioner_of(subject.topic())
                .partition(subject.key().map(str::as_bytes), count),
        };
        Some((p, topic.partitions.get(p as usize)?))
    }

    /// The partition of `topic` whose log is `epoch`, if it is still a current one.
    pub fn partition_by_epoch(&self, topic: &str, epoch: &Epoch) -> Option<(u32, &PartitionState)> {
        let topic = self.topics.get(topic)?;
        let i = topic.partitions.iter().position(|p| &p.epoch == epoch)?;
        Some((u32::try_from(i).ok()?, &topic.partitions[i]))
    }

    /// Whether a resume from `point` can be exact: its epoch names a current partition
    /// of the topic, and every record of the subject after `point.seq` this gateway
    /// knows of is on that partition. That is so when the subject's records are there
    /// since at or before `point.seq`, or, for a subject the gateway has no record of,
    /// when it never forgot a subject of the topic and the position is not older
    /// than where it began reading (it saw every record since, none of them the
    /// subject's). A subject forgotten for the bound, or last seen before the
    /// gateway's bootstrap window, might have moved unseen: its resume is a `resync`.
    pub fn resumable(&self, subject: &Subject, point: &ResumePoint) -> bool {
        let Some((p, state)) = self.partition_by_epoch(subject.topic(), &point.epoch) else {
            return false;
        };
        if subject.key().is_none() && p != 0 {
            return false;
        }
        match self.placements.get(subject) {
            Some(placement) => placement.partition == p && point.seq >= placement.since,
            None => {
                !self.placements.forgot(subject.topic())
                    && point.seq.saturating_add(1) >= state.read_from
            }
        }
    }

    /// Whether the subject's records were never seen on another partition than the
    /// one they are on now: then none of them there is from an earlier stint, which
    /// the cache drops when a subject moves.
    pub fn never_moved(&self, subject: &Subject) -> bool {
        match self.placements.get(subject) {
            Some(placement) => placement.since == 0,
            None => !self.placements.forgot(subject.topic()),
        }
    }

    /// The gateway's next offset on log `epoch`, if that is still a log of the topic
    /// and the subject's records are not known to be on another partition.
    pub fn head_of(&self, subject: &Subject, epoch: &Epoch) -> Option<u64> {
        let (p, state) = self.partition_by_epoch(subject.topic(), epoch)?;
        match self.placements.get(subject) {
            Some(placement) if placement.partition != p => None,
            _ => Some(state.next_offset),
        }
    }

    /// Whether the cache holds every message of `subject` after `after` (`None`: all of
    /// them) that the gateway has read (`head` is its next offset).
    pub fn covers(&self, subject: &Subject, epoch: &Epoch, after: Option<u64>, head: u64) -> bool {
        let next = after.map_or(0, |a| a.saturating_add(1));
        next >= self.messages.covered_from(subject, epoch) || next >= head
    }

    /// Interest mode: the partition is no longer read. Its snapshots and cached
    /// messages would go stale, so they go; nothing below its position is cached.
    pub fn forget_partition(&mut self, topic: &str, partition: u32) {
        let Some(state) = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition as usize))
        else {
            return;
        };
        let (epoch, next) = (state.epoch.clone(), state.next_offset);
        self.snapshots.drop_epoch(&epoch);
        self.messages.drop_epoch(&epoch);
        self.messages.raise_floor(&epoch, next);
    }

    /// Interest mode: the partition is read anew from `start_offset` (the snapshot
    /// start point). What was kept of it goes; its records are applied from there.
    pub fn read_partition_from(&mut self, topic: &str, partition: u32, start_offset: u64) {
        if let Some(state) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        {
            state.next_offset = start_offset;
            state.read_from = start_offset;
            self.forget_partition(topic, partition);
        }
    }

    /// The announced topics and their partitions, by name.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &[PartitionState])> {
        self.topics
            .iter()
            .map(|(name, t)| (name.as_ref(), t.partitions.as_slice()))
    }

    /// The partitions of `topic`, if the broker announced it.
    pub fn partitions(&self, topic: &str) -> Option<&[PartitionState]> {
        self.topics.get(topic).map(|t| t.partitions.as_slice())
    }

    /// Every snapshot, by subject.
    pub fn snapshots(&self) -> impl Iterator<Item = (&Subject, &Message)> {
        self.snapshots.iter()
    }

    /// How many clients are subscribed to each subscribed subject.
    pub fn subscriber_counts(&self) -> impl Iterator<Item = (&Subject, u64)> {
        self.subscribers
            .iter()
            .map(|(subject, clients)| (subject, clients.len() as u64))
    }

    /// The subject's snapshot, if it has one.
    pub fn snapshot(&mut self, subject: &Subject) -> Option<Message> {
        self.snapshots.get(subject)
    }

    /// The recent messages per subject.
    pub fn messages(&self) -> &MessageCache {
        &self.messages
    }

    /// Adds `client` to `subject`'s subscribers; returns the routing table's copy of
    /// the subject, which the client's subscription must share, and whether it is
    /// the subject's first subscriber.
    pub fn add_subscriber(&mut self, subject: Subject, client: ClientId) -> (Subject, bool) {
        let (subject, first) = match self.subscribers.get_key_value(&subject) {
            Some((shared, _)) => (shared.clone(), false),
            None => (subject, true),
        };
        self.subscribers
            .entry(subject.clone())
            .or_default()
            .insert(client);
        (subject, first)
    }

    /// Removes `client` from `subject`'s subscribers; true if it was the last.
    pub fn remove_subscriber(&mut self, subject: &Subject, client: ClientId) -> bool {
        let Some(set) = self.subscribers.get_mut(subject) else {
            return false;
        };
        set.remove(&client);
        if set.is_empty() {
            self.subscribers.remove(subject);
            return true;
        }
        false
    }

    /// The subscribers of `subject`, in id order.
    pub fn subscribers_of(&self, subject: &Subject) -> Vec<ClientId> {
        self.subscribers
            .get(subject)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Fills in the counters and gauges this part owns.
    pub fn add_stats(&self, stats: &mut GatewayStats) {
        stats.subjects_subscribed = self.subscribers.len() as u64;
        stats.snapshot_cache_bytes = self.snapshots.bytes() as u64;
        stats.snapshot_cache_entries = self.snapshots.len() as u64;
        stats.snapshot_cache_evictions_total = self.snapshots.evictions_total();
        stats.message_cache_bytes = self.messages.bytes() as u64;
        stats.message_cache_messages = self.messages.messages() as u64;
        stats.message_cache_evictions_total = self.messages.evictions_total();
        stats.subject_partitions = self.placements.len() as u64;
        stats.subject_partitions_bytes = self.placements.bytes() as u64;
        stats.subject_partitions_evictions_total = self.placements.evictions_total();
        let counters = &self.counters;
        stats.records_in_total = counters.records_in_total;
        stats.record_bytes_in_total = counters.record_bytes_in_total;
        stats.records_redelivered_total = counters.records_redelivered_total;
        stats.records_unroutable_total = counters.records_unroutable_total;
        stats.subject_partition_moves_total = counters.subject_partition_moves_total;
    }
}
