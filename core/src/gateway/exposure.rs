//! What is exposed, and changing it while clients are connected (the Portal's
//! inputs), plus the read-only views the Portal shows: topics with their counts and
//! the subjects of a topic with their snapshots.
//!
//! A topic is exposed when it is listed (`exposed_topics`, or exposed through the
//! Portal), or when the broker announced it and it matches an exposed pattern. When
//! a change leaves a topic unexposed, each subscription to it ends with an `error`
//! `not_exposed` (no request id) and nobody else is disturbed.

use std::collections::{BTreeMap, BTreeSet};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::Gateway;
use crate::ids::ClientId;
use crate::protocol::{ErrorCode, ServerFrame};
use crate::subject::{is_valid_topic, Subject};

/// Longest pattern accepted, in bytes.
pub const PATTERN_BYTES_MAX: usize = 1024;
/// Compiled size allowed to one pattern: a hostile regex is refused, not built.
const PATTERN_COMPILED_BYTES_MAX: usize = 1 << 20;

/// One change of what is exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExposureChange {
    /// Expose (or stop exposing) one topic by name.
    Topic { name: String, exposed: bool },
    /// Expose (or stop exposing) every announced topic whose whole name matches the
    /// regex.
    Pattern { regex: String, exposed: bool },
}

impl ExposureChange {
    /// Checks the name or compiles the regex; the core ignores a change that fails.
    pub fn validate(&self) -> Result<(), ExposureError> {
        match self {
            ExposureChange::Topic { name, .. } if !is_valid_topic(name) => {
                Err(ExposureError::InvalidTopic(name.clone()))
            }
            ExposureChange::Topic { .. } => Ok(()),
            ExposureChange::Pattern { regex, .. } => compile_pattern(regex).map(drop),
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExposureError {
    #[error("{0:?} is not a valid topic name (1 to 249 characters of [a-zA-Z0-9._-])")]
    InvalidTopic(String),
    #[error("not a valid pattern: {0}")]
    InvalidPattern(String),
}

#[derive(Debug, Clone)]
pub(super) struct TopicPattern {
    source: String,
    regex: Regex,
}

/// Compiles `source` anchored to the whole topic name, within bounded size.
pub fn compile_pattern(source: &str) -> Result<Regex, ExposureError> {
    if source.is_empty() || source.len() > PATTERN_BYTES_MAX {
        return Err(ExposureError::InvalidPattern(format!(
            "a pattern is 1 to {PATTERN_BYTES_MAX} bytes"
        )));
    }
    RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(PATTERN_COMPILED_BYTES_MAX)
        .dfa_size_limit(PATTERN_COMPILED_BYTES_MAX)
        .build()
        .map_err(|e| ExposureError::InvalidPattern(e.to_string()))
}

/// The patterns of a config; invalid ones are left out (the binary validates first).
pub(super) fn compile_patterns(sources: &[String]) -> Vec<TopicPattern> {
    sources
        .iter()
        .filter_map(|source| {
            Some(TopicPattern {
                source: source.clone(),
                regex: compile_pattern(source).ok()?,
            })
        })
        .collect()
}

/// One topic as the Portal lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicInfo {
    pub name: String,
    /// Listed by name (`exposed_topics` or the Portal), rather than by a pattern.
    pub listed: bool,
    /// Partitions the broker announced; 0 until it has.
    pub partitions: u64,
    /// Sum over partitions of the next offset to read: how many records the topic's
    /// partitions have held, as far as this gateway has read them.
    pub records_seen: u64,
    pub subjects_with_snapshot: u64,
    /// Subscriptions to subjects of this topic.
    pub subscribers: u64,
}

/// One subject as the Portal's subject browser shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectInfo {
    pub subject: String,
    /// Offset of the snapshot, if the subject has one.
    pub seq: Option<u64>,
    pub epoch: Option<String>,
    /// The snapshot's first bytes, as text (invalid UTF-8 replaced).
    pub snapshot_preview: Option<String>,
    /// The snapshot's whole size.
    pub snapshot_bytes: Option<u64>,
    /// Whether the preview is shorter than the snapshot.
    pub snapshot_truncated: bool,
    pub subscribers: u64,
}

impl Gateway {
    /// Whether clients may use `topic`: listed, or announced by the broker and
    /// matching an exposed pattern.
    pub fn is_exposed(&self, topic: &str) -> bool {
        self.exposed.contains(topic)
            || (self.topic_known(topic) && self.patterns.iter().any(|p| p.regex.is_match(topic)))
    }

    /// The topics exposed by name.
    pub fn exposed_topics(&self) -> Vec<String> {
        self.exposed.iter().cloned().collect()
    }

    /// The exposed patterns, as given.
    pub fn exposed_patterns(&self) -> Vec<String> {
        self.patterns.iter().map(|p| p.source.clone()).collect()
    }

    /// Whether an exposed pattern matches `topic` (so it stays exposed while the
    /// broker has it, listed or not).
    pub fn pattern_matches(&self, topic: &str) -> bool {
        self.patterns.iter().any(|p| p.regex.is_match(topic))
    }

    pub(super) fn on_exposure(&mut self, change: ExposureChange) {
        match change {
            ExposureChange::Topic { name, exposed } => {
                if !is_valid_topic(&name) {
                    return;
                }
                if exposed {
                    self.exposed.insert(name);
                } else {
                    self.exposed.remove(&name);
                }
            }
            ExposureChange::Pattern { regex, exposed } => {
                self.patterns.retain(|p| p.source != regex);
                if exposed {
                    let Ok(compiled) = compile_pattern(&regex) else {
                        return;
                    };
                    self.patterns.push(TopicPattern {
                        source: regex,
                        regex: compiled,
                    });
                }
            }
        }
        self.end_unexposed_subscriptions();
    }

