//! Which topics are exposed, and what this gateway knows of their partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use regex::Regex;
use sluice_core::Epoch;

/// The rule deciding which topics are exposed: the configured list, an optional
/// configured regex, and what the Portal exposed since (topics and regexes).
#[derive(Debug)]
pub struct Exposure {
    topics: BTreeSet<String>,
    pattern: Option<Regex>,
    /// Topics exposed through the Portal (or stopped: then also taken from `topics`).
    extra_topics: BTreeSet<String>,
    extra_patterns: Vec<(String, Regex)>,
}

impl Exposure {
    pub fn new(topics: Vec<String>, pattern: Option<&str>) -> Result<Self, regex::Error> {
        let pattern = pattern
            .map(|p| Regex::new(&format!("^(?:{p})$")))
            .transpose()?;
        Ok(Exposure {
            topics: topics.into_iter().collect(),
            pattern,
            extra_topics: BTreeSet::new(),
            extra_patterns: Vec::new(),
        })
    }

    pub fn exposes(&self, topic: &str) -> bool {
        self.topics.contains(topic)
            || self.extra_topics.contains(topic)
            || self.pattern.as_ref().is_some_and(|p| p.is_match(topic))
            || self.extra_patterns.iter().any(|(_, p)| p.is_match(topic))
    }

    /// Topics named in the configured list, which must exist for the gateway to be
    /// ready. (Topics the Portal exposed do not hold readiness back: one deleted
    /// from Kafka meanwhile must not keep a restarted gateway from serving.)
    pub fn listed(&self) -> impl Iterator<Item = &String> {
        self.topics.iter()
    }

    /// Applies a Portal change. A stopped topic leaves the configured list too.
    pub fn apply(&mut self, change: &sluice_core::ExposureChange) {
        use sluice_core::ExposureChange;
        match change {
            ExposureChange::Topic {
                name,
                exposed: true,
            } => {
                self.extra_topics.insert(name.clone());
            }
            ExposureChange::Topic {
                name,
                exposed: false,
            } => {
                self.extra_topics.remove(name);
                self.topics.remove(name);
            }
            ExposureChange::Pattern { regex, exposed } => {
                self.extra_patterns.retain(|(source, _)| source != regex);
                if *exposed {
                    // The core refuses the same patterns; an invalid one changes nothing.
                    if let Ok(compiled) = sluice_core::compile_pattern(regex) {
                        self.extra_patterns.push((regex.clone(), compiled));
                    }
                }
            }
        }
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
#[derive(Debug)]
pub struct Topology {
    topics: Mutex<BTreeMap<String, TopicLayout>>,
    /// The broker that answered the last metadata request (-1: none yet). Topic
    /// ids are asked of it rather than of the controller, which a cluster may
    /// advertise out of reach (and does, for a while, after an outage).
    answering_broker: std::sync::atomic::AtomicI32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            topics: Mutex::default(),
            answering_broker: std::sync::atomic::AtomicI32::new(-1),
        }
    }
}

impl Topology {
    pub fn answering_broker(&self) -> i32 {
        self.answering_broker
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_answering_broker(&self, broker: i32) {
        self.answering_broker
            .store(broker, std::sync::atomic::Ordering::Relaxed);
    }

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
