//! What the broker sends, in: topic metadata and records are applied to the routing
//! part, then each record goes to its subject's subscribers' queues (record →
//! route → enqueue). Subscribers whose position no longer holds get `resync`.

use std::sync::Arc;

use super::clients::Delivery;
use super::routing::Routed;
use super::Gateway;
use crate::broker::{BrokerRecord, PartitionMeta};
use crate::ids::ClientId;
use crate::output::Output;

impl Gateway {
    pub(super) fn on_topic_meta(&mut self, topic: Arc<str>, partitions: Vec<PartitionMeta>) {
        // Interest mode: partitions on a new log are watched afresh.
        let before = self.routing.topic_positions(&topic);
        let replaced: Vec<u32> = partitions
            .iter()
            .filter(|p| {
                before
                    .get(p.partition as usize)
                    .is_some_and(|(epoch, _)| *epoch != p.epoch)
            })
            .map(|p| p.partition)
            .collect();
        let count = u32::try_from(partitions.len()).unwrap_or(u32::MAX);
        let affected =
            self.routing
                .apply_topic_meta(&self.config, &self.clients, topic.clone(), partitions);
        for watch in self.interest.on_topic_meta(&topic, &replaced, count) {
            self.outputs.push_back(Output::Broker(watch));
        }
        self.resync_subjects(affected);
    }

    /// Interest mode: the broker reads the partition anew from `start_offset`.
    pub(super) fn on_partition_reading(&mut self, topic: Arc<str>, partition: u32, start: u64) {
        self.routing.read_partition_from(&topic, partition, start);
        self.interest.on_reading(topic, partition);
    }

    /// Interest mode: the partition is read up to where it was when this core
    /// watched it; the starts parked on it go on.
    pub(super) fn on_partition_ready(&mut self, topic: Arc<str>, partition: u32) {
        for parked in self.interest.on_ready(topic, partition) {
            self.unpark_start(parked);
        }
    }

    /// Interest mode: the broker no longer reads the partition.
    pub(super) fn on_partition_released(&mut self, topic: Arc<str>, partition: u32) {
        self.routing.forget_partition(&topic, partition);
        self.interest.on_released(topic, partition);
    }

    /// Interest mode: partitions whose grace period ended are unwatched.
    pub(super) fn release_partitions(&mut self, now_ms: u64) {
        for unwatch in self.interest.release_due(now_ms) {
            self.outputs.push_back(Output::Broker(unwatch));
        }
    }

    pub(super) fn on_record(&mut self, now_ms: u64, record: BrokerRecord) {
        if !self.interest.applies(&record.topic, record.partition) {
            return;
        }
        let (moved, routed) = self.routing.apply_record(record);
        if let Some(moved) = moved {
            self.outputs.push_back(Output::SubjectMoved {
                subject: moved.subject,
                from_partition: moved.from_partition,
                to_partition: moved.to_partition,
            });
        }
        if let Some(routed) = routed {
            self.fan_out(now_ms, routed);
        }
    }

    /// Offers a routed record to each subscriber's queue (a conflated
    /// subscription may hold it instead).
    fn fan_out(&mut self, now_ms: u64, routed: Routed) {
        let Routed {
            subject,
            message,
            subscribers,
        } = routed;
        let bound = self.live_bound_bytes();
        #[cfg(not(feature = "testing"))]
        let resync_on_move = true;
        #[cfg(feature = "testing")]
        let resync_on_move = !self.bug_on(crate::testing::InjectedBug::MoveWithoutResync);
        // Subscribers whose position is on another log: the subject moved partition
        // under them. They get `resync` once the fan-out is done.
        let mut moved_under: Vec<ClientId> = Vec::new();
        for client in subscribers {
            let delivery = self.clients.deliver(
                client,
                &subject,
                &message,
                bound,
                resync_on_move,
                Some(now_ms),
            );
            if self.delivered(client, delivery) {
                moved_under.push(client);
            }
        }
        for client in moved_under {
            self.resync(client, &subject);
        }
    }

    /// Acts on a delivery's outcome; true if the subscriber must get `resync`.
    fn delivered(&mut self, client: ClientId, delivery: Delivery) -> bool {
        match delivery {
            Delivery::Queued { woken: true } => self.outputs.push_back(Output::Wake { client }),
            Delivery::Queued { woken: false } | Delivery::Skipped | Delivery::Held => {}
            Delivery::Moved => return true,
            Delivery::NoRoom => self.close_slow_consumer(client),
        }
        false
    }

    /// Sends the conflated subscriptions' held messages whose interval ended.
    pub(super) fn send_conflated(&mut self, now_ms: u64) {
        let bound = self.live_bound_bytes();
        #[cfg(feature = "testing")]
        if self.bug_on(crate::testing::InjectedBug::ConflationLosesLatest) {
            self.clients.conflation.take_due(now_ms);
            return;
        }
        for (client, subject, message) in self.clients.conflation.take_due(now_ms) {
            let delivery = self
                .clients
                .deliver(client, &subject, &message, bound, true, None);
            if self.delivered(client, delivery) {
                self.resync(client, &subject);
            }
        }
    }
}
