//! Broker records in: caches updated, then routed to the subject's subscribers.

use std::sync::Arc;

use super::{over_bound, queue_counted, Gateway, PartitionState, TopicState};
use crate::broker::{header, BrokerRecord, Epoch, PartitionMeta};
use crate::cache::Learned;
use crate::ids::ClientId;
use crate::output::Output;
use crate::protocol::{Message, MessageKind, RecordOrigin, ServerFrame, SharedEncoding};
use crate::subject::{self, Subject};

impl Gateway {
    /// The broker announces exactly the topics it exposes: the listed ones and, for
    /// Kafka, those matching `exposed_topic_pattern`. An announced topic is exposed.
    pub(super) fn on_topic_meta(&mut self, topic: Arc<str>, partitions: Vec<PartitionMeta>) {
        if !subject::is_valid_topic(&topic) {
            return;
        }
        let mut partitions = partitions;
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
            return;
        }
        // Subscribers of the affected subjects learn their position is void: the
        // subject's partition was replaced, or a subscriber's position is on one that was.
        let affected: Vec<Subject> = self
            .subscribers
            .iter()
            .filter(|(s, _)| s.topic() == topic.as_ref())
            .filter(|(s, clients)| {
                !same_layout
                    || self
                        .current_partition(s)
                        .is_some_and(|(p, _)| void.contains(&p))
                    || clients.iter().any(|c| {
                        self.clients
                            .get(c)
                            .and_then(|state| state.subscriptions.get(s))
                            .is_some_and(|sub| void_epochs.contains(&sub.epoch))
                    })
            })
            .map(|(s, _)| s.clone())
            .collect();
        // Sorted: the routing index is a HashMap, and output order must not depend
        // on its iteration order (seeds must replay exactly).
        let mut affected = affected;
        affected.sort();
        self.resync_subjects(affected);
    }

    pub(super) fn on_record(&mut self, record: BrokerRecord) {
        let Some(topic) = self.topics.get_mut(record.topic.as_ref()) else {
            self.stats.records_unroutable_total += 1;
            return;
        };
        let Some(partition) = topic.partitions.get_mut(record.partition as usize) else {
            self.stats.records_unroutable_total += 1;
            return;
        };
        if record.offset < partition.next_offset {
            self.stats.records_redelivered_total += 1;
            return;
        }
        partition.next_offset = record.offset + 1;
        let epoch = partition.epoch.clone();
        self.stats.records_in_total += 1;
        self.stats.record_bytes_in_total += record.payload.as_ref().map_or(0, |p| p.len() as u64);

        let Some(subject) = Subject::from_record(&record.topic, record.key.as_deref()) else {
            self.stats.records_unroutable_total += 1;
            return;
        };
        // A keyed record is routed from whichever partition it is on; the subject's
        // log is the partition its records are on. Null-key records form `/topic`'s
        // log on partition 0 only: producers scatter them (sticky or random), and one
        // ordered log per subject is the contract.
        if subject.key().is_none() {
            if record.partition != 0 {
                self.stats.records_unroutable_total += 1;
                return;
            }
        } else {
            self.learn_placement(&subject, record.partition, record.offset);
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
            traceparent: record.header(header::TRACEPARENT).cloned(),
            shared_encoding: None,
        };
        let message = Message {
            subject: subject.shared(),
            data: record.payload,
            seq: record.offset,
            epoch: epoch.clone(),
            kind: MessageKind::Update,
            origin: Some(origin),
        };
        match &message.data {
            None => self.snapshots.remove(&subject),
            Some(_) if retained => self.snapshots.set(&subject, message.clone()),
            Some(_) => {}
        }
        self.messages.append(&subject, message.clone());

        let Some((subject, subscribers)) = self.subscribers.get_key_value(&subject) else {
            return;
        };
        // The routing table's copy, which every subscription shares.
        let subject = subject.clone();
        let targets: Vec<ClientId> = subscribers.iter().copied().collect();
        // The frames of this fan-out share one encoding per wire format; the caches
        // above keep the message without it.
        let mut message = message;
        if let Some(origin) = &mut message.origin {
            origin.shared_encoding = Some(SharedEncoding::default());
        }
        // One look-up of the client and its subscription per delivery: this loop
        // is the gateway's hottest.
        let bound = self.live_bound_bytes();
        // Subscribers whose position is on another log: the subject moved partition
        // under them. They get `resync` once the fan-out is done.
        let mut moved_under = Vec::new();
        for client in targets {
            let queued = match self.clients.get_mut(&client) {
                None => continue,
                Some(state) => {
                    let Some(sub) = state.subscriptions.get_mut(&subject) else {
                        continue;
                    };
                    let moved =
                        sub.epoch != epoch && (sub.after.is_some() || sub.recovering.is_some());
                    #[cfg(feature = "inject-bugs")]
                    let moved =
                        moved && self.injected_bug != Some(crate::InjectedBug::MoveWithoutResync);
                    if moved {
                        moved_under.push(client);
                        continue;
                    }
                    if !sub.wants(&epoch, record.offset) {
                        continue;
                    }
                    let frame = ServerFrame::Message(message.clone());
                    let cost = frame.cost_bytes();
                    if over_bound(state.queue_bytes, cost, bound) {
                        None
                    } else {
                        sub.epoch = epoch.clone();
                        sub.after = Some(record.offset);
                        Some(queue_counted(state, &mut self.stats, frame, cost))
                    }
                }
            };
            match queued {
                None => self.close_slow_consumer(client),
                Some(true) => self.outputs.push_back(Output::Wake { client }),
                Some(false) => {}
            }
        }
        for client in moved_under {
            self.resync(client, &subject);
        }
    }

    /// Remembers that `subject`'s record at `offset` is on `partition`. A move off the
    /// partition its previous record was on is counted, and given to the runtime to
    /// log the first time per subject.
    fn learn_placement(&mut self, subject: &Subject, partition: u32, offset: u64) {
        match self.placements.learn(subject, partition, offset) {
            Learned::Same | Learned::New => {}
            Learned::Moved { from, first_move } => {
                self.stats.subject_partition_moves_total += 1;
                if first_move {
                    self.outputs.push_back(Output::SubjectMoved {
                        subject: subject.shared(),
                        from_partition: from,
                        to_partition: partition,
                    });
                }
            }
        }
    }
}
