//! The subjects of the simulated world, and which partition each lives on (its
//! topic's partitioner: murmur2 or librdkafka's CRC32; the gateway routes either).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::plan::TopicShape;

/// One subject the apps use: `/topic` (null key) or `/topic/key`.
#[derive(Debug, Clone)]
pub(crate) struct SubjectInfo {
    pub text: String,
    pub topic: usize,
    pub key: Option<Bytes>,
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

    /// The subject a record on `topic`/`partition` with `key` is routed to, if any:
    /// the key must be one of the world's and sit on the partition it maps to (the
    /// world's writers never move a key; the core's property tests move them).
    pub fn routed(&self, topic: usize, partition: u32, key: Option<&[u8]>) -> Option<usize> {
        self.list
            .iter()
            .position(|s| s.topic == topic && s.key.as_deref() == key)
            .filter(|&i| self.list[i].partition == partition)
    }
}
