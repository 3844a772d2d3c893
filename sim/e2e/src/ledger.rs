//! The checker's answer key: every incarnation of the topic, each a log of every
//! record ever appended to it. The log server has one incarnation for the whole
//! run (each restart hands in a fuller copy of it); on Kafka, a topic deleted and
//! created again starts a new one, and messages are checked against the
//! incarnation their epoch names.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sluice_core::Epoch;
use sluice_memory_broker::MemoryBroker;

use crate::plan::TOPIC;

/// Cheap to clone; clones share the incarnations.
#[derive(Clone, Default)]
pub struct Ledger {
    incarnations: Arc<Mutex<Vec<(String, MemoryBroker)>>>,
}

impl Ledger {
    /// Makes `log` the record of `incarnation` (replacing an earlier copy of the
    /// same incarnation) and the current one.
    pub fn set(&self, incarnation: &str, log: MemoryBroker) {
        let mut incarnations = self.lock();
        incarnations.retain(|(name, _)| name != incarnation);
        incarnations.push((incarnation.to_owned(), log));
    }

    /// The incarnation new records go to.
    pub fn current(&self) -> Option<MemoryBroker> {
        self.lock().last().map(|(_, log)| log.clone())
    }

    /// The incarnation an epoch (`{incarnation}-{partition}`) belongs to.
    pub fn of_epoch(&self, epoch: &Epoch) -> Option<MemoryBroker> {
        let (incarnation, _) = epoch.as_str().rsplit_once('-')?;
        self.incarnation(incarnation)
    }

    pub fn incarnation(&self, incarnation: &str) -> Option<MemoryBroker> {
        self.lock()
            .iter()
            .find(|(name, _)| name == incarnation)
            .map(|(_, log)| log.clone())
    }

    pub fn all(&self) -> Vec<MemoryBroker> {
        self.lock().iter().map(|(_, log)| log.clone()).collect()
    }

    /// The epoch of `partition` in the current incarnation.
    pub fn current_epoch(&self, partition: u32) -> Option<Epoch> {
        self.current()?
            .topic_meta(TOPIC)?
            .into_iter()
            .find(|p| p.partition == partition)
            .map(|p| p.epoch)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, MemoryBroker)>> {
        self.incarnations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
