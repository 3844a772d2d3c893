//! The simulated partitioned log: Kafka's data model, kept whole. The broker serves
//! only what retention has not deleted, but the log keeps every record ever written,
//! so the checker can always ask "what should this subscriber have received?".

use std::sync::Arc;

use bytes::Bytes;
use sluice_core::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, FetchRequest, Fetched, Header,
    PartitionMeta,
};

use crate::plan::TopicShape;
use crate::subjects::Subjects;

#[derive(Debug)]
struct PartitionLog {
    epoch: Epoch,
    /// Every record ever appended; `records[i].offset == i`.
    records: Vec<BrokerRecord>,
    /// The oldest offset retention still keeps.
    start_offset: u64,
}

#[derive(Debug)]
struct TopicLog {
    name: Arc<str>,
    partitions: Vec<PartitionLog>,
}

/// Topics of partitions of records with dense offsets, plus, per subject and
/// partition, the offsets of the records routed to it there (the checker's answer
/// key: a subject's log on a partition, `docs/protocol.md` §2–3).
#[derive(Debug)]
pub(crate) struct SimLog {
    topics: Vec<TopicLog>,
    /// Per subject and partition of its topic: offsets of the records the gateway
    /// must route to it, ascending.
    routed: Vec<Vec<Vec<u64>>>,
    retention_records_max: Option<u64>,
}

impl SimLog {
    pub fn new(
        shapes: &[TopicShape],
        subjects: &Subjects,
        retention_records_max: Option<u64>,
    ) -> SimLog {
        let topics = shapes
            .iter()
            .map(|shape| TopicLog {
                name: Arc::from(shape.name),
                partitions: (0..shape.partitions)
                    .map(|p| PartitionLog {
                        epoch: Epoch::new(format!("{}.1-{p}", shape.name)),
                        records: Vec::new(),
                        start_offset: 0,
                    })
                    .collect(),
            })
            .collect();
        let routed = (0..subjects.len())
            .map(|i| vec![Vec::new(); shapes[subjects.get(i).topic].partitions as usize])
            .collect();
        SimLog {
            topics,
            routed,
            retention_records_max,
        }
    }

    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub fn topic_name(&self, topic: usize) -> &Arc<str> {
        &self.topics[topic].name
    }

    pub fn topic_index(&self, name: &str) -> Option<usize> {
        self.topics.iter().position(|t| &*t.name == name)
    }

    pub fn partition_count(&self, topic: usize) -> u32 {
        self.topics[topic].partitions.len() as u32
    }

    /// The partition of `topic` whose log `epoch` names, if any.
    pub fn partition_of(&self, topic: usize, epoch: &Epoch) -> Option<u32> {
        let p = self.topics[topic]
            .partitions
            .iter()
            .position(|log| &log.epoch == epoch)?;
        u32::try_from(p).ok()
    }

    pub fn start_offset(&self, topic: usize, partition: u32) -> u64 {
        self.partition(topic, partition).start_offset
    }

    /// The offset the next record will get (Kafka's high watermark).
    pub fn end_offset(&self, topic: usize, partition: u32) -> u64 {
        self.partition(topic, partition).records.len() as u64
    }

    pub fn record(&self, topic: usize, partition: u32, offset: u64) -> Option<&BrokerRecord> {
        self.partition(topic, partition)
            .records
            .get(usize::try_from(offset).ok()?)
    }

    /// Records `from..to` of one partition (clamped to what exists).
    pub fn records(&self, topic: usize, partition: u32, from: u64, to: u64) -> &[BrokerRecord] {
        let records = &self.partition(topic, partition).records;
        let to = (to as usize).min(records.len());
        &records[(from as usize).min(to)..to]
    }

    fn partition(&self, topic: usize, partition: u32) -> &PartitionLog {
        &self.topics[topic].partitions[partition as usize]
    }

    /// Appends a record and applies retention. Returns its offset.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        subjects: &Subjects,
        topic: usize,
        partition: u32,
        key: Option<Bytes>,
        payload: Option<Bytes>,
        headers: Vec<Header>,
        timestamp_ms: i64,
    ) -> u64 {
        let name = self.topics[topic].name.clone();
        let log = &mut self.topics[topic].partitions[partition as usize];
        let offset = log.records.len() as u64;
        if let Some(subject) = subjects.routed(topic, partition, key.as_deref()) {
            self.routed[subject][partition as usize].push(offset);
        }
        log.records.push(BrokerRecord {
            topic: name,
            partition,
            offset,
            key,
            payload,
            headers: headers.into(),
            timestamp_ms,
            handed_over_unix_us: 0,
        });
        if let Some(max) = self.retention_records_max {
            log.start_offset = log.start_offset.max((offset + 1).saturating_sub(max));
        }
        offset
    }

    /// The partitions of `topic` as a gateway learns them at start.
    pub fn topic_meta(&self, topic: usize) -> BrokerEvent {
        let t = &self.topics[topic];
        BrokerEvent::TopicMeta {
            topic: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .enumerate()
                .map(|(p, log)| PartitionMeta {
                    partition: p as u32,
                    epoch: log.epoch.clone(),
                    start_offset: log.start_offset,
                })
                .collect(),
        }
    }

    /// Answers a fetch as Kafka would: records of `key` in `from_offset..=to_offset`,
    /// examining at most `examine_max` offsets per answer (a bounded batch).
    pub fn fetch(
        &self,
        topic: usize,
        command: &BrokerCommand,
        examine_max: u64,
    ) -> Result<Fetched, BrokerError> {
        let BrokerCommand::Fetch(FetchRequest {
            partition,
            epoch,
            key,
            from_offset,
            to_offset,
            from_log_start,
            ..
        }) = command
        else {
            return Err(BrokerError::Other("not a fetch".to_owned()));
        };
        let (partition, mut from_offset, to_offset) = (*partition, *from_offset, *to_offset);
        let log = self.partition(topic, partition);
        if epoch != &log.epoch {
            return Err(BrokerError::EpochChanged);
        }
        if from_offset < log.start_offset {
            if !from_log_start {
                return Err(BrokerError::OffsetOutOfRange);
            }
            from_offset = log.start_offset;
        }
        let end = to_offset
            .saturating_add(1)
            .min(log.records.len() as u64)
            .min(from_offset.saturating_add(examine_max));
        let records = self
            .records(topic, partition, from_offset, end)
            .iter()
            .filter(|r| r.key == *key)
            .cloned()
            .collect();
        // Everything below `end` was examined; an empty range is complete at once.
        Ok(Fetched {
            records,
            first_offset: from_offset,
            next_offset: end.max(from_offset.min(to_offset.saturating_add(1))),
        })
    }

    /// The first offset at or after `from` routed to `subject` on `partition`.
    pub fn next_routed(&self, subject: usize, partition: u32, from: u64) -> Option<u64> {
        let offsets = &self.routed[subject][partition as usize];
        offsets.get(offsets.partition_point(|&o| o < from)).copied()
    }

    /// Offsets routed to `subject` on `partition` in `from..to`, for violation reports.
    pub fn routed_between(&self, subject: usize, partition: u32, from: u64, to: u64) -> Vec<u64> {
        let offsets = &self.routed[subject][partition as usize];
        let lo = offsets.partition_point(|&o| o < from);
        let hi = offsets.partition_point(|&o| o < to);
        offsets[lo..hi].to_vec()
    }

    pub fn is_routed(&self, subject: usize, partition: u32, offset: u64) -> bool {
        self.routed[subject][partition as usize]
            .binary_search(&offset)
            .is_ok()
    }
}
