//! The Portal's side of the gateway: changing what is exposed while clients are
//! connected, and the read-only views it shows. When a change leaves a topic
//! unexposed, each subscription to it ends with an `error` `not_exposed` (no request
//! id) and nobody else is disturbed.

use std::collections::{BTreeMap, BTreeSet};

use super::exposure::{ExposureChange, SubjectInfo, TopicInfo};
use super::Gateway;
use crate::ids::ClientId;
use crate::protocol::{ErrorCode, ServerFrame};
use crate::subject::Subject;

impl Gateway {
    /// Whether clients may use `topic`: listed, or announced by the broker and
    /// matching an exposed pattern.
    pub fn is_exposed(&self, topic: &str) -> bool {
        self.routing.is_exposed(topic)
    }

    /// The topics exposed by name.
    pub fn exposed_topics(&self) -> Vec<String> {
        self.routing
            .exposure()
            .listed()
            .map(str::to_owned)
            .collect()
    }

    /// The exposed patterns, as given.
    pub fn exposed_patterns(&self) -> Vec<String> {
        self.routing
            .exposure()
            .patterns()
            .map(str::to_owned)
            .collect()
    }

    /// Whether an exposed pattern matches `topic` (so it stays exposed while the
    /// broker has it, listed or not).
    pub fn pattern_matches(&self, topic: &str) -> bool {
        self.routing.exposure().pattern_matches(topic)
    }

    /// `(topic, records seen)` of every announced, exposed topic (the sum over its
    /// partitions of the next offset to read): one pass over the topics only, cheap
    /// enough to sample every second for rates.
    pub fn topic_records_seen(&self) -> Vec<(String, u64)> {
        self.routing
            .topics()
            .filter(|(name, _)| self.routing.is_exposed(name))
            .map(|(name, partitions)| {
                let seen = partitions.iter().map(|p| p.next_offset).sum();
                (name.to_owned(), seen)
            })
            .collect()
    }

    /// Every exposed topic (listed ones, and announced ones matching a pattern), with
    /// its counts. One pass over the snapshots and the routing table.
    pub fn topic_infos(&self) -> Vec<TopicInfo> {
        let routing = &self.routing;
        let mut names: BTreeSet<&str> = routing.exposure().listed().collect();
        for (topic, _) in routing.topics() {
            if routing.is_exposed(topic) {
                names.insert(topic);
            }
        }
        let mut snapshots: BTreeMap<&str, u64> = BTreeMap::new();
        for (subject, _) in routing.snapshots() {
            *snapshots.entry(subject.topic()).or_default() += 1;
        }
        let mut subscribers: BTreeMap<&str, u64> = BTreeMap::new();
        for (subject, count) in routing.subscriber_counts() {
            *subscribers.entry(subject.topic()).or_default() += count;
        }
        names
            .into_iter()
            .map(|name| {
                let partitions = routing.partitions(name);
                TopicInfo {
                    name: name.to_owned(),
                    listed: routing.exposure().is_listed(name),
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
        for (subject, message) in self.routing.snapshots() {
            if wanted(subject) {
                found.entry(subject.as_str()).or_default().0 = Some(message);
                if found.len() > kept {
                    found.pop_last();
                }
            }
        }
        for (subject, count) in self.routing.subscriber_counts() {
            if wanted(subject) {
                found.entry(subject.as_str()).or_default().1 = count;
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

    pub(super) fn on_exposure(&mut self, change: ExposureChange) {
        if self.routing.exposure_mut().apply(change) {
            self.end_unexposed_subscriptions();
        }
    }

    /// Ends every subscription whose topic is no longer exposed, telling its client.
    fn end_unexposed_subscriptions(&mut self) {
        let mut verdicts: BTreeMap<String, bool> = BTreeMap::new();
        let mut lost: Vec<(ClientId, Subject)> = Vec::new();
        for (client, state) in self.clients.iter() {
            for subject in state.subscriptions.keys() {
                let topic = subject.topic();
                let exposed = match verdicts.get(topic) {
                    Some(v) => *v,
                    None => {
                        let v = self.routing.is_exposed(topic);
                        verdicts.insert(topic.to_owned(), v);
                        v
                    }
                };
                if !exposed {
                    lost.push((client, subject.clone()));
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
}
