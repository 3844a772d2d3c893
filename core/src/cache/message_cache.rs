use std::collections::{HashMap, VecDeque};

use crate::broker::Epoch;
use crate::protocol::Message;
use crate::subject::Subject;

/// The recent messages of one subject, all from one log.
#[derive(Debug)]
struct SubjectLog {
    epoch: Epoch,
    messages: VecDeque<Message>,
    bytes: usize,
    /// Every message of this subject with `seq >= covered_from` is in `messages`.
    covered_from: u64,
}

/// The last messages of each subject, for `history` and for resume. Bounded per subject
/// (count and bytes) and in total bytes, evicting the globally oldest message first.
///
/// It also knows, per subject, from which offset on it holds *every* message: a resume
/// from an older seq cannot be served from memory and must be fetched from the broker
/// (or answered with `resync`), never silently skipped.
#[derive(Debug)]
pub struct MessageCache {
    logs: HashMap<Subject, SubjectLog>,
    /// Arrival order across subjects, for global eviction. Entries whose message is
    /// already gone are skipped when popped.
    arrival: VecDeque<(Subject, u64)>,
    /// Per log: the offset from which subjects without a [`SubjectLog`] are complete.
    floors: HashMap<Epoch, u64>,
    bytes: usize,
    messages: usize,
    bytes_max: usize,
    per_subject_messages_max: usize,
    per_subject_bytes_max: usize,
    evictions_total: u64,
}

impl MessageCache {
    pub fn new(
        bytes_max: usize,
        per_subject_messages_max: usize,
        per_subject_bytes_max: usize,
    ) -> Self {
        MessageCache {
            logs: HashMap::new(),
            arrival: VecDeque::new(),
            floors: HashMap::new(),
            bytes: 0,
            messages: 0,
            bytes_max,
            per_subject_messages_max,
            per_subject_bytes_max,
            evictions_total: 0,
        }
    }

    /// Declares that nothing of log `epoch` below `offset` will ever be appended: the
    /// gateway starts reading there, or retention moved the log start past it.
    pub fn raise_floor(&mut self, epoch: &Epoch, offset: u64) {
        let floor = self.floors.entry(epoch.clone()).or_insert(offset);
        *floor = (*floor).max(offset);
        for log in self.logs.values_mut().filter(|l| &l.epoch == epoch) {
            log.covered_from = log.covered_from.max(offset);
        }
    }

    fn floor(&self, epoch: &Epoch) -> u64 {
        self.floors.get(epoch).copied().unwrap_or(0)
    }

    /// The offset from which this cache holds every message of `subject` in log `epoch`.
    pub fn covered_from(&self, subject: &Subject, epoch: &Epoch) -> u64 {
        match self.logs.get(subject) {
            Some(log) if &log.epoch == epoch => log.covered_from,
            _ => self.floor(epoch),
        }
    }

    /// Appends a message (in offset order per log), then evicts down to the bounds.
    pub fn append(&mut self, subject: &Subject, message: Message) {
        let floor = self.floor(&message.epoch);
        let log = self
            .logs
            .entry(subject.clone())
            .or_insert_with(|| SubjectLog {
                epoch: message.epoch.clone(),
                messages: VecDeque::new(),
                bytes: 0,
                covered_from: floor,
            });
        if log.epoch != message.epoch {
            let old = std::mem::take(&mut log.messages);
            self.bytes -= log.bytes;
            self.messages -= old.len();
            log.bytes = 0;
            log.epoch = message.epoch.clone();
            // The subject moved to this log (or came back to it): earlier messages of
            // it here, from an earlier stint, were dropped with the old log.
            log.covered_from = floor.max(message.seq);
        }
        let cost = message.cost_bytes();
        self.arrival.push_back((subject.clone(), message.seq));
        log.bytes += cost;
        log.messages.push_back(message);
        self.bytes += cost;
        self.messages += 1;
        while log.messages.len() > self.per_subject_messages_max
            || (log.bytes > self.per_subject_bytes_max && log.messages.len() > 1)
        {
            Self::evict_front(
                log,
                &mut self.bytes,
                &mut self.messages,
                &mut self.evictions_total,
            );
        }
        if log.messages.is_empty() {
            self.forget(subject);
        }
        self.evict_to_bound();
        self.pop_stale_arrivals();
        self.compact_arrival();
    }

