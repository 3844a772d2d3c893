//! Interest mode in the adapter: the partitions the consumer is assigned because
//! some shard's core watches them (`BrokerCommand::Watch`), and the watches still
//! waiting for their partition to be read up to the high watermark seen when it
//! was assigned. A partition is assigned while any shard watches it; its records go
//! to every shard, so a shard that watches it later is answered at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A shard's core asks for (or gives up) a partition.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub shard: usize,
    pub topic: Arc<str>,
    pub partition: u32,
    pub watch: bool,
}

#[derive(Debug, Default)]
struct Assigned {
    /// Shards that watch the partition.
    shards: BTreeSet<usize>,
    /// Shards whose watch is not answered yet.
    waiting: BTreeSet<usize>,
    /// While warming: the high watermark when it was assigned (`u64::MAX` while its
    /// start point is looked up). `None`: read up to it.
    target: Option<u64>,
    /// Tells this assignment from an earlier one of the same partition, for the
    /// answer of a look-up that finishes after the partition was released.
    generation: u64,
}

/// What happens after a watch request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Look up the partition's start point, then assign it (it was not read);
    /// answer once read up to its high watermark. The look-up's answer must name
    /// this generation.
    Assign { generation: u64 },
    /// Answer this shard now: the partition is read and every shard got its records.
    AnswerNow,
    /// Nothing to do (the partition is warming, or other shards still watch it).
    Nothing,
    /// Nobody watches it any more: unassign it.
    Unassign,
}

#[derive(Debug, Default)]
pub(crate) struct Assignments {
    partitions: BTreeMap<(String, u32), Assigned>,
    watches_total: u64,
    releases_total: u64,
    generations: u64,
    /// Entries with a target: checked after every batch, so counted, not searched.
    warming: usize,
}

impl Assignments {
    pub fn request(&mut self, request: &WatchRequest) -> Step {
        let key = (request.topic.to_string(), request.partition);
        if request.watch {
            let fresh = !self.partitions.contains_key(&key);
            let entry = self.partitions.entry(key).or_default();
            entry.shards.insert(request.shard);
            if fresh {
                self.watches_total += 1;
                self.generations += 1;
                entry.generation = self.generations;
                entry.target = Some(u64::MAX);
                self.warming += 1;
                entry.waiting.insert(request.shard);
                return Step::Assign {
                    generation: entry.generation,
                };
            }
            if entry.target.is_some() {
                entry.waiting.insert(request.shard);
                return Step::Nothing;
            }
            return Step::AnswerNow;
        }
        let Some(entry) = self.partitions.get_mut(&key) else {
            return Step::Nothing;
        };
        entry.shards.remove(&request.shard);
        entry.waiting.remove(&request.shard);
        if !entry.shards.is_empty() {
            return Step::Nothing;
        }
        self.remove(&key);
        self.releases_total += 1;
        Step::Unassign
    }

    /// Whether `generation` is still the partition's assignment (not released,
    /// or released and watched again, meanwhile).
    pub fn is_current(&self, topic: &str, partition: u32, generation: u64) -> bool {
        self.partitions
            .get(&(topic.to_owned(), partition))
            .is_some_and(|a| a.generation == generation)
    }

    /// The partition was assigned; it is read once the position reaches `high`.
    pub fn assigned(&mut self, topic: &str, partition: u32, high: u64) {
        if let Some(entry) = self.partitions.get_mut(&(topic.to_owned(), partition)) {
            entry.target = Some(high);
        }
    }

    /// Forgets a partition whose assignment failed, so a retry assigns it afresh.
    pub fn forget(&mut self, topic: &str, partition: u32) {
        self.remove(&(topic.to_owned(), partition));
    }

    fn remove(&mut self, key: &(String, u32)) {
        if let Some(removed) = self.partitions.remove(key) {
            self.warming -= usize::from(removed.target.is_some());
        }
    }

    /// Whether records of the partition are wanted.
    pub fn contains(&self, topic: &str, partition: u32) -> bool {
        self.partitions.contains_key(&(topic.to_owned(), partition))
    }

    pub fn warming(&self) -> bool {
        self.warming > 0
    }

    /// Partitions read up to their target by `positions`, with the shards to answer.
    pub fn take_ready(
        &mut self,
        positions: &BTreeMap<(String, u32), u64>,
    ) -> Vec<((String, u32), Vec<usize>)> {
        let mut ready = Vec::new();
        if self.warming == 0 {
            return ready;
        }
        for (tp, entry) in &mut self.partitions {
            let Some(target) = entry.target else {
                continue;
            };
            if positions.get(tp).is_some_and(|&at| at >= target) {
                entry.target = None;
                self.warming -= 1;
                ready.push((
                    tp.clone(),
                    std::mem::take(&mut entry.waiting).into_iter().collect(),
                ));
            }
        }
        ready
    }

    /// Forgets every partition of `topic` (changed or gone: the cores watch its new
    /// partitions afresh); returns those that were assigned.
    pub fn forget_topic(&mut self, topic: &str) -> Vec<u32> {
        let gone: Vec<u32> = self
            .partitions
            .keys()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| *p)
            .collect();
        for p in &gone {
            self.remove(&(topic.to_owned(), *p));
        }
        gone
    }

    pub fn stats(&self) -> InterestStats {
        InterestStats {
            partitions_assigned: self.partitions.len() as u64,
            watches_total: self.watches_total,
            releases_total: self.releases_total,
        }
    }
}

/// The consumer's side of interest mode, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterestStats {
    pub partitions_assigned: u64,
    pub watches_total: u64,
    pub releases_total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(shard: usize, watch: bool) -> WatchRequest {
        WatchRequest {
            shard,
            topic: Arc::from("t"),
            partition: 3,
            watch,
        }
    }

    #[test]
    fn a_partition_is_assigned_once_and_released_by_its_last_watcher() {
        let mut a = Assignments::default();
        assert_eq!(a.request(&request(0, true)), Step::Assign { generation: 1 });
        assert_eq!(a.request(&request(1, true)), Step::Nothing, "looking up");
        assert!(a.is_current("t", 3, 1));
        a.assigned("t", 3, 10);
        let mut positions = BTreeMap::new();
        positions.insert(("t".to_owned(), 3), 9);
        assert!(a.take_ready(&positions).is_empty());
        positions.insert(("t".to_owned(), 3), 10);
        assert_eq!(
            a.take_ready(&positions),
            vec![(("t".to_owned(), 3), vec![0, 1])]
        );
        assert_eq!(a.request(&request(0, false)), Step::Nothing);
        assert_eq!(a.request(&request(0, true)), Step::AnswerNow);
        assert_eq!(a.request(&request(0, false)), Step::Nothing);
        assert_eq!(a.request(&request(1, false)), Step::Unassign);
        assert!(!a.contains("t", 3));
        assert!(!a.warming());
        assert_eq!(a.stats().releases_total, 1);
    }
}

#[cfg(test)]
mod generation_tests {
    use super::*;

    #[test]
    fn a_look_up_answered_after_a_release_is_not_current() {
        let mut a = Assignments::default();
        let watch = |watch| WatchRequest {
            shard: 0,
            topic: Arc::from("t"),
            partition: 0,
            watch,
        };
        assert_eq!(a.request(&watch(true)), Step::Assign { generation: 1 });
        assert_eq!(a.request(&watch(false)), Step::Unassign);
        assert_eq!(a.request(&watch(true)), Step::Assign { generation: 2 });
        assert!(!a.is_current("t", 0, 1));
        assert!(a.is_current("t", 0, 2));
    }
}
