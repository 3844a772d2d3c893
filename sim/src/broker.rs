//! The simulated broker behind the gateway's broker boundary: it appends produces,
//! answers fetches in bounded batches, and streams each partition's records to the
//! gateway in offset order, like a Kafka consumer. Its faults are stalls, rewinds
//! and partitions going unavailable; retention may overtake a gateway that lags.

use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, FetchRequest, Fetched};

use crate::log::SimLog;

/// The broker's state towards the one gateway it serves.
#[derive(Debug)]
pub(crate) struct SimBroker {
    pub log: SimLog,
    /// Per topic and partition: the next offset to stream to the gateway.
    stream_next: Vec<Vec<u64>>,
    /// Per topic and partition: everything below was streamed to the current
    /// gateway (a rewind moves `stream_next` back, never this).
    streamed_until: Vec<Vec<u64>>,
    /// Nothing is answered or streamed before this time.
    pub stalled_until_ms: u64,
    /// Per topic and partition: produce and fetch fail, nothing streams, until then.
    unavailable_until_ms: Vec<Vec<u64>>,
}

impl SimBroker {
    pub fn new(log: SimLog) -> SimBroker {
        let per_partition = |log: &SimLog, v| {
            (0..log.topic_count())
                .map(|t| vec![v; log.partition_count(t) as usize])
                .collect::<Vec<_>>()
        };
        SimBroker {
            stream_next: per_partition(&log, 0),
            streamed_until: per_partition(&log, 0),
            stalled_until_ms: 0,
            unavailable_until_ms: per_partition(&log, 0),
            log,
        }
    }

    pub fn is_stalled(&self, now_ms: u64) -> bool {
        now_ms < self.stalled_until_ms
    }

    pub fn is_unavailable(&self, now_ms: u64, topic: usize, partition: u32) -> bool {
        now_ms < self.unavailable_until_ms[topic][partition as usize]
    }

    pub fn stall(&mut self, until_ms: u64) {
        self.stalled_until_ms = self.stalled_until_ms.max(until_ms);
    }

    pub fn make_unavailable(&mut self, topic: usize, partition: u32, until_ms: u64) {
        let until = &mut self.unavailable_until_ms[topic][partition as usize];
        *until = (*until).max(until_ms);
    }

    /// Ends every stall and outage: the world heals.
    pub fn heal(&mut self) {
        self.stalled_until_ms = 0;
        for until in self.unavailable_until_ms.iter_mut().flatten() {
            *until = 0;
        }
    }

    /// The consumer is rewound by up to `records` (never below the log start, never
    /// forward): they are streamed again.
    pub fn rewind(&mut self, topic: usize, partition: u32, records: u64) {
        let start = self.log.start_offset(topic, partition);
        let next = &mut self.stream_next[topic][partition as usize];
        *next = next.saturating_sub(records).max(start).min(*next);
    }

    /// A new gateway starts: it learns every topic with its log start, and the
    /// stream restarts there so it rebuilds its snapshots from the log.
    pub fn restart_stream(&mut self) -> Vec<BrokerEvent> {
        for t in 0..self.log.topic_count() {
            for p in 0..self.log.partition_count(t) {
                let start = self.log.start_offset(t, p);
                self.stream_next[t][p as usize] = start;
                self.streamed_until[t][p as usize] = start;
            }
        }
        (0..self.log.topic_count())
            .map(|t| self.log.topic_meta(t))
            .collect()
    }

    pub fn has_unstreamed(&self) -> bool {
        (0..self.log.topic_count()).any(|t| {
            (0..self.log.partition_count(t))
                .any(|p| self.stream_next[t][p as usize] < self.log.end_offset(t, p))
        })
    }

    /// The next batch towards the gateway: first a topic's new layout if retention
    /// deleted records the gateway had not read yet, then up to `batch_max` records
    /// per available partition.
    pub fn stream(&mut self, now_ms: u64, batch_max: u64) -> Vec<BrokerEvent> {
        let mut events = Vec::new();
        let mut records: Vec<BrokerRecord> = Vec::new();
        for t in 0..self.log.topic_count() {
            let mut overtaken = false;
            for p in 0..self.log.partition_count(t) {
                // Retention deleted records the gateway has not read: it must be
                // told (a new log start), never just see the offsets jump.
                let start = self.log.start_offset(t, p);
                let until = &mut self.streamed_until[t][p as usize];
                if *until < start {
                    *until = start;
                    overtaken = true;
                }
                let next = &mut self.stream_next[t][p as usize];
                *next = (*next).max(start);
            }
            if overtaken {
                events.push(self.log.topic_meta(t));
            }
            for p in 0..self.log.partition_count(t) {
                if self.is_unavailable(now_ms, t, p) {
                    continue;
                }
                let next = self.stream_next[t][p as usize];
                let batch = self.log.records(t, p, next, next + batch_max);
                self.stream_next[t][p as usize] = next + batch.len() as u64;
                let until = &mut self.streamed_until[t][p as usize];
                *until = (*until).max(next + batch.len() as u64);
                records.extend_from_slice(batch);
            }
        }
        if !records.is_empty() {
            events.push(BrokerEvent::Records(records));
        }
        events
    }

    /// Answers a fetch command, or fails it if the partition is unavailable.
    pub fn fetch(
        &self,
        now_ms: u64,
        topic: usize,
        command: &BrokerCommand,
        examine_max: u64,
    ) -> Result<Fetched, BrokerError> {
        let &BrokerCommand::Fetch(FetchRequest { partition, .. }) = command else {
            return Err(BrokerError::Other("not a fetch".to_owned()));
        };
        if self.is_unavailable(now_ms, topic, partition) {
            return Err(BrokerError::Unavailable(format!(
                "partition {partition} has no leader"
            )));
        }
        self.log.fetch(topic, command, examine_max)
    }
}
