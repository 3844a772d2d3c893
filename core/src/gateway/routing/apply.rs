//! What the broker says, applied to the routing part: topic metadata changes the
//! partitions (and voids positions on logs that were replaced), and each record
//! moves a partition's position on, updates the caches and is routed to the
//! subject's subscribers.

use std::sync::Arc;

use super::{PartitionState, Routing, TopicState};
use crate::broker::{header, BrokerRecord, Epoch, PartitionMeta};
use crate::cache::Learned;
use crate::config::GatewayConfig;
use crate::gateway::clients::Clients;
use crate::ids::ClientId;
use crate::protocol::{Message, MessageKind, RecordOrigin, SharedEncoding};
use crate::subject::{self, Subject};

/// A record routed to its subject's subscribers.
#[derive(Debug)]
pub(in crate::gateway) struct Routed {
    /// The routing table's copy, which every subscription shares.
    pub subject: Subject,
    /// The live `update`, with one shared encoding per wire format for the fan-out.
    pub message: Message,
    pub subscribers: Vec<ClientId>,
}

/// A subject's first move to another partition while the gateway remembers it.
#[derive(Debug)]
pub(in crate::gateway) struct SubjectMove {
    pub subject: Arc<str>,
    pub from_partition: u32,
    pub to_partition: u32,
}

impl Routing {
    /// The broker announces exactly the topics it exposes: the listed ones and, for
    /// Kafka, those matching `exposed_topic_pattern`. An announced topic is exposed.
    /// Returns the subscribed subjects whose subscribers' positions no longer hold,
    /// sorted (output order must not depend on the routing index's hashing).
    pub fn apply_topic_meta(
        &mut self,
        config: &GatewayConfig,
        clients: &Clients,
        topic: Arc<str>,
        mut partitions: Vec<PartitionMeta>,
    ) -> Vec<Subject> {
        if !subject::is_valid_topic(&topic) {
            return Vec::new();
        }
        partitions.sort_by_key(|p| p.partition);
        let old = self.topics.get(&topic).cloned().unwrap_or_default();
        let same_layout = old.partitions.len() == partitions.len()
            && partitions
                .iter()
                .enumerate()
                .all(|(i, p)| p.partition as usize == i);
        let mut void = Vec::new(); // logs whose subscribers' positions no longer hold
        let mut next = TopicState::default();
        for (i, meta) in partitions.iter().enumerate() {
            match old.partitions.get(i) {
                Some(prev) if same_layout && prev.epoch == meta.epoch => {
                    // Same log. If retention moved its start past what we processed, the
                    // records in between are gone for us too.
                    let mut state = prev.clone();
                    if meta.start_offset > prev.next_offset {
                        state.next_offset = meta.start_offset;
                        void.push(i as u32);
                    }
                    self.messages
                        .raise_floor(&meta.epoch, meta.start_offset.min(state.next_offset));
                    next.partitions.push(state);
                }
                _ => {
                    self.messages.raise_floor(&meta.epoch, meta.start_offset);
                    next.partitions.push(PartitionState {
                        epoch: meta.epoch.clone(),
                        next_offset: meta.start_offset,
                        read_from: meta.start_offset,
                    });
                    void.push(i as u32);
                }
            }
        }
        // Epochs whose subscribers' positions no longer hold, old and new.
        let mut void_epochs: Vec<Epoch> = Vec::new();
        for &i in &void {
            void_epochs.extend(old.partitions.get(i as usize).map(|p| p.epoch.clone()));
            void_epochs.extend(next.partitions.get(i as usize).map(|p| p.epoch.clone()));
        }
        for prev in &old.partitions {
            if !next.partitions.iter().any(|p| p.epoch == prev.epoch) {
                self.snapshots.drop_epoch(&prev.epoch);
                self.messages.drop_epoch(&prev.epoch);
                void_epochs.push(prev.epoch.clone());
            }
        }
        // Where subjects were is knowledge of logs that are gone (recreated, or
        // partitions removed): forget it.
        let replaced: Vec<u32> = (0..old.partitions.len().max(next.partitions.len()))
            .filter(|&i| {
                let (before, after) = (old.partitions.get(i), next.partitions.get(i));
                after.is_none() || before.is_some_and(|b| Some(&b.epoch) != after.map(|a| &a.epoch))
            })
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        if !replaced.is_empty() {
            self.placements
                .drop_partitions(&topic, |p| replaced.contains(&p));
        }
        let known_before = !old.partitions.is_empty();
        self.topics.insert(topic.clone(), next);
        if !known_before {
            return Vec::new();
        }
        // Subscribers of the affected subjects learn their position is void: the
        // subject's partition was replaced, or a subscriber's position is on one that was.
        let mut affected: Vec<Subject> = self
            .subscribers
            .iter()
            .filter(|(s, _)| s.topic() == topic.as_ref())
            .filter(|(s, subscribers)| {
                !same_layout
                    || self
                        .current_partition(config, s)
                        .is_some_and(|(p, _)| void.contains(&p))
                    || subscribers.iter().any(|c| {
                        clients
                            .get(*c)
                            .and_then(|state| state.subscriptions.get(s))
                            .is_some_and(|sub| void_epochs.contains(&sub.epoch))
                    })
            })
            .map(|(s, _)| s.clone())
            .collect();
        affected.sort();
        affected
    }

