//! The Portal's changes as stored (in the state file, or as records of the
//! compacted topic), and how they combine with the config's starting set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_core::ExposureChange;

/// One stored change: what, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChange {
    pub change: ExposureChange,
    /// Who asked: the admin API's caller (`token` or `anonymous`, and the address).
    pub by: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl StoredChange {
    /// The record key: the latest change of a key wins (compaction keeps it).
    pub fn key(&self) -> String {
        change_key(&self.change)
    }
}

/// `topic:<name>` or `pattern:<regex>`.
pub fn change_key(change: &ExposureChange) -> String {
    match change {
        ExposureChange::Topic { name, .. } => format!("topic:{name}"),
        ExposureChange::Pattern { regex, .. } => format!("pattern:{regex}"),
    }
}

/// The latest change of each key: the state file's content, or the compacted
/// topic read to its end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureState {
    pub changes: BTreeMap<String, StoredChange>,
}

impl ExposureState {
    /// Folds one change in; returns false if it is the same as what is stored.
    pub fn record(&mut self, change: StoredChange) -> bool {
        let key = change.key();
        if self.changes.get(&key).map(|c| &c.change) == Some(&change.change) {
            return false;
        }
        self.changes.insert(key, change);
        true
    }

    /// The changes, to apply on top of the config's starting set.
    pub fn to_changes(&self) -> Vec<ExposureChange> {
        self.changes.values().map(|c| c.change.clone()).collect()
    }

    /// The config's `topics` and `patterns` with the stored changes applied: a
    /// stored change wins over the config (a topic stopped through the Portal stays
    /// stopped after a restart even if the config lists it).
    pub fn effective(&self, topics: &[String], patterns: &[String]) -> (Vec<String>, Vec<String>) {
        let mut topics: Vec<String> = topics.to_vec();
        let mut patterns: Vec<String> = patterns.to_vec();
        for stored in self.changes.values() {
            match &stored.change {
                ExposureChange::Topic { name, exposed } => {
                    topics.retain(|t| t != name);
                    if *exposed {
                        topics.push(name.clone());
                    }
                }
                ExposureChange::Pattern { regex, exposed } => {
                    patterns.retain(|p| p != regex);
                    if *exposed {
                        patterns.push(regex.clone());
                    }
                }
            }
        }
        topics.sort();
        topics.dedup();
        (topics, patterns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, exposed: bool) -> StoredChange {
        StoredChange {
            change: ExposureChange::Topic {
                name: name.into(),
                exposed,
            },
            by: "test".into(),
            at_ms: 0,
        }
    }

    #[test]
    fn stored_changes_win_over_the_config() {
        let mut state = ExposureState::default();
        state.record(topic("news", true));
        state.record(topic("demo", false));
        let (topics, _) = state.effective(&["demo".into(), "chat".into()], &[]);
        assert_eq!(topics, vec!["chat".to_string(), "news".to_string()]);
        assert!(!state.record(topic("news", true)), "the same change again");
        assert!(state.record(topic("news", false)));
        let (topics, _) = state.effective(&["demo".into(), "chat".into()], &[]);
        assert_eq!(topics, vec!["chat".to_string()]);
    }
}
