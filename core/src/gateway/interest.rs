//! Interest mode, as one owned part: which partitions this core's subscribers
//! need (docs/decisions/kafka-interest-based-consumption.md). A partition is
//! watched while some subscribed subject's key maps to it and for a grace period
//! after the last one goes; the broker reads only watched partitions. A start
//! (snapshot, history, resume) on a partition whose watch the broker has not
//! answered yet is parked here until [`crate::BrokerEvent::PartitionReady`]: a
//! snapshot is never served from a partition still being read.
//!
//! With read-everything mode (`grace_ms` `None`) nothing here does anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::broker::BrokerCommand;
use crate::ids::ClientId;
use crate::protocol::ResumePoint;
use crate::stats::GatewayStats;
use crate::subject::Subject;

/// What a subscription starts with.
#[derive(Debug, Clone)]
pub(super) enum Start {
    Snapshot,
    History { n: u32, end_marker: bool },
    Resume(ResumePoint),
}

/// A start waiting for its partition.
#[derive(Debug)]
pub(super) struct ParkedStart {
    pub client: ClientId,
    pub subject: Subject,
    pub start: Start,
}

/// This core's own watch of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    Unwatched,
    /// `Watch` sent, its `PartitionReady` not in yet: starts park.
    Warming,
    Watched,
    /// No subscribed subject maps here since; `Unwatch` is sent at `until_ms`
    /// unless one comes back. `None` until the input that released it is stamped.
    Releasing {
        until_ms: Option<u64>,
    },
}

#[derive(Debug)]
struct PartitionInterest {
    /// Subscribed subjects whose key maps to this partition.
    subjects: u32,
    watch: Watch,
    /// Whether records of it are applied: from `PartitionReading` until
    /// `PartitionReleased`. Other shards' watches may keep a partition read that
    /// this core does not watch; it applies those records too, so that a watch of
    /// its own is complete at once.
    reading: bool,
    parked: Vec<ParkedStart>,
}

