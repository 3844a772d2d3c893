//! `TopicPartitionList` and `Offset`.

use super::error::KafkaResult;

/// A position in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    Beginning,
    End,
    Stored,
    Invalid,
    Offset(i64),
    OffsetTail(i64),
}

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitionListElem<'a> {
    topic: &'a str,
    partition: i32,
    offset: Offset,
}

impl TopicPartitionListElem<'_> {
    pub fn topic(&self) -> &str {
        self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn offset(&self) -> Offset {
        self.offset
    }
}

/// Topic partitions, each with an offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPartitionList {
    pub(crate) entries: Vec<(String, i32, Offset)>,
}

impl TopicPartitionList {
    pub fn new() -> TopicPartitionList {
        TopicPartitionList::default()
    }

    pub fn count(&self) -> usize {
        self.entries.len()
    }

    pub fn add_partition<'a>(
        &'a mut self,
        topic: &str,
        partition: i32,
    ) -> TopicPartitionListElem<'a> {
        self.set(topic, partition, Offset::Invalid);
        let (topic, partition, offset) = self
            .entries
            .iter()
            .find(|(t, p, _)| t == topic && *p == partition)
            .expect("just added");
        TopicPartitionListElem {
            topic,
            partition: *partition,
            offset: *offset,
        }
    }

    pub fn add_partition_offset(
        &mut self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> KafkaResult<()> {
        self.set(topic, partition, offset);
        Ok(())
    }

    pub fn find_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<TopicPartitionListElem<'_>> {
        self.elements()
            .into_iter()
            .find(|e| e.topic == topic && e.partition == partition)
    }

    pub fn elements(&self) -> Vec<TopicPartitionListElem<'_>> {
        self.entries
            .iter()
            .map(|(topic, partition, offset)| TopicPartitionListElem {
                topic,
                partition: *partition,
                offset: *offset,
            })
            .collect()
    }

    fn set(&mut self, topic: &str, partition: i32, offset: Offset) {
        match self
            .entries
            .iter_mut()
            .find(|(t, p, _)| t == topic && *p == partition)
        {
            Some(entry) => entry.2 = offset,
            None => self.entries.push((topic.to_owned(), partition, offset)),
        }
    }
}
