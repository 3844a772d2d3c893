//! The order in which the current gateway read the log. Kafka orders nothing across
//! partitions, so which partition a subject is on, and so its latest value, depend
//! on the order a consumer reads them in (`docs/protocol.md` §2, "Moves"). The
//! world knows that order: it streams the records, one input each, and the gateway
//! reads each partition like a Kafka consumer (a record below its position is a
//! redelivery, a new log start skips ahead). The checker's answer key for moves.

use sluice_core::BrokerRecord;

use crate::log::SimLog;
use crate::subjects::Subjects;

/// One record of a subject as the gateway read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Read {
    /// How many records the gateway had read before this one.
    pub no: u64,
    pub partition: u32,
    pub offset: u64,
    /// Which stay of the subject on one partition this record belongs to: it grows
    /// by one each time the subject's records show up on another partition.
    pub stint: usize,
}

/// What the current gateway has read, in order.
#[derive(Debug)]
pub(crate) struct Reads {
    /// Per topic and partition: the next offset the gateway takes.
    next: Vec<Vec<u64>>,
    /// Records read so far.
    count: u64,
    /// Per subject: its records, in the order the gateway read them.
    by_subject: Vec<Vec<Read>>,
}

impl Reads {
    /// A new gateway that has read nothing.
    pub fn new(log: &SimLog, subjects: &Subjects) -> Reads {
        Reads {
            next: (0..log.topic_count())
                .map(|t| vec![0; log.partition_count(t) as usize])
                .collect(),
            count: 0,
            by_subject: vec![Vec::new(); subjects.len()],
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The gateway learned that `partition` of `topic` starts at `start_offset`.
    pub fn log_start(&mut self, topic: usize, partition: u32, start_offset: u64) {
        let next = &mut self.next[topic][partition as usize];
        *next = (*next).max(start_offset);
    }

    /// The gateway is handed `record`: it takes it unless it is a redelivery.
    pub fn record(&mut self, log: &SimLog, subjects: &Subjects, record: &BrokerRecord) {
        let Some(topic) = log.topic_index(&record.topic) else {
            return;
        };
        let next = &mut self.next[topic][record.partition as usize];
        if record.offset < *next {
            return;
        }
        *next = record.offset + 1;
        let no = self.count;
        self.count += 1;
        let Some(subject) = subjects.routed(topic, record.partition, record.key.as_deref()) else {
            return;
        };
        let reads = &mut self.by_subject[subject];
        let stint = match reads.last() {
            None => 0,
            Some(last) if last.partition == record.partition => last.stint,
            Some(last) => last.stint + 1,
        };
        reads.push(Read {
            no,
            partition: record.partition,
            offset: record.offset,
            stint,
        });
    }

    /// The subject's last record among the first `n` read: where it was then.
    pub fn current(&self, subject: usize, n: u64) -> Option<Read> {
        let reads = &self.by_subject[subject];
        let i = reads.partition_point(|r| r.no < n);
        i.checked_sub(1).map(|i| reads[i])
    }

    /// The subject's first record read after the first `n`.
    pub fn first_after(&self, subject: usize, n: u64) -> Option<Read> {
        let reads = &self.by_subject[subject];
        reads.get(reads.partition_point(|r| r.no < n)).copied()
    }

    /// The offset from which the subject's records are on `read`'s partition for
    /// good, as far as the gateway knows: the record that moved it there, or 0 if
    /// the gateway never saw it elsewhere.
    pub fn stint_since(&self, subject: usize, read: Read) -> u64 {
        if read.stint == 0 {
            return 0;
        }
        let reads = &self.by_subject[subject];
        reads
            .iter()
            .find(|r| r.stint == read.stint)
            .map_or(read.offset, |r| r.offset)
    }

    /// The subject's latest value after the first `n` records read: its snapshot
    /// (§6): every retained record with a payload replaces it, a tombstone deletes
    /// it, and a record that moves the subject without replacing it (a tombstone or
    /// `retained: false`) leaves it without one. `(partition, offset)`.
    pub fn latest_value(
        &self,
        log: &SimLog,
        subject: usize,
        topic: usize,
        n: u64,
    ) -> Option<(u32, u64)> {
        let mut value: Option<(u32, u64)> = None;
        for read in self.by_subject[subject].iter().take_while(|r| r.no < n) {
            let Some(record) = log.record(topic, read.partition, read.offset) else {
                continue;
            };
            let replaces = record.is_retained() && record.payload.is_some();
            if replaces {
                value = Some((read.partition, read.offset));
            } else if record.payload.is_none() || value.is_some_and(|(p, _)| p != read.partition) {
                value = None;
            }
        }
        value
    }
}
