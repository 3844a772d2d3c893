use std::collections::{BTreeMap, HashMap};

use crate::broker::Epoch;
use crate::protocol::Message;
use crate::subject::Subject;

/// The latest retained message of each subject, bounded in bytes. Beyond the bound the
/// least recently used snapshot is evicted: a later subscriber then gets no snapshot
/// until the subject's next retained record.
#[derive(Debug)]
pub struct SnapshotCache {
    entries: HashMap<Subject, (Message, u64)>,
    /// Use order: tick → subject. The smallest tick is the least recently used.
    lru: BTreeMap<u64, Subject>,
    next_tick: u64,
    bytes: usize,
    bytes_max: usize,
    evictions_total: u64,
}

impl SnapshotCache {
    pub fn new(bytes_max: usize) -> Self {
        SnapshotCache {
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            next_tick: 0,
            bytes: 0,
            bytes_max,
            evictions_total: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    /// Replaces the subject's snapshot, then evicts down to the bound.
    pub fn set(&mut self, subject: &Subject, message: Message) {
        let tick = self.tick();
        let cost = message.cost_bytes();
        // In place when the subject has one: every retained record replaces its
        // subject's snapshot, so this is the common case on the hot path.
        match self.entries.get_mut(subject) {
            Some((held, held_tick)) => {
                self.bytes = self.bytes - held.cost_bytes() + cost;
                self.lru.remove(held_tick);
                *held = message;
                *held_tick = tick;
            }
            None => {
                self.bytes += cost;
                self.entries.insert(subject.clone(), (message, tick));
            }
        }
        self.lru.insert(tick, subject.clone());
        while self.bytes > self.bytes_max {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            if let Some((m, _)) = self.entries.remove(&oldest) {
                self.bytes -= m.cost_bytes();
                self.evictions_total += 1;
            }
        }
    }

    pub fn remove(&mut self, subject: &Subject) {
        if let Some((m, tick)) = self.entries.remove(subject) {
            self.bytes -= m.cost_bytes();
            self.lru.remove(&tick);
        }
    }

    /// The snapshot, marked as used.
    pub fn get(&mut self, subject: &Subject) -> Option<Message> {
        let tick = self.next_tick + 1;
        let (message, old_tick) = self.entries.get_mut(subject)?;
        let old = std::mem::replace(old_tick, tick);
        let message = message.clone();
        self.next_tick = tick;
        self.lru.remove(&old);
        self.lru.insert(tick, subject.clone());
        Some(message)
    }

    /// The log the subject's snapshot is on, without marking it as used.
    pub fn epoch_of(&self, subject: &Subject) -> Option<&Epoch> {
        self.entries.get(subject).map(|(m, _)| &m.epoch)
    }

    /// Drops every snapshot of a log that no longer exists (its epoch changed).
    pub fn drop_epoch(&mut self, epoch: &Epoch) {
        let gone: Vec<Subject> = self
            .entries
            .iter()
            .filter(|(_, (m, _))| &m.epoch == epoch)
            .map(|(s, _)| s.clone())
            .collect();
        for subject in gone {
            self.remove(&subject);
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn evictions_total(&self) -> u64 {
        self.evictions_total
    }

    /// Every snapshot, in no particular order, without marking any as used (for
    /// inspection: the Portal's subject browser).
    pub fn iter(&self) -> impl Iterator<Item = (&Subject, &Message)> {
        self.entries.iter().map(|(s, (m, _))| (s, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageKind;
    use bytes::Bytes;

    fn msg(subject: &Subject, seq: u64, len: usize) -> Message {
        Message {
            delta: false,
            subject: subject.shared(),
            data: Some(Bytes::from(vec![b'x'; len])),
            seq,
            epoch: Epoch::new("e"),
            kind: MessageKind::Update,
            headers: None,
            headers_truncated: false,
            origin: None,
        }
    }

    #[test]
    fn evicts_least_recently_used_within_bound() {
        let a = Subject::parse("/t/a").unwrap();
        let b = Subject::parse("/t/b").unwrap();
        let c = Subject::parse("/t/c").unwrap();
        let one = msg(&a, 0, 100).cost_bytes();
        let mut cache = SnapshotCache::new(2 * one);
        cache.set(&a, msg(&a, 0, 100));
        cache.set(&b, msg(&b, 1, 100));
        assert!(cache.get(&a).is_some()); // a is now more recent than b
        cache.set(&c, msg(&c, 2, 100));
        assert!(cache.get(&b).is_none());
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
        assert!(cache.bytes() <= 2 * one);
        assert_eq!(cache.evictions_total(), 1);
        cache.remove(&a);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), one);
    }
}
