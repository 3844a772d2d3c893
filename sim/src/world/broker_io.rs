//! The broker's side of the world: commands from the gateway, answers and records
//! back over a FIFO link, and other producers writing straight to the log.

use bytes::Bytes;
use rand::Rng;
use sluice_core::broker::header;
use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, FetchRequest, Header, ProduceRequest};

use super::World;
use crate::event::Event;
use crate::plan::MoverPlacement;
use crate::trace::Note;
use crate::violation::{Invariant, Violation};

impl World {
    /// A publish lands where the gateway has seen the key's records, else where the
    /// topic's partitioner puts the key; a null key on partition 0 (§2). Checked
    /// when the gateway asks, against what it had read then.
    pub(super) fn check_produce_partition(
        &self,
        produce: &ProduceRequest,
    ) -> Result<(), Violation> {
        let Some(t) = self.broker.log.topic_index(&produce.topic) else {
            return Ok(()); // refused at the broker
        };
        let subject = self.subjects.by_key(t, produce.key.as_deref());
        let seen = subject.and_then(|s| self.reads.current(s, self.reads.count()));
        let expected = match (seen, &produce.key) {
            (_, None) => 0,
            (Some(read), Some(_)) => read.partition,
            (None, key) => self.plan.topics[t]
                .partitioner
                .partition(key.as_deref(), self.broker.log.partition_count(t)),
        };
        if produce.partition == expected {
            return Ok(());
        }
        Err(self.violation(
            (
                Invariant::AckedPublish,
                format!(
                    "produce of key {:?} to partition {}, but the key's records are on {expected}",
                    produce.key, produce.partition
                ),
            ),
            None,
        ))
    }

