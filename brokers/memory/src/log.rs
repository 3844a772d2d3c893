//! One partition's log: an append-only run of records with bounded retention.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use sluice_core::{BrokerError, BrokerRecord, Epoch, Fetched};

use crate::partition_files::{PartitionFiles, Recovered};
use crate::storage::AppendFile;

/// The records of one partition. Offsets are dense and never reused: dropping old
/// records only moves `start_offset` forward, so a `(epoch, seq)` a client holds
/// either still names the same record or is reported as gone.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    epoch: Epoch,
    /// `records[i]` has offset `start_offset + i`.
    records: VecDeque<BrokerRecord>,
    start_offset: u64,
    /// Key plus payload bytes of `records`, the measure retention bounds.
    records_bytes: usize,
    /// Records below this offset may be read; those above wait for their sync
    /// (with `fsync = always`), so nobody sees a record a crash could take back.
    visible_end: u64,
    /// Where the records are kept on disk, for a durable broker.
    files: Option<PartitionFiles>,
}

/// How much of a partition to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub records_max: usize,
    pub bytes_max: usize,
    /// Records older than this many milliseconds are dropped; `None` keeps them.
    pub age_ms_max: Option<u64>,
}

/// Whether an append is visible at once or only after its sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    AtWrite,
    AfterSync,
}

impl PartitionLog {
    pub fn new(epoch: Epoch) -> Self {
        PartitionLog {
            epoch,
            records: VecDeque::new(),
            start_offset: 0,
            records_bytes: 0,
            visible_end: 0,
            files: None,
        }
    }

    /// The log of a partition read back from disk, cut to `retention` as of
    /// `now_ms`; everything recovered is visible (it was synced, or the run that
    /// wrote it acknowledged it).
    pub fn recovered(
        epoch: Epoch,
        recovered: Recovered,
        retention: Retention,
        now_ms: i64,
    ) -> io::Result<Self> {
        let mut log = PartitionLog::new(epoch);
        log.start_offset = recovered
            .records
            .first()
            .map_or(recovered.next_offset, |first| first.offset);
        for record in recovered.records {
            log.records_bytes += bytes_of(&record);
            log.records.push_back(record);
        }
        log.visible_end = log.next_offset();
        debug_assert_eq!(log.next_offset(), recovered.next_offset);
        log.files = Some(recovered.files);
        log.enforce(retention, now_ms)?;
        Ok(log)
    }

    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// The oldest offset still held (equal to [`Self::next_offset`] when empty).
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// The offset the next record will get.
    pub fn next_offset(&self) -> u64 {
        self.start_offset + self.records.len() as u64
    }

    /// Records held.
    pub fn records_len(&self) -> usize {
        self.records.len()
    }

    /// Key plus payload bytes held: what `retention_bytes_max` bounds.
    pub fn records_bytes(&self) -> usize {
        self.records_bytes
    }

    /// Segment files of a durable log.
    pub fn segment_count(&self) -> Option<usize> {
        self.files.as_ref().map(PartitionFiles::segment_count)
    }

    /// The end of what readers may see: Kafka's high watermark.
    pub fn visible_end(&self) -> u64 {
        self.visible_end
    }

    /// Makes the records below `end` visible, once they are synced.
    pub fn expose_to(&mut self, end: u64) {
        self.visible_end = self.visible_end.max(end.min(self.next_offset()));
    }

    /// The files appended to since the last call, and the offset up to which
    /// syncing them makes the log durable.
    pub fn take_unsynced(&mut self) -> Option<(Vec<Arc<dyn AppendFile>>, u64)> {
        let files = self.files.as_mut()?.take_unsynced();
        (!files.is_empty()).then(|| (files, self.next_offset()))
    }

    /// Appends `record` with the next offset (writing it to disk first, for a
    /// durable log), then drops the oldest records until the log fits `retention`
    /// again. Returns the record's offset.
    pub fn append(
        &mut self,
        mut record: BrokerRecord,
        retention: Retention,
        visibility: Visibility,
    ) -> Result<u64, BrokerError> {
        let record_bytes = bytes_of(&record);
        // Refused rather than stored and dropped at once, which would ack a write
        // nobody can ever read.
        if record_bytes > retention.bytes_max {
            return Err(BrokerError::TooLarge);
        }
        let offset = self.next_offset();
        record.offset = offset;
        if let Some(files) = &mut self.files {
            files.append(&record).map_err(|err| {
                tracing::error!(%err, "embedded log: a write failed");
                BrokerError::Unavailable(format!("the embedded log could not write: {err}"))
            })?;
        }
        let now_ms = record.timestamp_ms;
        self.records.push_back(record);
        self.records_bytes += record_bytes;
        if visibility == Visibility::AtWrite {
            self.visible_end = self.next_offset();
        }
        // The record is written: a failure to delete old segments is only logged.
        if let Err(err) = self.enforce(retention, now_ms) {
            tracing::warn!(%err, "embedded log: could not delete a segment retention dropped");
        }
        Ok(offset)
    }

