//! The files of one partition: its segments on disk, the one being appended to, and
//! what has not been synced yet.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_core::BrokerRecord;

use crate::segment;
use crate::storage::{AppendFile, Storage};

/// One partition's segments. Every record the in-memory log holds is in them; the
/// log on disk may also hold older records of a segment not yet wholly dropped.
#[derive(Debug)]
pub(crate) struct PartitionFiles {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    /// Base offsets of the segments, oldest first; the last is appended to.
    segments: VecDeque<u64>,
    active: Arc<dyn AppendFile>,
    active_bytes: u64,
    segment_bytes_max: u64,
    /// Files appended to since the last [`Self::take_unsynced`]: the active one,
    /// and the one before it just after a roll.
    unsynced: Vec<Arc<dyn AppendFile>>,
    /// Reused for encoding, so an append allocates nothing once warm.
    buffer: Vec<u8>,
    /// Set by a failed write: the segment may end in part of a frame, and a
    /// record appended after it would be cut off at recovery with that frame,
    /// acknowledged or not. The partition takes no more writes until a restart
    /// truncates the tail.
    failed: Option<String>,
}

/// What recovery found in a partition's directory.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub files: PartitionFiles,
    pub records: Vec<BrokerRecord>,
    /// The offset the next record gets (a rolled, empty segment's base counts).
    pub next_offset: u64,
    /// Bytes cut from the end of the last segment.
    pub truncated_bytes: u64,
    /// Damage before the last segment's end: records may be lost that readers
    /// already saw, so the partition needs a new epoch.
    pub lost_inside: bool,
}

impl PartitionFiles {
    /// Opens (creating if needed) the partition in `dir`: reads every segment,
    /// truncates a torn or corrupt tail, and drops segments after a damaged one.
    pub fn recover(
        storage: Arc<dyn Storage>,
        dir: &Path,
        topic: &Arc<str>,
        partition: u32,
        segment_bytes_max: u64,
    ) -> io::Result<Recovered> {
        storage.create_dir_all(dir)?;
        let mut bases: Vec<u64> = storage
            .list(dir)?
            .iter()
            .filter_map(|name| segment::base_offset_of(name))
            .collect();
        bases.sort_unstable();
        let mut records: Vec<BrokerRecord> = Vec::new();
        let mut segments = VecDeque::new();
        let mut truncated_bytes = 0;
        let mut lost_inside = false;
        let mut active_bytes = 0;
        let mut next_offset = 0;
        for (index, &base) in bases.iter().enumerate() {
            let path = dir.join(segment::file_name(base));
            if lost_inside || records.last().is_some_and(|last| last.offset + 1 != base) {
                // After damage, or not where the log left off: not part of it.
                tracing::error!(path = %path.display(), "embedded log: removing a segment that does not continue the log");
                storage.remove_file(&path)?;
                lost_inside = true;
                continue;
            }
            let bytes = storage.read(&path)?;
            let read = segment::read(&bytes, base, topic, partition);
            let is_last = index + 1 == bases.len();
            if let Some(damage) = read.damage {
                let cut = bytes.len() - read.valid_bytes;
                if is_last {
                    tracing::warn!(
                        path = %path.display(),
                        ?damage,
                        kept_bytes = read.valid_bytes,
                        cut_bytes = cut,
                        "embedded log: truncated the segment's tail, which a crash left unfinished"
                    );
                } else {
                    tracing::error!(
                        path = %path.display(),
                        ?damage,
                        "embedded log: a segment is damaged before the log's end; records after it are lost and the partition starts a new epoch"
                    );
                    lost_inside = true;
                }
                storage.truncate(&path, read.valid_bytes as u64)?;
                truncated_bytes += cut as u64;
            }
            next_offset = base + read.records.len() as u64;
            active_bytes = read.valid_bytes as u64;
            records.extend(read.records);
            segments.push_back(base);
        }
        let active = match segments.back() {
            Some(&base) => storage.open_append(&dir.join(segment::file_name(base)))?,
            None => {
                segments.push_back(0);
                let file = storage.open_append(&dir.join(segment::file_name(0)))?;
                storage.sync_dir(dir)?;
                file
            }
        };
        Ok(Recovered {
            files: PartitionFiles {
                storage,
                dir: dir.to_owned(),
                segments,
                active,
                active_bytes,
                segment_bytes_max: segment_bytes_max.max(1),
                unsynced: Vec::new(),
                buffer: Vec::new(),
                failed: None,
            },
            records,
            next_offset,
            truncated_bytes,
            lost_inside,
        })
    }

    /// Writes `record` (its offset already set) to the active segment, first
    /// starting a new segment if the active one is full.
    pub fn append(&mut self, record: &BrokerRecord) -> io::Result<()> {
        if let Some(why) = &self.failed {
            return Err(io::Error::other(format!(
                "an earlier write failed ({why}); restart to recover the partition"
            )));
        }
        self.write(record)
            .inspect_err(|err| self.failed = Some(err.to_string()))
    }

    fn write(&mut self, record: &BrokerRecord) -> io::Result<()> {
        self.buffer.clear();
        segment::encode(record, &mut self.buffer);
        if self.active_bytes > 0
            && self.active_bytes + self.buffer.len() as u64 > self.segment_bytes_max
        {
            self.roll(record.offset)?;
        }
        self.active.append(&self.buffer)?;
        self.active_bytes += self.buffer.len() as u64;
        if !self
            .unsynced
            .iter()
            .any(|file| Arc::ptr_eq(file, &self.active))
        {
            self.unsynced.push(self.active.clone());
        }
        Ok(())
    }

    fn roll(&mut self, base_offset: u64) -> io::Result<()> {
        let file = self
            .storage
            .open_append(&self.dir.join(segment::file_name(base_offset)))?;
        // The new name must survive a crash before anything in it counts.
        self.storage.sync_dir(&self.dir)?;
        self.active = file;
        self.active_bytes = 0;
        self.segments.push_back(base_offset);
        Ok(())
    }

    /// The files with appends not yet synced; syncing them (outside the broker's
    /// lock) makes every record appended so far durable.
    pub fn take_unsynced(&mut self) -> Vec<Arc<dyn AppendFile>> {
        std::mem::take(&mut self.unsynced)
    }

    /// Removes the segments that hold only offsets below `start_offset`: what
    /// retention dropped. The active segment always stays.
    pub fn remove_below(&mut self, start_offset: u64) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[1] <= start_offset {
            let base = self.segments[0];
            self.storage
                .remove_file(&self.dir.join(segment::file_name(base)))?;
            self.segments.pop_front();
        }
        Ok(())
    }

    /// How many segment files the partition has.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}
