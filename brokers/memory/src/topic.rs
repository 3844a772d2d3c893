//! A topic: one incarnation of a name, with its partition logs.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use sluice_core::{Epoch, PartitionMeta};

use crate::log::PartitionLog;

/// One incarnation of a topic. Deleting and creating the name again gives a new
/// incarnation, hence new epochs, so offsets from the old logs can't be mistaken
/// for offsets in the new ones.
#[derive(Debug)]
pub(crate) struct Topic {
    pub name: Arc<str>,
    /// Broker-unique and increasing, so a session can tell a recreated topic from
    /// the one it described even if the random incarnation text repeats.
    pub generation: u64,
    pub partitions: Vec<PartitionLog>,
}

impl Topic {
    pub fn new(name: Arc<str>, partitions: Vec<PartitionLog>, generation: u64) -> Self {
        Topic {
            name,
            generation,
            partitions,
        }
    }

    /// The epoch of each partition of a topic incarnation.
    pub fn epochs(partition_count: u32, incarnation: &str) -> Vec<Epoch> {
        (0..partition_count)
            .map(|partition| Epoch::new(format!("{incarnation}-{partition}")))
            .collect()
    }

    pub fn partition(&self, partition: u32) -> Option<&PartitionLog> {
        self.partitions.get(usize::try_from(partition).ok()?)
    }

    pub fn partition_mut(&mut self, partition: u32) -> Option<&mut PartitionLog> {
        self.partitions.get_mut(usize::try_from(partition).ok()?)
    }

    pub fn partition_count(&self) -> u32 {
        // Created from a `u32` count, so it fits.
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    /// The partitions as a gateway sees them, with `start_offset` taken from
    /// `start_offsets` (one per partition).
    pub fn meta(&self, start_offsets: impl IntoIterator<Item = u64>) -> Vec<PartitionMeta> {
        self.partitions
            .iter()
            .zip(0u32..)
            .zip(start_offsets)
            .map(|((log, partition), start_offset)| PartitionMeta {
                partition,
                epoch: log.epoch().clone(),
                start_offset,
            })
            .collect()
    }

    /// The current log start of every partition.
    pub fn start_offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.partitions.iter().map(PartitionLog::start_offset)
    }
}

/// Why a topic could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// The name is not a Kafka topic name (`[a-zA-Z0-9._-]{1,249}`).
    InvalidName(String),
    /// A topic needs at least one partition.
    NoPartitions(String),
    /// The name is taken; delete it first to recreate it.
    AlreadyExists(String),
    /// The data directory of a durable broker could not be read or written.
    Storage(String),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::InvalidName(name) => write!(f, "invalid topic name {name:?}"),
            TopicError::NoPartitions(name) => {
                write!(f, "topic {name:?} needs at least one partition")
            }
            TopicError::AlreadyExists(name) => write!(f, "topic {name:?} already exists"),
            TopicError::Storage(reason) => write!(f, "embedded log: {reason}"),
        }
    }
}

impl Error for TopicError {}
