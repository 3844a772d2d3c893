//! The Portal's read-only views of the routing part: topics with their counts, and
//! the subjects of a topic with their snapshots.

use std::collections::{BTreeMap, BTreeSet};

use super::Routing;
use crate::gateway::exposure::{SubjectInfo, TopicInfo};
use crate::subject::Subject;

impl Routing {
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
        let mut names: BTreeSet<&str> = self.exposure.listed().collect();
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
                    listed: self.exposure.is_listed(name),
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
