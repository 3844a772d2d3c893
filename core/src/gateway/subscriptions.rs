//! One client's subscriptions by subject, as a sorted vector. Most clients hold a
//! handful (often one); a `BTreeMap` allocates a whole node of eleven slots (about
//! 850 bytes here) for the first, which was the largest part of an idle
//! subscribed client's state in the core.

use super::client::Subscription;
use crate::subject::Subject;

#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    /// Sorted by subject, each subject once.
    entries: Vec<(Subject, Subscription)>,
}

impl Subscriptions {
    fn find(&self, subject: &Subject) -> Result<usize, usize> {
        // Routing looks subjects up by the routing table's copy, which the
        // subscriptions share: equal by pointer, without comparing the text.
        self.entries.binary_search_by(|(s, _)| {
            if s.shares_text_with(subject) {
                std::cmp::Ordering::Equal
            } else {
                s.cmp(subject)
            }
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains_key(&self, subject: &Subject) -> bool {
        self.find(subject).is_ok()
    }

    pub fn get(&self, subject: &Subject) -> Option<&Subscription> {
        self.find(subject).ok().map(|i| &self.entries[i].1)
    }

    /// The subscription to the subject spelled `text` (subjects order as their
    /// text does, so the same binary search finds it).
    pub fn get_by_text_mut(&mut self, text: &str) -> Option<&mut Subscription> {
        let i = self
            .entries
            .binary_search_by(|(s, _)| s.as_str().cmp(text))
            .ok()?;
        Some(&mut self.entries[i].1)
    }

    pub fn get_mut(&mut self, subject: &Subject) -> Option<&mut Subscription> {
        self.find(subject).ok().map(|i| &mut self.entries[i].1)
    }

    /// Adds or replaces the subscription to `subject`; returns the one it replaced.
    pub fn insert(&mut self, subject: Subject, subscription: Subscription) -> Option<Subscription> {
        match self.find(&subject) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, subscription)),
            Err(i) => {
                if self.entries.len() == self.entries.capacity() {
                    // Doubling from one: a client with one subscription holds one
                    // slot (a `Vec` would start at four).
                    self.entries.reserve_exact(self.entries.len().max(1));
                }
                self.entries.insert(i, (subject, subscription));
                None
            }
        }
    }

    pub fn remove(&mut self, subject: &Subject) -> Option<Subscription> {
        self.find(subject).ok().map(|i| self.entries.remove(i).1)
    }

    /// The subjects, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Subject> {
        self.entries.iter().map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Epoch;

    fn subscription(after: u64) -> Subscription {
        Subscription {
            epoch: Epoch::new("e"),
            after: Some(after),
            recovering: None,
            headers: false,
            conflate_ms: 0,
            delta: None,
        }
    }

    fn subject(text: &str) -> Subject {
        Subject::parse(text).unwrap()
    }

    #[test]
    fn behaves_as_a_map_sorted_by_subject() {
        let mut subs = Subscriptions::default();
        assert!(subs.insert(subject("/t/b"), subscription(1)).is_none());
        assert!(subs.insert(subject("/t/a"), subscription(2)).is_none());
        assert!(subs.insert(subject("/t/c"), subscription(3)).is_none());
        assert_eq!(
            subs.insert(subject("/t/b"), subscription(4))
                .map(|s| s.after),
            Some(Some(1))
        );
        assert_eq!(subs.len(), 3);
        let keys: Vec<&str> = subs.keys().map(Subject::as_str).collect();
        assert_eq!(keys, ["/t/a", "/t/b", "/t/c"]);
        assert_eq!(subs.get_mut(&subject("/t/b")).unwrap().after, Some(4));
        subs.get_mut(&subject("/t/c")).unwrap().after = Some(9);
        assert_eq!(subs.remove(&subject("/t/c")).unwrap().after, Some(9));
        assert!(!subs.contains_key(&subject("/t/c")));
        assert!(subs.remove(&subject("/t/c")).is_none());
        assert_eq!(subs.len(), 2);
    }

    #[test]
    fn one_subscription_holds_one_slot() {
        let mut subs = Subscriptions::default();
        subs.insert(subject("/t/a"), subscription(1));
        assert_eq!(subs.entries.capacity(), 1);
    }
}