    /// Drops the oldest records while the log is over `retention` as of
    /// `now_ms`, keeping at least the newest, and deletes the segments that held
    /// only dropped records.
    pub fn enforce(&mut self, retention: Retention, now_ms: i64) -> io::Result<()> {
        let records_max = retention.records_max.max(1);
        let oldest_kept_ms = retention
            .age_ms_max
            .map(|age| now_ms.saturating_sub(i64::try_from(age).unwrap_or(i64::MAX)));
        let start_before = self.start_offset;
        while self.records.len() > 1 {
            let front = &self.records[0];
            let too_old = oldest_kept_ms.is_some_and(|oldest| front.timestamp_ms < oldest);
            if self.records.len() <= records_max
                && self.records_bytes <= retention.bytes_max
                && !too_old
            {
                break;
            }
            let Some(dropped) = self.records.pop_front() else {
                break;
            };
            self.records_bytes -= bytes_of(&dropped);
            self.start_offset += 1;
        }
        match &mut self.files {
            Some(files) if self.start_offset != start_before => {
                files.remove_below(self.start_offset)
            }
            _ => Ok(()),
        }
    }

    /// The visible records from `offset` on (from the log start if `offset` is
    /// older).
    pub fn records_from(&self, offset: u64) -> impl Iterator<Item = &BrokerRecord> {
        let skip = offset.saturating_sub(self.start_offset);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let visible = self.visible_end.saturating_sub(self.start_offset);
        let visible = usize::try_from(visible).unwrap_or(usize::MAX);
        self.records.iter().take(visible).skip(skip)
    }

    /// Answers a [`sluice_core::BrokerCommand::Fetch`]: records in
    /// `from_offset..=to_offset` whose key equals `key`, examining at most
    /// `examined_max` offsets.
    ///
    /// Offsets at or above the high watermark hold nothing yet and count as
    /// examined, so a fetch reaching the end of the log is complete
    /// (`next_offset > to_offset`); later records arrive as streamed `Records`.
    pub fn fetch(
        &self,
        epoch: &Epoch,
        key: Option<&[u8]>,
        from_offset: u64,
        to_offset: u64,
        examined_max: usize,
    ) -> Result<Fetched, BrokerError> {
        // Epoch first: an offset from another incarnation means nothing here.
        if *epoch != self.epoch {
            return Err(BrokerError::EpochChanged);
        }
        if from_offset < self.start_offset {
            return Err(BrokerError::OffsetOutOfRange);
        }
        if from_offset > to_offset {
            return Ok(Fetched {
                records: Vec::new(),
                first_offset: from_offset,
                next_offset: from_offset,
            });
        }
        let wanted_end = to_offset.saturating_add(1).min(self.visible_end);
        let examined_end = from_offset.saturating_add(examined_max.max(1) as u64);
        let scan_end = wanted_end.min(examined_end);
        let scan_len = usize::try_from(scan_end.saturating_sub(from_offset)).unwrap_or(usize::MAX);
        let records = self
            .records_from(from_offset)
            .take(scan_len)
            .filter(|record| record.key.as_deref() == key)
            .cloned()
            .collect();
        let next_offset = if examined_end < wanted_end {
            examined_end
        } else {
            to_offset.saturating_add(1)
        };
        Ok(Fetched {
            records,
            first_offset: from_offset,
            next_offset,
        })
    }
}

