//! The Portal's side of the gateway: changing what is exposed while clients are
//! connected, and the read-only views it shows. When a change leaves a topic
//! unexposed, each subscription to it ends with an `error` `not_exposed` (no request
//! id) and nobody else is disturbed.

use std::collections::BTreeMap;

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
        self.routing.topic_records_seen()
    }

    /// Every exposed topic (listed ones, and announced ones matching a pattern), with
    /// its counts. One pass over the snapshots and the routing table.
    pub fn topic_infos(&self) -> Vec<TopicInfo> {
        self.routing.topic_infos()
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
        self.routing
            .subject_infos(topic, key_prefix, after, limit, preview_bytes)
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
