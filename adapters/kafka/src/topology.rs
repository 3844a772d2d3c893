//! Which topics are exposed, and what this gateway knows of their partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use regex::Regex;
use sluice_core::Epoch;

/// The rule deciding which topics are exposed: a fixed list and an optional regex.
#[derive(Debug)]
pub struct Exposure {
    topics: BTreeSet<String>,
    pattern: Option<Regex>,
}

impl Exposure {
    pub fn new(topics: Vec<String>, pattern: Option<&str>) -> Result<Self, regex::Error> {
        let pattern = pattern
            .map(|p| Regex::new(&format!("^(?:{p})$")))
            .transpose()?;
        Ok(Exposure {
            topics: topics.into_iter().collect(),
            pattern,
        })
    }

    pub fn exposes(&self, topic: &str) -> bool {
        self.topics.contains(topic) || self.pattern.as_ref().is_some_and(|p| p.is_match(topic))
    }

    /// Topics named in the list, which must exist for the gateway to be ready.
    pub fn listed(&self) -> impl Iterator<Item = &String> {
        self.topics.iter()
    }
}

/// One exposed topic as last seen in the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    /// The topic's UUID folded to 64 bits; `None` if the broker does not report ids.
    pub id: Option<u64>,
    pub partitions: u32,
}

impl TopicLayout {
    /// The epoch of one partition: the topic incarnation plus the partition.
    pub fn epoch(&self, topic: &str, partition: u32) -> Epoch {
        match self.id {
            Some(id) => Epoch::new(format!("{id:016x}-{partition}")),
            // Without ids a recreated topic cannot be told apart; name the topic instead.
            None => Epoch::new(format!("{topic}-{partition}")),
        }
    }
}

/// Shared between the metadata refresher and the fetchers, which must refuse a
/// fetch whose epoch is no longer current.
#[derive(Debug, Default)]
pub struct Topology {
    topics: Mutex<BTreeMap<String, TopicLayout>>,
}

impl Topology {
    pub fn get(&self, topic: &str) -> Option<TopicLayout> {
        self.lock().get(topic).cloned()
    }

    pub fn set(&self, topic: &str, layout: Option<TopicLayout>) {
        let mut topics = self.lock();
        match layout {
            Some(layout) => topics.insert(topic.to_owned(), layout),
            None => topics.remove(topic),
        };
    }

    pub fn topics(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TopicLayout>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_pattern_expose() {
        let e = Exposure::new(vec!["a".into()], Some("metrics\\..*")).unwrap();
        assert!(e.exposes("a"));
        assert!(e.exposes("metrics.cpu"));
        assert!(!e.exposes("xmetrics.cpu"));
        assert!(!e.exposes("b"));
        assert!(Exposure::new(vec![], Some("(")).is_err());
    }

    #[test]
    fn epochs_change_with_the_incarnation() {
        let a = TopicLayout {
            id: Some(1),
            partitions: 2,
        };
        let b = TopicLayout {
            id: Some(2),
            partitions: 2,
        };
        assert_ne!(a.epoch("t", 0), b.epoch("t", 0));
        assert_ne!(a.epoch("t", 0), a.epoch("t", 1));
    }
}