impl PartitionInterest {
    fn new() -> Self {
        PartitionInterest {
            subjects: 0,
            watch: Watch::Unwatched,
            reading: false,
            parked: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Interest {
    /// `None`: read-everything mode.
    grace_ms: Option<u64>,
    partitions: BTreeMap<(Arc<str>, u32), PartitionInterest>,
    /// The partition each subscribed subject counts towards (its key's, when it
    /// was first subscribed).
    subjects: HashMap<Subject, u32>,
    /// Partitions released by the input being handled, their grace period not
    /// started yet ([`Interest::stamp_releases`]).
    unstamped: Vec<(Arc<str>, u32)>,
    /// When grace periods end: `(until_ms, partition)`. An entry whose partition
    /// was watched again meanwhile is skipped when it comes due.
    deadlines: BTreeSet<(u64, Arc<str>, u32)>,
    watches_total: u64,
    releases_total: u64,
}

impl Interest {
    pub fn new(grace_ms: Option<u64>) -> Self {
        Interest {
            grace_ms,
            ..Interest::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.grace_ms.is_some()
    }

    /// A subject got its first subscriber; its key maps to `partition`. Returns the
    /// `Watch` to send if this core did not watch the partition.
    pub fn subject_added(&mut self, subject: &Subject, partition: u32) -> Option<BrokerCommand> {
        self.grace_ms?;
        self.subjects.insert(subject.clone(), partition);
        let topic: Arc<str> = Arc::from(subject.topic());
        let state = self
            .partitions
            .entry((topic.clone(), partition))
            .or_insert_with(PartitionInterest::new);
        state.subjects += 1;
        match state.watch {
            Watch::Unwatched => {
                state.watch = Watch::Warming;
                self.watches_total += 1;
                Some(BrokerCommand::Watch { topic, partition })
            }
            Watch::Releasing { .. } => {
                state.watch = Watch::Watched;
                None
            }
            Watch::Warming | Watch::Watched => None,
        }
    }

    /// A subject lost its last subscriber: its partition starts its grace period
    /// if no other subscribed subject maps there.
    pub fn subject_removed(&mut self, subject: &Subject) {
        let Some(partition) = self.subjects.remove(subject) else {
            return;
        };
        let key = (Arc::from(subject.topic()), partition);
        let Some(state) = self.partitions.get_mut(&key) else {
            return;
        };
        state.subjects = state.subjects.saturating_sub(1);
        if state.subjects == 0 && state.watch == Watch::Watched {
            state.watch = Watch::Releasing { until_ms: None };
            self.unstamped.push(key);
        }
    }

    /// Whether starts on the partition must wait for it.
    pub fn warming(&self, topic: &str, partition: u32) -> bool {
        self.enabled()
            && self
                .partitions
                .get(&(Arc::from(topic), partition))
                .is_some_and(|p| p.watch == Watch::Warming)
    }

    /// Parks a start until the partition is ready; replaces one of the same
    /// subscription (a renewal).
    pub fn park(&mut self, topic: &str, partition: u32, parked: ParkedStart) {
        if let Some(state) = self.partitions.get_mut(&(Arc::from(topic), partition)) {
            state
                .parked
                .retain(|p| p.client != parked.client || p.subject != parked.subject);
            state.parked.push(parked);
        }
    }

    /// Forgets the parked start of `client`'s subscription to `subject`, if any.
    pub fn unpark(&mut self, client: ClientId, subject: &Subject) {
        let Some(&partition) = self.subjects.get(subject) else {
            return;
        };
        if let Some(state) = self
            .partitions
            .get_mut(&(Arc::from(subject.topic()), partition))
        {
            state
                .parked
                .retain(|p| p.client != client || &p.subject != subject);
        }
    }

    /// Whether records of the partition are applied. Always, in read-everything mode.
    pub fn applies(&self, topic: &Arc<str>, partition: u32) -> bool {
        !self.enabled()
            || self
                .partitions
                .get(&(topic.clone(), partition))
                .is_some_and(|p| p.reading)
    }

    pub fn on_reading(&mut self, topic: Arc<str>, partition: u32) {
        self.partitions
            .entry((topic, partition))
            .or_insert_with(PartitionInterest::new)
            .reading = true;
    }

    /// The broker answered this core's watch: returns the starts parked on it.
    pub fn on_ready(&mut self, topic: Arc<str>, partition: u32) -> Vec<ParkedStart> {
        let key = (topic, partition);
        let Some(state) = self.partitions.get_mut(&key) else {
            return Vec::new();
        };
        if state.watch != Watch::Warming {
            return Vec::new();
        }
        state.watch = match state.subjects {
            0 => Watch::Releasing { until_ms: None },
            _ => Watch::Watched,
        };
        let parked = std::mem::take(&mut state.parked);
        let released = state.subjects == 0;
        if released {
            self.unstamped.push(key);
        }
        parked
    }

    pub fn on_released(&mut self, topic: Arc<str>, partition: u32) {
        let key = (topic, partition);
        let Some(state) = self.partitions.get_mut(&key) else {
            return;
        };
        state.reading = false;
        // An entry no longer needed: nothing subscribed, watched or parked.
        if state.subjects == 0 && state.watch == Watch::Unwatched && state.parked.is_empty() {
            self.partitions.remove(&key);
        }
    }

    /// The topic's partitions were announced again: those in `replaced` are on a
    /// new log (a recreated topic), and those past `partitions` are gone (all of
    /// them, while the topic is deleted). A replaced partition this core watches,
    /// or one subscribers wait for since it was gone, is watched afresh, its starts
    /// parked again until it is read. Returns the `Watch`es to send.
    pub fn on_topic_meta(
        &mut self,
        topic: &Arc<str>,
        replaced: &[u32],
        partitions: u32,
    ) -> Vec<BrokerCommand> {
        if !self.enabled() {
            return Vec::new();
        }
        let mut watches = Vec::new();
        for ((t, partition), state) in self.partitions.iter_mut() {
            if t != topic {
                continue;
            }
            if *partition >= partitions {
                state.reading = false;
                state.watch = Watch::Unwatched;
                continue;
            }
            let subscribed = state.subjects > 0;
            let returned = subscribed && state.watch == Watch::Unwatched;
            if !replaced.contains(partition) && !returned {
                continue;
            }
            // On a new log, or back after the topic was gone: read it afresh.
            state.reading = false;
            if state.watch != Watch::Unwatched || subscribed {
                state.watch = Watch::Warming;
                self.watches_total += 1;
                watches.push(BrokerCommand::Watch {
                    topic: topic.clone(),
                    partition: *partition,
                });
            }
        }
        watches
    }

    /// Starts the grace period of partitions released during the input at `now_ms`.
    pub fn stamp_releases(&mut self, now_ms: u64) {
        let Some(grace_ms) = self.grace_ms else {
            return;
        };
        let until_ms = now_ms.saturating_add(grace_ms);
        for (topic, partition) in std::mem::take(&mut self.unstamped) {
            let key = (topic, partition);
            if let Some(state) = self.partitions.get_mut(&key) {
                if state.watch == (Watch::Releasing { until_ms: None }) {
                    state.watch = Watch::Releasing {
                        until_ms: Some(until_ms),
                    };
                    self.deadlines.insert((until_ms, key.0, key.1));
                }
            }
        }
    }

    /// The `Unwatch`es whose grace period ended by `now_ms`.
    pub fn release_due(&mut self, now_ms: u64) -> Vec<BrokerCommand> {
        let mut unwatches = Vec::new();
        while let Some((until_ms, topic, partition)) = self.deadlines.first().cloned() {
            if until_ms > now_ms {
                break;
            }
            self.deadlines.pop_first();
            let key = (topic, partition);
            let Some(state) = self.partitions.get_mut(&key) else {
                continue;
            };
            // Watched again since, or released again with a later deadline.
            if state.watch
                != (Watch::Releasing {
                    until_ms: Some(until_ms),
                })
            {
                continue;
            }
            state.watch = Watch::Unwatched;
            // An entry no longer needed: nothing subscribed, read or parked.
            if state.subjects == 0 && !state.reading && state.parked.is_empty() {
                self.partitions.remove(&key);
            }
            unwatches.push(BrokerCommand::Unwatch {
                topic: key.0,
                partition: key.1,
            });
        }
        self.releases_total += unwatches.len() as u64;
        unwatches
    }

    /// When the next grace period ends.
    pub fn next_release_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|(until_ms, ..)| *until_ms)
    }

    pub fn add_stats(&self, stats: &mut GatewayStats) {
        let count = |f: fn(&PartitionInterest) -> bool| {
            self.partitions.values().filter(|p| f(p)).count() as u64
        };
        stats.partitions_watched =
            count(|p| matches!(p.watch, Watch::Watched | Watch::Releasing { .. }));
        stats.partitions_warming = count(|p| p.watch == Watch::Warming);
        stats.starts_parked = self
            .partitions
            .values()
            .map(|p| p.parked.len() as u64)
            .sum();
        stats.partition_watches_total = self.watches_total;
        stats.partition_releases_total = self.releases_total;
    }
}
