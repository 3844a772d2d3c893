//! The embedded broker's log on disk: restoring topics at start, syncing (group
//! commit and the interval thread), age retention, a clean close, and the
//! numbers the metrics show.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

use sluice_core::{BrokerError, Epoch};

use super::{fresh_incarnation, now_ms, MemoryBroker, Shared};
use crate::data_dir::{FsyncPolicy, TopicFile};
use crate::log::PartitionLog;
use crate::partition_files::PartitionFiles;
use crate::topic::{Topic, TopicError};

/// What the embedded broker holds, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogStats {
    /// Records held, over every partition.
    pub records: u64,
    /// Key plus payload bytes held (each partition bounded by `retention_bytes_max`).
    pub records_bytes: u64,
    /// Segment files on disk (0 with the log in memory only).
    pub segments: u64,
    pub syncs_total: u64,
    pub sync_seconds_total: f64,
}

impl MemoryBroker {
    /// Loads every topic of the data directory, with the epochs it had.
    pub(super) fn restore_topics(&self) -> Result<(), TopicError> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(());
        };
        let storage_error = |err: std::io::Error| TopicError::Storage(err.to_string());
        for mut file in dir.topics().map_err(storage_error)? {
            let name: Arc<str> = Arc::from(file.name.as_str());
            let mut logs = Vec::new();
            let mut epochs_changed = false;
            for (partition, epoch) in (0u32..).zip(file.epochs.iter_mut()) {
                let recovered = PartitionFiles::recover(
                    dir.storage.clone(),
                    &dir.partition_dir(&file.name, partition),
                    &name,
                    partition,
                    dir.config.segment_bytes_max,
                )
                .map_err(storage_error)?;
                if recovered.lost_inside || dir.epochs_reset {
                    *epoch = format!("{}-{partition}", fresh_incarnation(None));
                    epochs_changed = true;
                }
                tracing::info!(
                    topic = %name,
                    partition,
                    records = recovered.records.len(),
                    next_offset = recovered.next_offset,
                    truncated_bytes = recovered.truncated_bytes,
                    "embedded log: partition recovered"
                );
                let log = PartitionLog::recovered(
                    Epoch::new(epoch.clone()),
                    recovered,
                    self.retention(),
                    now_ms(),
                )
                .map_err(storage_error)?;
                logs.push(log);
            }
            if epochs_changed {
                dir.write_topic(&file).map_err(storage_error)?;
            }
            let mut state = self.lock();
            let generation = state.generation_next;
            state.generation_next += 1;
            state
                .topics
                .insert(name.clone(), Topic::new(name, logs, generation));
        }
        Ok(())
    }

    /// The thread that syncs on an interval and drops records past their age.
    pub(super) fn start_background(&self) {
        let period = match self.fsync() {
            Some(FsyncPolicy::Interval(interval)) => interval,
            _ if self.shared.config.retention_ms.is_some() => Duration::from_secs(1),
            _ => return,
        };
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("sluice-log-sync".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                let broker = MemoryBroker { shared };
                if matches!(broker.fsync(), Some(FsyncPolicy::Interval(_))) {
                    // A failure is logged and stops writes; nothing else to do here.
                    let _ = broker.sync();
                }
                broker.expire();
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "embedded log: cannot start the sync thread");
        }
    }

    /// The fsync policy of a durable broker.
    pub fn fsync(&self) -> Option<FsyncPolicy> {
        self.shared.data_dir.as_ref().map(|dir| dir.config.fsync)
    }

    /// True when produces must wait for [`Self::sync`] before they are answered.
    pub fn acks_after_sync(&self) -> bool {
        self.fsync().is_some_and(FsyncPolicy::acks_after_sync)
    }

    /// Makes every record appended so far durable, then visible. Blocks for the
    /// syncs, outside the broker's lock; call it off the async threads. A failed
    /// sync stops the broker taking writes: after an fsync error the kernel may
    /// have dropped the data, so nothing written since can be vouched for.
    pub fn sync(&self) -> Result<(), BrokerError> {
        if self.shared.data_dir.is_none() {
            return Ok(());
        }
        let _serial = self
            .shared
            .sync_serial
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending: Vec<_> =
            {
                let mut state = self.lock();
                state
                    .topics
                    .values_mut()
                    .flat_map(|topic| {
                        let (name, generation) = (topic.name.clone(), topic.generation);
                        topic.partitions.iter_mut().zip(0u32..).filter_map(
                            move |(log, partition)| {
                                let (files, end) = log.take_unsynced()?;
                                Some((name.clone(), generation, partition, files, end))
                            },
                        )
                    })
                    .collect()
            };
        if pending.is_empty() {
            return Ok(());
        }
        for (topic, _, partition, files, _) in &pending {
            for file in files {
                let started = Instant::now();
                let synced = file.sync();
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.shared.syncs_total.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .sync_micros_total
                    .fetch_add(micros, Ordering::Relaxed);
                if let Err(err) = synced {
                    tracing::error!(%topic, partition, %err, "embedded log: fsync failed; the broker stops taking writes");
                    self.set_available(false);
                    return Err(BrokerError::Unavailable(format!(
                        "the embedded log could not sync: {err}"
                    )));
                }
            }
        }
        {
            let mut state = self.lock();
            for (topic, generation, partition, _, end) in pending {
                let Some(topic) = state.topics.get_mut(&topic) else {
                    continue;
                };
                if topic.generation != generation {
                    continue;
                }
                if let Some(log) = topic.partition_mut(partition) {
                    log.expose_to(end);
                }
            }
        }
        self.notify();
        Ok(())
    }

    /// What the log holds and how often it synced.
    pub fn log_stats(&self) -> LogStats {
        let mut stats = LogStats {
            syncs_total: self.shared.syncs_total.load(Ordering::Relaxed),
            sync_seconds_total: self.shared.sync_micros_total.load(Ordering::Relaxed) as f64 / 1e6,
            ..LogStats::default()
        };
        let state = self.lock();
        for log in state
            .topics
            .values()
            .flat_map(|topic| topic.partitions.iter())
        {
            stats.records += log.records_len() as u64;
            stats.records_bytes += log.records_bytes() as u64;
            stats.segments += log.segment_count().unwrap_or(0) as u64;
        }
        stats
    }

    /// Drops records older than the retention age.
    pub(super) fn expire(&self) {
        if self.shared.config.retention_ms.is_none() {
            return;
        }
        let retention = self.retention();
        let now = now_ms();
        let mut state = self.lock();
        for log in state
            .topics
            .values_mut()
            .flat_map(|topic| topic.partitions.iter_mut())
        {
            if let Err(err) = log.enforce(retention, now) {
                tracing::warn!(%err, "embedded log: could not delete a segment retention dropped");
            }
        }
        drop(state);
        self.notify();
    }

    /// Syncs everything and records a clean stop, so the next start trusts the
    /// log whatever the fsync policy. Call before the process exits.
    pub fn close(&self) {
        let Some(dir) = &self.shared.data_dir else {
            return;
        };
        // Everything is written out, whatever the policy, before `clean` is set.
        let synced = self.sync();
        match synced
            .map_err(|err| err.to_string())
            .and_then(|()| dir.mark_clean().map_err(|err| err.to_string()))
        {
            Ok(()) => {
                tracing::info!(data_dir = %dir.config.data_dir.display(), "embedded log: synced and closed")
            }
            Err(err) => tracing::error!(%err, "embedded log: could not close cleanly"),
        }
    }

    /// The logs of a new topic: in memory, or in fresh files with the topic's
    /// epochs written before any record.
    pub(super) fn new_partition_logs(
        &self,
        name: &Arc<str>,
        epochs: Vec<Epoch>,
    ) -> Result<Vec<PartitionLog>, TopicError> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(epochs.into_iter().map(PartitionLog::new).collect());
        };
        let storage_error =
            |err: std::io::Error| TopicError::Storage(format!("topic {name:?}: {err}"));
        // A directory left by a topic deleted while the process died goes first.
        dir.remove_topic(name).map_err(storage_error)?;
        dir.write_topic(&TopicFile {
            name: name.to_string(),
            epochs: epochs
                .iter()
                .map(|epoch| epoch.as_str().to_owned())
                .collect(),
        })
        .map_err(storage_error)?;
        epochs
            .into_iter()
            .zip(0u32..)
            .map(|(epoch, partition)| {
                let recovered = PartitionFiles::recover(
                    dir.storage.clone(),
                    &dir.partition_dir(name, partition),
                    name,
                    partition,
                    dir.config.segment_bytes_max,
                )
                .map_err(storage_error)?;
                PartitionLog::recovered(epoch, recovered, self.retention(), now_ms())
                    .map_err(storage_error)
            })
            .collect()
    }
}