    /// Drops the entries at the front of the arrival queue whose message a
    /// per-subject bound already evicted, a few per append. Those bounds evict
    /// each subject's oldest, so stale entries gather at the front: popping them
    /// as they come keeps the queue near the number of messages, and the full
    /// sweep of [`Self::compact_arrival`] (a pause proportional to the whole cache
    /// on the one thread that serves every connection) rarely runs.
    fn pop_stale_arrivals(&mut self) {
        const POPS_PER_APPEND_MAX: usize = 4;
        for _ in 0..POPS_PER_APPEND_MAX {
            let Some((subject, seq)) = self.arrival.front() else {
                return;
            };
            let live = self
                .logs
                .get(subject)
                .is_some_and(|l| l.messages.front().is_some_and(|m| m.seq <= *seq));
            if live {
                return;
            }
            self.arrival.pop_front();
        }
    }

    fn evict_front(
        log: &mut SubjectLog,
        bytes: &mut usize,
        messages: &mut usize,
        evictions: &mut u64,
    ) {
        if let Some(m) = log.messages.pop_front() {
            log.bytes -= m.cost_bytes();
            log.covered_from = log.covered_from.max(m.seq + 1);
            *bytes -= m.cost_bytes();
            *messages -= 1;
            *evictions += 1;
        }
    }

    fn evict_to_bound(&mut self) {
        while self.bytes > self.bytes_max {
            let Some((subject, seq)) = self.arrival.pop_front() else {
                break;
            };
            let Some(log) = self.logs.get_mut(&subject) else {
                continue;
            };
            if log.messages.front().map(|m| m.seq) == Some(seq) {
                Self::evict_front(
                    log,
                    &mut self.bytes,
                    &mut self.messages,
                    &mut self.evictions_total,
                );
            }
            if log.messages.is_empty() {
                self.forget(&subject);
            }
        }
    }

    /// Removes an empty subject log; its coverage is folded into the log's floor, so
    /// the cache stays exact about what it no longer holds.
    fn forget(&mut self, subject: &Subject) {
        if let Some(log) = self.logs.remove(subject) {
            let floor = self.floors.entry(log.epoch.clone()).or_insert(0);
            *floor = (*floor).max(log.covered_from);
        }
    }

    /// Keeps the arrival queue proportional to what is cached: stale entries are
    /// dropped once they outnumber live ones.
    fn compact_arrival(&mut self) {
        if self.arrival.len() > 2 * self.messages + 64 {
            let logs = &self.logs;
            self.arrival.retain(|(subject, seq)| {
                logs.get(subject)
                    .is_some_and(|l| l.messages.front().is_some_and(|m| m.seq <= *seq))
            });
        }
    }