    /// Applies one record: the partition's position, the subject's placement, the
    /// caches. Returns the subject's first move to another partition, if this record
    /// is one, and the record routed to the subject's subscribers, if it has any.
    pub fn apply_record(&mut self, record: BrokerRecord) -> (Option<SubjectMove>, Option<Routed>) {
        let Some(topic) = self.topics.get_mut(record.topic.as_ref()) else {
            self.counters.records_unroutable_total += 1;
            return (None, None);
        };
        let Some(partition) = topic.partitions.get_mut(record.partition as usize) else {
            self.counters.records_unroutable_total += 1;
            return (None, None);
        };
        if record.offset < partition.next_offset {
            self.counters.records_redelivered_total += 1;
            return (None, None);
        }
        partition.next_offset = record.offset + 1;
        let epoch = partition.epoch.clone();
        self.counters.records_in_total += 1;
        self.counters.record_bytes_in_total +=
            record.payload.as_ref().map_or(0, |p| p.len() as u64);

        let Some(subject) = Subject::from_record(&record.topic, record.key.as_deref()) else {
            self.counters.records_unroutable_total += 1;
            return (None, None);
        };
        // A keyed record is routed from whichever partition it is on; the subject's
        // log is the partition its records are on. Null-key records form `/topic`'s
        // log on partition 0 only: producers scatter them (sticky or random), and one
        // ordered log per subject is the contract.
        let mut moved = None;
        if subject.key().is_none() {
            if record.partition != 0 {
                self.counters.records_unroutable_total += 1;
                return (None, None);
            }
        } else {
            moved = self.learn_placement(&subject, record.partition, record.offset);
        }
        let retained = record.is_retained();
        let replaces_snapshot = retained && record.payload.is_some();
        if !replaces_snapshot
            && self
                .snapshots
                .epoch_of(&subject)
                .is_some_and(|e| *e != epoch)
        {
            // The snapshot must be on the subject's current log: one from the
            // partition it left is not replaced by this record, so it goes.
            self.snapshots.remove(&subject);
        }
        let origin = RecordOrigin {
            timestamp_ms: record.timestamp_ms,
            handed_over_unix_us: record.handed_over_unix_us,
            traceparent: record.header(header::TRACEPARENT).cloned(),
            shared_encoding: None,
        };
        let (headers, headers_truncated) = self.header_bounds.apply(&record.headers);
        let mut message = Message {
            delta: false,
            subject: subject.shared(),
            data: record.payload,
            seq: record.offset,
            epoch,
            kind: MessageKind::Update,
            headers,
            headers_truncated,
            origin: Some(origin),
        };
        match &message.data {
            None => self.snapshots.remove(&subject),
            Some(_) if retained => self.snapshots.set(&subject, message.clone()),
            Some(_) => {}
        }
        self.messages.append(&subject, message.clone());

        let Some((subject, subscribers)) = self.subscribers.get_key_value(&subject) else {
            return (moved, None);
        };
        // The frames of this fan-out share one encoding per wire format; the caches
        // above keep the message without it.
        if let Some(origin) = &mut message.origin {
            origin.shared_encoding = Some(SharedEncoding::default());
        }
        let routed = Routed {
            subject: subject.clone(),
            message,
            subscribers: subscribers.iter().copied().collect(),
        };
        (moved, Some(routed))
    }

    /// Remembers that `subject`'s record at `offset` is on `partition`. A move off the
    /// partition its previous record was on is counted, and returned the first time
    /// per subject for the runtime to log.
    fn learn_placement(
        &mut self,
        subject: &Subject,
        partition: u32,
        offset: u64,
    ) -> Option<SubjectMove> {
        match self.placements.learn(subject, partition, offset) {
            Learned::Same | Learned::New => None,
            Learned::Moved { from, first_move } => {
                self.counters.subject_partition_moves_total += 1;
                first_move.then(|| SubjectMove {
                    subject: subject.shared(),
                    from_partition: from,
                    to_partition: partition,
                })
            }
        }
    }
}