    pub(super) fn command_to_broker(
        &mut self,
        incarnation: u32,
        command: BrokerCommand,
    ) -> Result<(), Violation> {
        if self.broker.is_stalled(self.now_ms) {
            let at = self.broker.stalled_until_ms;
            self.queue.push(
                at,
                Event::CommandToBroker {
                    incarnation,
                    command,
                },
            );
            return Ok(());
        }
        match command {
            BrokerCommand::Produce(ProduceRequest {
                produce,
                topic,
                partition,
                key,
                payload,
                headers,
            }) => {
                let Some(t) = self.broker.log.topic_index(&topic) else {
                    return Err(self.violation(
                        (
                            Invariant::Answers,
                            format!("produce to unknown topic {topic}"),
                        ),
                        None,
                    ));
                };
                let result = if self.broker.is_unavailable(self.now_ms, t, partition) {
                    Err(BrokerError::Unavailable(format!(
                        "partition {partition} has no leader"
                    )))
                } else {
                    *self.written.entry(payload.clone()).or_insert(0) += 1;
                    let offset = self.broker.log.append(
                        &self.subjects,
                        t,
                        partition,
                        key,
                        Some(payload),
                        headers,
                        self.now_ms as i64,
                    );
                    self.kick_stream();
                    Ok(offset)
                };
                self.note(Note::Produced {
                    topic: t,
                    partition,
                    result: result.clone().map_err(|e| e.to_string()),
                });
                if incarnation == self.incarnation {
                    self.send_to_gateway(BrokerEvent::Produced { produce, result });
                }
            }
            BrokerCommand::Fetch(FetchRequest {
                fetch,
                ref topic,
                partition,
                from_offset,
                to_offset,
                ..
            }) => {
                if incarnation != self.incarnation {
                    return Ok(());
                }
                self.coverage.fetches += 1;
                let Some(t) = self.broker.log.topic_index(topic) else {
                    return Err(self.violation(
                        (
                            Invariant::Answers,
                            format!("fetch from unknown topic {topic}"),
                        ),
                        None,
                    ));
                };
                let result =
                    self.broker
                        .fetch(self.now_ms, t, &command, self.plan.fetch_batch_offsets_max);
                self.note(Note::Fetched {
                    topic: t,
                    partition,
                    from: from_offset,
                    to: to_offset,
                    result: result
                        .as_ref()
                        .map(|f| (f.records.len(), f.next_offset))
                        .map_err(ToString::to_string),
                });
                self.send_to_gateway(BrokerEvent::Fetched { fetch, result });
            }
            // The simulated broker streams every partition; its gateways read
            // everything, so they send no watches.
            BrokerCommand::Watch { .. } | BrokerCommand::Unwatch { .. } => {
                return Err(self.violation(
                    (
                        Invariant::Answers,
                        "a watch from a gateway that reads everything".to_string(),
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Sends news to the gateway over the FIFO link, after the link's latency.
    fn send_to_gateway(&mut self, event: BrokerEvent) {
        let latency_ms = self.rng.random_range(1..=self.plan.broker_latency_ms_max);
        let at = (self.now_ms + latency_ms).max(self.broker_link_free_ms);
        self.broker_link_free_ms = at;
        let incarnation = self.incarnation;
        self.queue
            .push(at, Event::BrokerNews { incarnation, event });
    }

    /// Makes sure the broker streams soon.
    pub(super) fn kick_stream(&mut self) {
        if !std::mem::replace(&mut self.stream_scheduled, true) {
            let at = self.now_ms + self.plan.stream_every_ms;
            self.queue.push(at, Event::BrokerStreams);
        }
    }

    pub(super) fn broker_streams(&mut self) -> Result<(), Violation> {
        self.stream_scheduled = false;
        if self.gateway.is_none() {
            return Ok(()); // the restart streams again
        }
        if self.broker.is_stalled(self.now_ms) {
            self.stream_scheduled = true;
            let at = self.broker.stalled_until_ms;
            self.queue.push(at, Event::BrokerStreams);
            return Ok(());
        }
        let events = self
            .broker
            .stream(self.now_ms, self.plan.stream_batch_records_max);
        let records = events
            .iter()
            .map(|e| match e {
                BrokerEvent::Records(r) => r.len(),
                _ => 0,
            })
            .sum();
        if !events.is_empty() {
            self.note(Note::Streamed {
                records,
                metas: events.len() - usize::from(records > 0),
            });
        }
        for event in events {
            self.send_to_gateway(event);
        }
        if self.broker.has_unstreamed() {
            self.kick_stream();
        }
        Ok(())
    }

    /// Another producer writes to the log: values, tombstones, non-retained records,
    /// now and then a record no subject can be routed from, and, with a mover, keyed
    /// records on another partition than the topic's partitioner's.
    pub(super) fn foreign_write(&mut self) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        let next = self.now_ms + self.around(self.plan.foreign_write_every_ms);
        self.queue.push(next, Event::ForeignWrite);
        let subject = self
            .subjects
            .get(self.rng.random_range(0..self.subjects.len()))
            .clone();
        let n = self.foreign_writes;
        self.foreign_writes += 1;
        let mut key = subject.key.clone();
        let mut partition = subject.partition;
        let mut headers = Vec::new();
        // A second producer with another partitioning writes this one elsewhere:
        // the subject moves (and moves back with the next record of the first).
        if let (Some(mover), Some(k)) = (self.plan.topics[subject.topic].mover, &key) {
            if self.mover_rng.random_range(0..100) < mover.percent {
                let partitions = self.broker.log.partition_count(subject.topic);
                partition = match mover.placement {
                    MoverPlacement::Partitioner(p) => p.partition(Some(k), partitions),
                    MoverPlacement::Random => self.mover_rng.random_range(0..partitions),
                };
            }
        }
        let payload = match self.rng.random_range(0..100) {
            0..10 => None,
            10..30 => {
                headers.push(Header {
                    name: header::RETAINED.to_owned(),
                    value: Bytes::from_static(b"false"),
                });
                Some(self.payload(format!("f{n}")))
            }
            30..35 => {
                // Unroutable: a null-key record off partition 0, or a key that is no
                // subject. (A keyed record on another partition is routed: a move.)
                let partitions = self.broker.log.partition_count(subject.topic);
                if key.is_none() && partitions > 1 {
                    partition = (partition + 1) % partitions;
                } else {
                    key = Some(Bytes::from_static(b"bad//key"));
                }
                Some(self.payload(format!("f{n}")))
            }
            _ => Some(self.payload(format!("f{n}"))),
        };
        let offset = self.broker.log.append(
            &self.subjects,
            subject.topic,
            partition,
            key,
            payload,
            headers,
            self.now_ms as i64,
        );
        self.note(Note::ForeignWrite {
            topic: subject.topic,
            partition,
            offset,
        });
        self.kick_stream();
        Ok(())
    }
}
