//! The storm's correctness check: what one resumed subscriber received on its
//! subject, against what was published after its resume point. Every payload of
//! the storm carries its number in the subject's sequence, so a gap or a
//! duplicate shows without knowing the broker's offsets.

use serde::Serialize;

/// Counts of what went wrong, summed over subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    /// Messages of the sequence never received before a later one arrived.
    pub gaps: u64,
    /// Messages received again, or out of order (at or below one already seen).
    pub duplicates: u64,
}

impl Violations {
    pub fn add(&mut self, other: Violations) {
        self.gaps += other.gaps;
        self.duplicates += other.duplicates;
    }

    pub fn any(&self) -> bool {
        self.gaps + self.duplicates > 0
    }
}

/// One subscriber's sequence on its subject.
#[derive(Debug, Clone)]
pub struct SequenceCheck {
    /// The number of the message resumed after.
    pub after: u64,
    /// The number expected next; `None` after a `resync` until the next message,
    /// which starts the sequence again (the protocol's rule for a refused resume).
    next: Option<u64>,
    pub violations: Violations,
    /// Messages received.
    pub received: u64,
    /// The numbers received, in order, kept for the report when something is wrong.
    pub numbers: Vec<u64>,
}

impl SequenceCheck {
    /// A subscriber that resumed after message number `resumed_after`.
    pub fn after(resumed_after: u64) -> SequenceCheck {
        SequenceCheck {
            after: resumed_after,
            next: Some(resumed_after + 1),
            violations: Violations::default(),
            received: 0,
            numbers: Vec::new(),
        }
    }

    /// The gateway answered `resync`: the position is void, a snapshot may follow.
    pub fn resync(&mut self) {
        self.next = None;
    }

    /// Message number `number` arrived.
    pub fn receive(&mut self, number: u64) {
        self.received += 1;
        self.numbers.push(number);
        match self.next {
            None => self.next = Some(number + 1),
            Some(next) if number == next => self.next = Some(next + 1),
            Some(next) if number > next => {
                self.violations.gaps += number - next;
                self.next = Some(number + 1);
            }
            Some(_) => self.violations.duplicates += 1,
        }
    }

    /// Whether every message up to and including `number` has arrived.
    pub fn reached(&self, number: u64) -> bool {
        self.next.is_some_and(|next| next > number)
    }

    /// The violations once the run is over and every message up to and including
    /// `last` was due: those never received count as gaps.
    pub fn finish(&self, last: u64) -> Violations {
        let mut violations = self.violations;
        match self.next {
            Some(next) if next <= last => violations.gaps += last + 1 - next,
            Some(_) => {}
            // A resync with nothing after it: the live message never came.
            None => violations.gaps += 1,
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contiguous_sequence_has_no_violation() {
        let mut check = SequenceCheck::after(3);
        for n in 4..=9 {
            check.receive(n);
        }
        assert_eq!(check.violations, Violations::default());
        assert!(check.reached(9));
        assert!(!check.reached(10));
        assert_eq!(check.finish(9), Violations::default());
        // Messages due but never received are gaps.
        assert_eq!(check.finish(11).gaps, 2);
    }

    #[test]
    fn gaps_and_duplicates_are_counted() {
        let mut check = SequenceCheck::after(0);
        check.receive(1);
        check.receive(4); // 2 and 3 missing
        check.receive(4);
        check.receive(2);
        assert_eq!(
            check.violations,
            Violations {
                gaps: 2,
                duplicates: 2
            }
        );
        // A message before the resume point is a duplicate too.
        let mut early = SequenceCheck::after(5);
        early.receive(5);
        assert_eq!(early.violations.duplicates, 1);
    }

    #[test]
    fn a_resync_restarts_the_sequence_at_the_next_message() {
        let mut check = SequenceCheck::after(2);
        check.resync();
        check.receive(9);
        check.receive(10);
        assert_eq!(check.violations, Violations::default());
        assert!(check.reached(10));
    }
}
