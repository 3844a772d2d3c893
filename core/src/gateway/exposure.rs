//! What is exposed: the topics listed by name and the topic patterns, the changes
//! the Portal makes to them, and the types of the Portal's views.
//!
//! A topic is exposed when it is listed (`exposed_topics`, or exposed through the
//! Portal), or when the broker announced it and it matches an exposed pattern
//! ([`super::routing::Routing::is_exposed`], which knows what was announced).

use std::collections::BTreeSet;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::config::GatewayConfig;
use crate::subject::is_valid_topic;

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
struct TopicPattern {
    source: String,
    regex: Regex,
}

/// The topics exposed by name and the exposed patterns.
#[derive(Debug, Clone)]
pub(super) struct Exposure {
    listed: BTreeSet<String>,
    /// Anchored regexes: an announced topic that matches one is exposed too.
    patterns: Vec<TopicPattern>,
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

impl Exposure {
    /// The config's topics and patterns; invalid patterns are left out (the binary
    /// validates first).
    pub fn new(config: &GatewayConfig) -> Self {
        let patterns = config
            .exposed_topic_patterns
            .iter()
            .filter_map(|source| {
                Some(TopicPattern {
                    source: source.clone(),
                    regex: compile_pattern(source).ok()?,
                })
            })
            .collect();
        Exposure {
            listed: config.exposed_topics.iter().cloned().collect(),
            patterns,
        }
    }

    /// Whether `topic` is exposed by name.
    pub fn is_listed(&self, topic: &str) -> bool {
        self.listed.contains(topic)
    }

    /// The topics exposed by name, in order.
    pub fn listed(&self) -> impl Iterator<Item = &str> {
        self.listed.iter().map(String::as_str)
    }

    /// The exposed patterns, as given.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.source.as_str())
    }

    /// Whether an exposed pattern matches `topic`.
    pub fn pattern_matches(&self, topic: &str) -> bool {
        self.patterns.iter().any(|p| p.regex.is_match(topic))
    }

    /// Applies a change; false when it was ignored (an invalid topic name or
    /// pattern), so nothing can have stopped being exposed.
    pub fn apply(&mut self, change: ExposureChange) -> bool {
        match change {
            ExposureChange::Topic { name, exposed } => {
                if !is_valid_topic(&name) {
                    return false;
                }
                if exposed {
                    self.listed.insert(name);
                } else {
                    self.listed.remove(&name);
                }
            }
            ExposureChange::Pattern { regex, exposed } => {
                self.patterns.retain(|p| p.source != regex);
                if exposed {
                    let Ok(compiled) = compile_pattern(&regex) else {
                        return false;
                    };
                    self.patterns.push(TopicPattern {
                        source: regex,
                        regex: compiled,
                    });
                }
            }
        }
        true
    }
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
