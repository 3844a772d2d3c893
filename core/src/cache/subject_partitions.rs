use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::subject::Subject;

/// Bytes charged per entry on top of the subject's text: the map and LRU slots.
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// Where a subject's records are, as far as this gateway has read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The partition its latest record was on.
    pub partition: u32,
    /// The offset (on `partition`) from which every record of the subject this
    /// gateway read is on `partition`: 0 when it never saw the subject anywhere else,
    /// else the offset of the record that moved it here. A position older than this
    /// on `partition` may have missed records on another partition.
    pub since: u64,
}

/// What [`SubjectPartitions::learn`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The record is on the partition the subject's records were already on.
    Same,
    /// The first record of the subject this gateway remembers.
    New,
    /// The subject's records were on `from` until this one. `first_move` is true the
    /// first time this subject moves while remembered (the runtime logs only that one).
    Moved { from: u32, first_move: bool },
}

#[derive(Debug)]
struct Entry {
    placement: Placement,
    /// Written since the clock hand last passed it (a second chance).
    referenced: bool,
    moved_before: bool,
}

/// The partition each subject's records are on, learned from the records: the key →
/// partition memory that lets records of any partitioner reach their subscribers and
/// publishes land where the key's records are. Bounded in bytes; beyond the bound
/// a subject not written since the clock hand last passed it is forgotten (CLOCK,
/// LRU's approximation that costs a flag per record instead of an ordered map).
///
/// Forgetting is made safe, not silent: a topic that lost an entry is remembered, and
/// for it a subject seen again starts its placement at that record (`since`), and a
/// resume of a subject no longer remembered is answered with `resync`, since it might
/// have moved unseen.
#[derive(Debug)]
pub struct SubjectPartitions {
    entries: HashMap<Subject, Entry>,
    /// The clock: every remembered subject once, the hand at the front.
    clock: VecDeque<Subject>,
    /// Topics that lost an entry to the bound.
    forgotten: BTreeSet<Arc<str>>,
    bytes: usize,
    bytes_max: usize,
    evictions_total: u64,
}

impl SubjectPartitions {
    pub fn new(bytes_max: usize) -> Self {
        SubjectPartitions {
            entries: HashMap::new(),
            clock: VecDeque::new(),
            forgotten: BTreeSet::new(),
            bytes: 0,
            bytes_max,
            evictions_total: 0,
        }
    }

    fn cost(subject: &Subject) -> usize {
        subject.as_str().len() + ENTRY_OVERHEAD_BYTES
    }

    pub fn get(&self, subject: &Subject) -> Option<Placement> {
        self.entries.get(subject).map(|e| e.placement)
    }

    /// Whether `topic` lost an entry to the bound: an unknown subject of it may have
    /// records on any partition.
    pub fn forgot(&self, topic: &str) -> bool {
        self.forgotten.contains(topic)
    }

    /// Records that a record of `subject` sits at `offset` of `partition`.
    pub fn learn(&mut self, subject: &Subject, partition: u32, offset: u64) -> Learned {
        if let Some(entry) = self.entries.get_mut(subject) {
            entry.referenced = true;
            let from = entry.placement.partition;
            if from == partition {
                return Learned::Same;
            }
            entry.placement = Placement {
                partition,
                since: offset,
            };
            let first_move = !entry.moved_before;
            entry.moved_before = true;
            return Learned::Moved { from, first_move };
        }
        // A subject of a topic that lost entries may have been somewhere else before.
        let since = if self.forgot(subject.topic()) {
            offset
        } else {
            0
        };
        self.entries.insert(
            subject.clone(),
            Entry {
                placement: Placement { partition, since },
                referenced: false,
                moved_before: false,
            },
        );
        self.clock.push_back(subject.clone());
        self.bytes += Self::cost(subject);
        while self.bytes > self.bytes_max {
            let Some(oldest) = self.clock.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&oldest) else {
                continue;
            };
            if entry.referenced {
                entry.referenced = false;
                self.clock.push_back(oldest);
                continue;
            }
            self.entries.remove(&oldest);
            self.bytes -= Self::cost(&oldest);
            self.evictions_total += 1;
            if !self.forgot(oldest.topic()) {
                self.forgotten.insert(Arc::from(oldest.topic()));
            }
        }
        Learned::New
    }

    /// Forgets the subjects of `topic` whose partition `gone` says no longer holds
    /// their log (the topic was recreated or lost partitions): what they knew is of
    /// the old log.
    pub fn drop_partitions(&mut self, topic: &str, gone: impl Fn(u32) -> bool) {
        let dropped: Vec<Subject> = self
            .entries
            .iter()
            .filter(|(s, e)| s.topic() == topic && gone(e.placement.partition))
            .map(|(s, _)| s.clone())
            .collect();
        if dropped.is_empty() {
            return;
        }
        for subject in dropped {
            if self.entries.remove(&subject).is_some() {
                self.bytes -= Self::cost(&subject);
            }
        }
        let entries = &self.entries;
        self.clock.retain(|s| entries.contains_key(s));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn evictions_total(&self) -> u64 {
        self.evictions_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_moves_and_remembers_where_the_stint_began() {
        let a = Subject::parse("/t/a").unwrap();
        let mut map = SubjectPartitions::new(usize::MAX);
        assert_eq!(map.learn(&a, 3, 10), Learned::New);
        assert_eq!(map.learn(&a, 3, 11), Learned::Same);
        assert_eq!(
            map.get(&a),
            Some(Placement {
                partition: 3,
                since: 0
            })
        );
        assert_eq!(
            map.learn(&a, 5, 7),
            Learned::Moved {
                from: 3,
                first_move: true
            }
        );
        assert_eq!(
            map.learn(&a, 3, 12),
            Learned::Moved {
                from: 5,
                first_move: false
            }
        );
        assert_eq!(
            map.get(&a),
            Some(Placement {
                partition: 3,
                since: 12
            })
        );
    }

    #[test]
    fn the_bound_evicts_a_subject_not_written_lately_and_marks_the_topic() {
        let a = Subject::parse("/t/a").unwrap();
        let b = Subject::parse("/t/b").unwrap();
        let c = Subject::parse("/u/c").unwrap();
        let one = SubjectPartitions::cost(&a);
        let mut map = SubjectPartitions::new(2 * one);
        map.learn(&a, 0, 1);
        map.learn(&c, 0, 2);
        map.learn(&a, 0, 3); // a was written again: it gets a second chance, c does not
        map.learn(&b, 1, 4);
        assert_eq!(
            (map.len(), map.bytes(), map.evictions_total()),
            (2, 2 * one, 1)
        );
        assert!(map.get(&c).is_none());
        assert!(map.forgot("u") && !map.forgot("t"));
        // A subject of a topic that forgot starts its placement at its record.
        map.learn(&c, 2, 9);
        assert_eq!(map.get(&c).map(|p| p.since), Some(9));
        map.drop_partitions("t", |p| p == 1);
        assert!(map.get(&b).is_none());
    }
}