/// What retention counts for a record: key plus payload bytes.
fn bytes_of(record: &BrokerRecord) -> usize {
    record.key.as_ref().map_or(0, |key| key.len())
        + record.payload.as_ref().map_or(0, |payload| payload.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    const ROOMY: Retention = Retention {
        records_max: 1000,
        bytes_max: 1 << 20,
        age_ms_max: None,
    };

    fn record(key: &str, payload: &str) -> BrokerRecord {
        BrokerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: u64::MAX,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            payload: Some(Bytes::copy_from_slice(payload.as_bytes())),
            headers: Vec::new().into(),
            timestamp_ms: 0,
            handed_over_unix_us: 0,
        }
    }

    fn log() -> PartitionLog {
        PartitionLog::new(Epoch::new("e-0"))
    }

    #[test]
    fn offsets_count_up_from_zero() {
        let mut log = log();
        for expected in 0..5 {
            assert_eq!(
                log.append(record("k", "v"), ROOMY, Visibility::AtWrite),
                Ok(expected)
            );
        }
        assert_eq!(log.start_offset(), 0);
        assert_eq!(log.next_offset(), 5);
        let offsets: Vec<u64> = log.records_from(0).map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn record_count_retention_drops_oldest_and_never_reuses_offsets() {
        let mut log = log();
        let retention = Retention {
            records_max: 3,
            bytes_max: 1 << 20,
            age_ms_max: None,
        };
        for _ in 0..5 {
            log.append(record("k", "v"), retention, Visibility::AtWrite)
                .unwrap();
        }
        assert_eq!(log.start_offset(), 2);
        assert_eq!(log.next_offset(), 5);
        assert_eq!(
            log.append(record("k", "v"), retention, Visibility::AtWrite),
            Ok(5)
        );
        let offsets: Vec<u64> = log.records_from(0).map(|r| r.offset).collect();
        assert_eq!(offsets, [3, 4, 5]);
    }

    #[test]
    fn byte_retention_counts_key_and_payload() {
        let mut log = log();
        // Each record is 1 key byte + 4 payload bytes; 12 bytes hold two of them.
        let retention = Retention {
            records_max: 1000,
            bytes_max: 12,
            age_ms_max: None,
        };
        for _ in 0..4 {
            log.append(record("k", "vvvv"), retention, Visibility::AtWrite)
                .unwrap();
        }
        assert_eq!(log.start_offset(), 2);
        assert_eq!(log.records_from(0).count(), 2);
    }

    #[test]
    fn record_larger_than_byte_retention_is_refused() {
        let mut log = log();
        let retention = Retention {
            records_max: 1000,
            bytes_max: 4,
            age_ms_max: None,
        };
        log.append(record("k", "vvv"), retention, Visibility::AtWrite)
            .unwrap();
        assert_eq!(
            log.append(record("k", "vvvv"), retention, Visibility::AtWrite),
            Err(BrokerError::TooLarge)
        );
        assert_eq!(log.next_offset(), 1, "a refused record takes no offset");
    }

    #[test]
    fn fetch_below_start_is_out_of_range() {
        let mut log = log();
        let retention = Retention {
            records_max: 2,
            bytes_max: 1 << 20,
            age_ms_max: None,
        };
        for _ in 0..4 {
            log.append(record("k", "v"), retention, Visibility::AtWrite)
                .unwrap();
        }
        let epoch = log.epoch().clone();
        assert_eq!(
            log.fetch(&epoch, Some(b"k"), 1, 3, 100),
            Err(BrokerError::OffsetOutOfRange)
        );
        let fetched = log.fetch(&epoch, Some(b"k"), 2, 3, 100).unwrap();
        assert_eq!(fetched.records.len(), 2);
    }

    #[test]
    fn fetch_with_another_epoch_is_refused() {
        let mut log = log();
        log.append(record("k", "v"), ROOMY, Visibility::AtWrite)
            .unwrap();
        assert_eq!(
            log.fetch(&Epoch::new("other-0"), Some(b"k"), 0, 0, 100),
            Err(BrokerError::EpochChanged)
        );
    }

    #[test]
    fn fetch_filters_by_key_and_stops_after_examined_max() {
        let mut log = log();
        // Offsets 0..10, key "a" on even offsets, "b" on odd ones.
        for i in 0..10 {
            let key = if i % 2 == 0 { "a" } else { "b" };
            log.append(record(key, &i.to_string()), ROOMY, Visibility::AtWrite)
                .unwrap();
        }
        let epoch = log.epoch().clone();

        let first = log.fetch(&epoch, Some(b"a"), 0, 9, 3).unwrap();
        let offsets: Vec<u64> = first.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 2]);
        assert_eq!(first.next_offset, 3);

        let second = log.fetch(&epoch, Some(b"a"), 3, 9, 3).unwrap();
        let offsets: Vec<u64> = second.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [4]);
        assert_eq!(second.next_offset, 6);

        let last = log.fetch(&epoch, Some(b"a"), 6, 9, 100).unwrap();
        let offsets: Vec<u64> = last.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [6, 8]);
        assert_eq!(last.next_offset, 10, "complete: past to_offset");
    }

    #[test]
    fn fetch_honours_to_offset_and_null_keys() {
        let mut log = log();
        let mut null_key = record("x", "v");
        null_key.key = None;
        log.append(null_key.clone(), ROOMY, Visibility::AtWrite)
            .unwrap();
        log.append(record("x", "v"), ROOMY, Visibility::AtWrite)
            .unwrap();
        log.append(null_key, ROOMY, Visibility::AtWrite).unwrap();
        let epoch = log.epoch().clone();

        let fetched = log.fetch(&epoch, None, 0, 1, 100).unwrap();
        let offsets: Vec<u64> = fetched.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0], "offset 2 is past to_offset");
        assert_eq!(fetched.next_offset, 2);
    }

    #[test]
    fn fetch_past_the_high_watermark_is_complete() {
        let mut log = log();
        log.append(record("k", "v"), ROOMY, Visibility::AtWrite)
            .unwrap();
        let epoch = log.epoch().clone();
        let fetched = log.fetch(&epoch, Some(b"k"), 0, 50, 100).unwrap();
        assert_eq!(fetched.records.len(), 1);
        assert_eq!(fetched.next_offset, 51);
        let empty = log.fetch(&epoch, Some(b"k"), 5, 4, 100).unwrap();
        assert!(empty.records.is_empty());
        assert_eq!(empty.next_offset, 5);
    }

    #[test]
    fn fetch_with_zero_examined_max_still_progresses() {
        let mut log = log();
        log.append(record("k", "v"), ROOMY, Visibility::AtWrite)
            .unwrap();
        log.append(record("k", "v"), ROOMY, Visibility::AtWrite)
            .unwrap();
        let epoch = log.epoch().clone();
        let fetched = log.fetch(&epoch, Some(b"k"), 0, 1, 0).unwrap();
        assert_eq!(fetched.records.len(), 1);
        assert_eq!(fetched.next_offset, 1);
    }
}