    /// Cached messages of `subject` with `seq > after`, oldest first.
    pub fn after(&self, subject: &Subject, epoch: &Epoch, after: u64) -> Vec<Message> {
        match self.logs.get(subject) {
            Some(log) if &log.epoch == epoch => log
                .messages
                .iter()
                .filter(|m| m.seq > after)
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The oldest cached message of `subject` in log `epoch` with `seq > after`
    /// (`None`: the oldest of all). Start frames are sent one at a time, as they fit.
    pub fn first_after(
        &self,
        subject: &Subject,
        epoch: &Epoch,
        after: Option<u64>,
    ) -> Option<Message> {
        let log = self.logs.get(subject).filter(|l| &l.epoch == epoch)?;
        let i = after.map_or(0, |a| log.messages.partition_point(|m| m.seq <= a));
        log.messages.get(i).cloned()
    }

    /// The last `n` cached messages of `subject`, oldest first.
    pub fn last(&self, subject: &Subject, n: usize) -> Vec<Message> {
        self.last_before(subject, n, u64::MAX)
    }

    /// The last `n` cached messages of `subject` with `seq < before`, oldest first.
    /// Only messages from `covered_from` on: older ones may sit before a hole (the
    /// log's start moved past records this gateway never read), and history must
    /// not span a gap.
    pub fn last_before(&self, subject: &Subject, n: usize, before: u64) -> Vec<Message> {
        let Some(log) = self.logs.get(subject) else {
            return Vec::new();
        };
        let from = log.messages.partition_point(|m| m.seq < log.covered_from);
        let to = log.messages.partition_point(|m| m.seq < before).max(from);
        log.messages
            .range(to.saturating_sub(n).max(from)..to)
            .cloned()
            .collect()
    }

    /// Forgets everything of a log that no longer exists.
    pub fn drop_epoch(&mut self, epoch: &Epoch) {
        let gone: Vec<Subject> = self
            .logs
            .iter()
            .filter(|(_, l)| &l.epoch == epoch)
            .map(|(s, _)| s.clone())
            .collect();
        for subject in gone {
            if let Some(log) = self.logs.remove(&subject) {
                self.bytes -= log.bytes;
                self.messages -= log.messages.len();
            }
        }
        self.floors.remove(epoch);
        self.compact_arrival();
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    pub fn evictions_total(&self) -> u64 {
        self.evictions_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageKind;
    use bytes::Bytes;

    fn msg(subject: &Subject, seq: u64) -> Message {
        Message {
            delta: false,
            subject: subject.shared(),
            data: Some(Bytes::from_static(b"0123456789")),
            seq,
            epoch: Epoch::new("e-0"),
            kind: MessageKind::Update,
            headers: None,
            headers_truncated: false,
            origin: None,
        }
    }

    /// Per-subject bounds evict each subject's oldest message: the arrival queue
    /// drops those entries as it goes, so it never needs the full sweep that
    /// paused the gateway for the whole cache's length (issue #19). Checked by
    /// size, not by time: the queue stays within a few entries per subject of the
    /// messages held, far below the sweep's trigger of twice that.
    #[test]
    fn per_subject_eviction_keeps_the_arrival_queue_near_the_messages_held() {
        let subjects: Vec<Subject> = (0..100)
            .map(|i| Subject::parse(&format!("/t/s{i}")).unwrap())
            .collect();
        let mut cache = MessageCache::new(usize::MAX, 8, usize::MAX);
        let mut most_over = 0;
        for seq in 0..50_000u64 {
            let subject = &subjects[(seq % 100) as usize];
            cache.append(subject, msg(subject, seq));
            most_over = most_over.max(cache.arrival.len().saturating_sub(cache.messages()));
        }
        assert_eq!(cache.messages(), 800);
        assert!(
            most_over <= 100,
            "arrival ran {most_over} entries past the messages held"
        );
    }

    #[test]
    fn per_subject_bound_moves_coverage() {
        let e = Epoch::new("e-0");
        let a = Subject::parse("/t/a").unwrap();
        let mut cache = MessageCache::new(usize::MAX, 3, usize::MAX);
        cache.raise_floor(&e, 0);
        for seq in 0..5 {
            cache.append(&a, msg(&a, seq * 2));
        }
        assert_eq!(
            cache
                .after(&a, &e, 0)
                .iter()
                .map(|m| m.seq)
                .collect::<Vec<_>>(),
            vec![4, 6, 8]
        );
        assert_eq!(cache.covered_from(&a, &e), 3);
        assert_eq!(cache.messages(), 3);
    }

    #[test]
    fn first_after_and_last_before_walk_the_complete_messages() {
        let e = Epoch::new("e-0");
        let a = Subject::parse("/t/a").unwrap();
        let mut cache = MessageCache::new(usize::MAX, 100, usize::MAX);
        cache.raise_floor(&e, 0);
        for seq in [2, 4, 6, 8] {
            cache.append(&a, msg(&a, seq));
        }
        let first = |after| cache.first_after(&a, &e, after).map(|m| m.seq);
        assert_eq!(
            (first(None), first(Some(2)), first(Some(3)), first(Some(8))),
            (Some(2), Some(4), Some(4), None)
        );
        assert_eq!(cache.first_after(&a, &Epoch::new("e-1"), None), None);
        fn last(cache: &MessageCache, n: usize, before: u64) -> Vec<u64> {
            let a = Subject::parse("/t/a").unwrap();
            cache
                .last_before(&a, n, before)
                .iter()
                .map(|m| m.seq)
                .collect()
        }
        assert_eq!(last(&cache, 2, 7), vec![4, 6]);
        assert_eq!(last(&cache, 9, 7), vec![2, 4, 6]);
        assert_eq!(last(&cache, 2, u64::MAX), vec![6, 8]);
        assert_eq!(last(&cache, 0, 7), Vec::<u64>::new());
        // Retention moved the log start past unread records: older ones are not
        // complete, and history must not reach back across the hole.
        cache.raise_floor(&e, 5);
        assert_eq!(last(&cache, 9, u64::MAX), vec![6, 8]);
        assert_eq!(last(&cache, 9, 5), Vec::<u64>::new());
    }

    #[test]
    fn global_bound_evicts_oldest_and_keeps_floor_exact() {
        let e = Epoch::new("e-0");
        let a = Subject::parse("/t/a").unwrap();
        let b = Subject::parse("/t/b").unwrap();
        let cost = msg(&a, 0).cost_bytes();
        let mut cache = MessageCache::new(2 * cost, 100, usize::MAX);
        cache.raise_floor(&e, 0);
        cache.append(&a, msg(&a, 0));
        cache.append(&b, msg(&b, 1));
        cache.append(&b, msg(&b, 2));
        assert!(cache.bytes() <= 2 * cost);
        // a's only message was evicted: its log is gone and the floor says so.
        assert_eq!(cache.covered_from(&a, &e), 1);
        assert_eq!(cache.covered_from(&b, &e), 0);
        let c = Subject::parse("/t/c").unwrap();
        assert_eq!(cache.covered_from(&c, &e), 1);
        cache.drop_epoch(&e);
        assert_eq!((cache.bytes(), cache.messages()), (0, 0));
    }
}
