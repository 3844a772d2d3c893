//! What the soak checks: every publish the gateway acknowledged reaches the
//! witnesses, clients subscribed to every subject for the whole run, who lose
//! their connection now and then and resume.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Where a message was written: its subject and the log position the ack gave.
pub type Position = (String, String, u64);

#[derive(Debug, Default)]
pub struct Ledger {
    acked: Mutex<HashSet<Position>>,
    /// What each witness received, by witness.
    seen: Mutex<HashMap<usize, HashSet<Position>>>,
    /// Subjects on which a witness got `resync`: what it missed there is not the
    /// gateway's to owe (the protocol's rule for a resume point out of reach).
    resynced: Mutex<HashMap<usize, HashSet<String>>>,
}

/// The verdict at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub acked: usize,
    /// Acknowledged publishes some witness never received, without a `resync`
    /// that would explain it.
    pub lost: usize,
    /// Acknowledged publishes a witness missed after a `resync` on their subject.
    pub unverifiable: usize,
}

impl Ledger {
    pub fn acked(&self, position: Position) {
        self.acked.lock().unwrap().insert(position);
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    pub fn seen(&self, witness: usize, position: Position) {
        let mut seen = self.seen.lock().unwrap();
        seen.entry(witness).or_default().insert(position);
    }

    pub fn resynced(&self, witness: usize, subject: &str) {
        let mut resynced = self.resynced.lock().unwrap();
        resynced
            .entry(witness)
            .or_default()
            .insert(subject.to_owned());
    }

    pub fn verdict(&self, witnesses: usize) -> Verdict {
        let acked = self.acked.lock().unwrap();
        let seen = self.seen.lock().unwrap();
        let resynced = self.resynced.lock().unwrap();
        let empty_seen = HashSet::new();
        let empty_resynced = HashSet::new();
        let mut verdict = Verdict {
            acked: acked.len(),
            lost: 0,
            unverifiable: 0,
        };
        for witness in 0..witnesses {
            let seen = seen.get(&witness).unwrap_or(&empty_seen);
            let resynced = resynced.get(&witness).unwrap_or(&empty_resynced);
            for position in acked.iter().filter(|p| !seen.contains(*p)) {
                if resynced.contains(&position.0) {
                    verdict.unverifiable += 1;
                } else {
                    verdict.lost += 1;
                }
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(subject: &str, seq: u64) -> Position {
        (subject.to_owned(), "e1".to_owned(), seq)
    }

    #[test]
    fn an_ack_no_witness_saw_is_lost_unless_a_resync_explains_it() {
        let ledger = Ledger::default();
        ledger.acked(at("/soak/a", 1));
        ledger.acked(at("/soak/b", 2));
        ledger.seen(0, at("/soak/a", 1));
        ledger.seen(1, at("/soak/a", 1));
        ledger.seen(1, at("/soak/b", 2));
        assert_eq!(
            ledger.verdict(2),
            Verdict {
                acked: 2,
                lost: 1,
                unverifiable: 0
            }
        );
        ledger.resynced(0, "/soak/b");
        assert_eq!(ledger.verdict(2).lost, 0);
        assert_eq!(ledger.verdict(2).unverifiable, 1);
    }
}
