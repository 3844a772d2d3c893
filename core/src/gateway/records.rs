//! Broker records in: caches updated, then routed to the subject's subscribers.

use std::sync::Arc;

use super::{over_bound, queue_counted, Gateway, PartitionState, TopicState};
use crate::broker::{header, BrokerRecord, PartitionMeta};
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
                    });
                    void.push(i as u32);
                }
            }
        }
        for prev in &old.partitions {
            if !next.partitions.iter().any(|p| p.epoch == prev.epoch) {
                self.snapshots.drop_epoch(&prev.epoch);
                self.messages.drop_epoch(&prev.epoch);
            }
        }
        let known_before = !old.partitions.is_empty();
        self.topics.insert(topic.clone(), next);
        if !known_before {
            return;
        }
        // Subscribers of the affected subjects learn their position is void.
        let affected: Vec<Subject> = self
            .subscribers
            .keys()
            .filter(|s| s.topic() == topic.as_ref())
            .filter(|s| {
                !same_layout || self.partition_of(s).is_some_and(|(p, _)| void.contains(&p))
            })
            .cloned()
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
        if self.partition_of(&subject).map(|(p, _)| p) != Some(record.partition) {
            // Only records on the partition the subject maps to form its ordered log.
            self.stats.records_unroutable_total += 1;
            return;
        }
        let retained = record.is_retained();
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
        for client in targets {
            let queued = match self.clients.get_mut(&client) {
                None => continue,
                Some(state) => {
                    let Some(sub) = state.subscriptions.get_mut(&subject) else {
                        continue;
                    };
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
    }
}