    /// Ends every subscription whose topic is no longer exposed, telling its client.
    fn end_unexposed_subscriptions(&mut self) {
        let mut verdicts: BTreeMap<String, bool> = BTreeMap::new();
        let mut lost: Vec<(ClientId, Subject)> = Vec::new();
        for (client, state) in &self.clients {
            for subject in state.subscriptions.keys() {
                let topic = subject.topic();
                let exposed = match verdicts.get(topic) {
                    Some(v) => *v,
                    None => {
                        let v = self.is_exposed(topic);
                        verdicts.insert(topic.to_owned(), v);
                        v
                    }
                };
                if !exposed {
                    lost.push((*client, subject.clone()));
                }
            }
        }
        for (client, subject) in lost {
            self.end_subscription(client, &subject);
            let error = ServerFrame::Error {
                id: None,
                subject: Some(subject.to_string()),
                code: ErrorCode::NotExposed,
                message: format!("topic {} is no longer exposed", subject.topic()),
            };
            // A client too slow to take it is closed as a slow consumer by `send`.
            self.send(client, error);
        }
    }

    /// `(topic, records seen)` of every announced, exposed topic (the sum over its
    /// partitions of the next offset to read): one pass over the topics only, cheap
    /// enough to sample every second for rates.
    pub fn topic_records_seen(&self) -> Vec<(String, u64)> {
        self.topics
            .iter()
            .filter(|(name, _)| self.is_exposed(name))
            .map(|(name, t)| {
                let seen = t.partitions.iter().map(|p| p.next_offset).sum();
                (name.to_string(), seen)
            })
            .collect()
    }

    /// Every exposed topic (listed ones, and announced ones matching a pattern), with
    /// its counts. One pass over the snapshots and the routing table.
    pub fn topic_infos(&self) -> Vec<TopicInfo> {
        let mut names: BTreeSet<&str> = self.exposed.iter().map(String::as_str).collect();
        for topic in self.topics.keys() {
            if self.is_exposed(topic) {
                names.insert(topic);
            }
        }
        let mut snapshots: BTreeMap<&str, u64> = BTreeMap::new();
        for (subject, _) in self.snapshots.iter() {
            *snapshots.entry(subject.topic()).or_default() += 1;
        }
        let mut subscribers: BTreeMap<&str, u64> = BTreeMap::new();
        for (subject, clients) in &self.subscribers {
            *subscribers.entry(subject.topic()).or_default() += clients.len() as u64;
        }
        names
            .into_iter()
            .map(|name| {
                let partitions = self.topics.get(name).map(|t| &t.partitions);
                TopicInfo {
                    name: name.to_owned(),
                    listed: self.exposed.contains(name),
                    partitions: partitions.map_or(0, |p| p.len() as u64),
                    records_seen: partitions
                        .map_or(0, |p| p.iter().map(|p| p.next_offset).sum::<u64>()),
                    subjects_with_snapshot: snapshots.get(name).copied().unwrap_or(0),
                    subscribers: subscribers.get(name).copied().unwrap_or(0),
                }
            })
            .collect()
    }

    /// The subjects of `topic` that have a snapshot or a subscriber, in subject
    /// order, whose key starts with `key_prefix`, after the subject `after` (the
    /// previous page's cursor): at most `limit`, each snapshot previewed in at most
    /// `preview_bytes`. Also returns the cursor of the next page, if there is one.
    /// Costs one pass over the snapshot cache and the routing table, and memory
    /// for one page.
    pub fn subject_infos(
        &self,
        topic: &str,
        key_prefix: &str,
        after: Option<&str>,
        limit: usize,
        preview_bytes: usize,
    ) -> (Vec<SubjectInfo>, Option<String>) {
        let wanted = |subject: &Subject| {
            subject.topic() == topic
                && subject.key().unwrap_or_default().starts_with(key_prefix)
                && after.is_none_or(|after| subject.as_str() > after)
        };
        // Only the `limit + 1` first subjects are kept (the one past the page says
        // there is more), so a page costs no memory beyond itself however many
        // subjects the topic has. A subject dropped in the first pass has `limit + 1`
        // smaller ones kept, so it cannot come back in the second.
        let kept = limit.saturating_add(1);
        let mut found: BTreeMap<&str, (Option<&crate::protocol::Message>, u64)> = BTreeMap::new();
        for (subject, message) in self.snapshots.iter() {
            if wanted(subject) {
                found.entry(subject.as_str()).or_default().0 = Some(message);
                if found.len() > kept {
                    found.pop_last();
                }
            }
        }
        for (subject, clients) in &self.subscribers {
            if wanted(subject) {
                found.entry(subject.as_str()).or_default().1 = clients.len() as u64;
                if found.len() > kept {
                    found.pop_last();
                }
            }
        }
        let more = found.len() > limit;
        let page: Vec<SubjectInfo> = found
            .into_iter()
            .take(limit)
            .map(|(subject, (message, subscribers))| {
                let data = message.and_then(|m| m.data.as_ref());
                SubjectInfo {
                    subject: subject.to_owned(),
                    seq: message.map(|m| m.seq),
                    epoch: message.map(|m| m.epoch.to_string()),
                    snapshot_preview: data.map(|d| {
                        String::from_utf8_lossy(&d[..d.len().min(preview_bytes)]).into_owned()
                    }),
                    snapshot_bytes: data.map(|d| d.len() as u64),
                    snapshot_truncated: data.is_some_and(|d| d.len() > preview_bytes),
                    subscribers,
                }
            })
            .collect();
        let cursor = if more {
            page.last().map(|s| s.subject.clone())
        } else {
            None
        };
        (page, cursor)
    }
}
