//! The data directory of a durable embedded broker: who holds it, how the last run
//! ended, and each topic's identity (its epochs) across restarts.
//!
//! ```text
//! <data_dir>/lock                          held while a broker runs on it
//! <data_dir>/state.json                    boot id, fsync policy, clean stop
//! <data_dir>/topics/<topic>/topic.json     partitions and their epochs
//! <data_dir>/topics/<topic>/<partition>/   segments, see `segment`
//! ```

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::storage::Storage;

/// When appended records are synced to disk, and so what an acknowledgement means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// A produce is acknowledged, and its record streamed, only once the record is
    /// synced; the produces that arrive together share one sync. Survives `kill
    /// -9` and power loss.
    Always,
    /// Acknowledged once written to the operating system; synced at least this
    /// often. Survives `kill -9`; a power loss may take the last interval, and
    /// then every partition starts a new epoch so clients resync.
    Interval(Duration),
    /// Acknowledged once written to the operating system, synced when the system
    /// chooses and at a clean stop. Survives `kill -9`; a power loss may take
    /// anything not yet written back (again with new epochs).
    Never,
}

impl FsyncPolicy {
    /// Whether records become visible only once synced.
    pub fn acks_after_sync(self) -> bool {
        self == FsyncPolicy::Always
    }

    fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Interval(_) => "interval",
            FsyncPolicy::Never => "never",
        }
    }
}

/// Where and how a durable embedded broker keeps its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableConfig {
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started past this size; retention
    /// deletes whole segments, so this is also how far the disk may run ahead of
    /// the retained log.
    pub segment_bytes_max: u64,
}

impl DurableConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DurableConfig {
            data_dir: data_dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes_max: 16 * 1024 * 1024,
        }
    }
}

/// How the previous run on this directory ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RunState {
    boot_id: String,
    fsync: String,
    clean: bool,
}

/// What a topic's directory says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicFile {
    pub name: String,
    /// One epoch per partition; a partition that lost records it may have served
    /// gets a new one.
    pub epochs: Vec<String>,
}

/// A data directory in use. Holding it keeps other brokers off the directory.
#[derive(Debug)]
pub(crate) struct DataDir {
    pub storage: Arc<dyn Storage>,
    pub config: DurableConfig,
    /// Locked for as long as this exists; `None` on storage without real files.
    _lock: Option<File>,
    /// True when the last run may have acknowledged records a power loss took:
    /// every partition then starts a new epoch.
    pub epochs_reset: bool,
}

impl DataDir {
    /// Takes the directory: creates it, locks it, and reads how the last run ended.
    pub fn open(
        storage: Arc<dyn Storage>,
        config: DurableConfig,
        real_files: bool,
    ) -> io::Result<DataDir> {
        storage.create_dir_all(&config.data_dir.join("topics"))?;
        let lock = if real_files {
            Some(lock(&config.data_dir)?)
        } else {
            None
        };
        let state_path = config.data_dir.join("state.json");
        let previous: Option<RunState> = match storage.read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let boot_id = storage.boot_id();
        let epochs_reset = previous.as_ref().is_some_and(|run| {
            !run.clean && run.fsync != FsyncPolicy::Always.name() && run.boot_id != boot_id
        });
        if epochs_reset {
            tracing::warn!(
                data_dir = %config.data_dir.display(),
                "embedded log: the machine restarted since the last run stopped without a clean shutdown, and that run acknowledged writes before syncing them; every partition starts a new epoch and clients resync"
            );
        }
        let dir = DataDir {
            storage,
            config,
            _lock: lock,
            epochs_reset,
        };
        dir.write_state(&boot_id, false)?;
        Ok(dir)
    }

    /// Records a clean stop: everything was synced.
    pub fn mark_clean(&self) -> io::Result<()> {
        self.write_state(&self.storage.boot_id(), true)
    }

    fn write_state(&self, boot_id: &str, clean: bool) -> io::Result<()> {
        let state = RunState {
            boot_id: boot_id.to_owned(),
            fsync: self.config.fsync.name().to_owned(),
            clean,
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        self.storage
            .write_atomic(&self.config.data_dir.join("state.json"), &bytes)
    }

    fn topics_dir(&self) -> PathBuf {
        self.config.data_dir.join("topics")
    }

    pub fn topic_dir(&self, topic: &str) -> PathBuf {
        self.topics_dir().join(topic)
    }

    pub fn partition_dir(&self, topic: &str, partition: u32) -> PathBuf {
        self.topic_dir(topic).join(partition.to_string())
    }

    /// The topics on disk, by their files. A topic directory whose `topic.json`
    /// cannot be read is an error, not a topic to forget: creating the topic
    /// again would replace its records.
    pub fn topics(&self) -> io::Result<Vec<TopicFile>> {
        let mut topics = Vec::new();
        for name in self.storage.list(&self.topics_dir())? {
            let path = self.topic_dir(&name).join("topic.json");
            let topic = self
                .storage
                .read(&path)
                .and_then(|bytes| serde_json::from_slice::<TopicFile>(&bytes).map_err(io::Error::other))
                .map_err(|err| {
                    io::Error::other(format!(
                        "{} is unreadable ({err}); move the topic's directory away to start without it",
                        path.display()
                    ))
                })?;
            if topic.name != name || topic.epochs.is_empty() {
                return Err(io::Error::other(format!(
                    "{} does not describe its directory; move the directory away to start without it",
                    path.display()
                )));
            }
            topics.push(topic);
        }
        Ok(topics)
    }

    pub fn write_topic(&self, topic: &TopicFile) -> io::Result<()> {
        let dir = self.topic_dir(&topic.name);
        self.storage.create_dir_all(&dir)?;
        let bytes = serde_json::to_vec_pretty(topic).map_err(io::Error::other)?;
        self.storage.write_atomic(&dir.join("topic.json"), &bytes)
    }

    pub fn remove_topic(&self, topic: &str) -> io::Result<()> {
        self.storage.remove_dir_all(&self.topic_dir(topic))?;
        self.storage.sync_dir(&self.topics_dir())
    }
}

/// An exclusive lock on `<dir>/lock`, so two processes never append to one log.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "in use by another sluice process (it holds {})",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}
