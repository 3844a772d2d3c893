//! The subjects of the simulated world, which partition each lives on by default
//! (its topic's partitioner: murmur2 or librdkafka's CRC32; the gateway routes
//! either), and which records are routed to each.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::plan::TopicShape;

/// One subject the apps use: `/topic` (null key) or `/topic/key`.
#[derive(Debug, Clone)]
pub(crate) struct SubjectInfo {
    pub text: String,
    pub topic: usize,
    pub key: Option<Bytes>,
    /// Where the topic's partitioner puts it (a mover may write it elsewhere).
    pub partition: u32,
}

/// Every subject of the world, by index.
#[derive(Debug)]
pub(crate) struct Subjects {
    list: Vec<SubjectInfo>,
    by_text: BTreeMap<String, usize>,
}

impl Subjects {
    pub fn new(topics: &[TopicShape]) -> Subjects {
        let mut list = Vec::new();
        for (topic, shape) in topics.iter().enumerate() {
            list.push(SubjectInfo {
                text: format!("/{}", shape.name),
                topic,
                key: None,
                partition: 0,
            });
            for k in 0..shape.keys {
                // Odd keys have two segments, so `/t/k1/x` ↔ key `k1/x` is exercised.
                let key = if k % 2 == 1 {
                    format!("k{k}/x")
                } else {
                    format!("k{k}")
                };
                list.push(SubjectInfo {
                    text: format!("/{}/{key}", shape.name),
                    topic,
                    partition: shape
                        .partitioner
                        .partition(Some(key.as_bytes()), shape.partitions),
                    key: Some(Bytes::from(key)),
                });
            }
        }
        let by_text = list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.text.clone(), i))
            .collect();
        Subjects { list, by_text }
    }

    pub fn get(&self, subject: usize) -> &SubjectInfo {
        &self.list[subject]
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn find(&self, text: &str) -> Option<usize> {
        self.by_text.get(text).copied()
    }

    /// The subject a record on `topic`/`partition` with `key` is routed to, if any
    /// (`docs/protocol.md` §2): a keyed record from whichever partition it is on, a
    /// null-key record only from partition 0.
    pub fn routed(&self, topic: usize, partition: u32, key: Option<&[u8]>) -> Option<usize> {
        self.by_key(topic, key)
            .filter(|&i| self.list[i].key.is_some() || partition == 0)
    }

    /// The world's subject of `topic` with `key`, if any.
    pub fn by_key(&self, topic: usize, key: Option<&[u8]>) -> Option<usize> {
        self.list
            .iter()
            .position(|s| s.topic == topic && s.key.as_deref() == key)
    }
}
