//! The checker's model of one connection: per subject, where its subscription is in
//! its life (`docs/protocol.md` §6–7) and which record of the log must come next.
//! Every message and status a client reads is checked here, against the log itself
//! (invariants 1–4).

use std::collections::BTreeMap;

use sluice_core::protocol::{Message, MessageKind, SyncStatus};
use sluice_core::Gateway;

use crate::broker::SimBroker;
use crate::ledger::Heads;
use crate::subjects::Subjects;
use crate::violation::{Broken, Invariant};

/// How a subscription period starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Snapshot,
    History,
    /// Resume after this seq (same epoch: the world's epochs never change).
    Resume(u64),
}

/// Where a subscription is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Subscribed plainly: a snapshot may come first, then updates.
    SnapshotStart,
    /// Subscribed with `history`: past messages may come first, then updates.
    HistoryStart,
    /// Subscribed with a resume point: `recovered` messages, then `sync` or `resync`.
    Resuming,
    /// After `resync`: a snapshot may come first, then updates.
    Resynced,
    /// Updates only.
    Live,
}

/// One subscription period of one subject on one connection.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub phase: Phase,
    /// The next message (other than a snapshot or the first history message) must
    /// be the subject's first record at or after this offset.
    pub from: u64,
    /// The gateway's head on the subject's partition when the phase began.
    head: u64,
    /// Messages received in this phase.
    in_phase: u32,
    /// The last seq of the period; seqs must increase.
    pub last: Option<u64>,
    /// The first offset this period must deliver, if routed.
    pub origin: u64,
}

/// What the checker compares against: the log, and the gateway's own counters.
pub(crate) struct Oracle<'a> {
    pub subjects: &'a Subjects,
    pub broker: &'a SimBroker,
    pub gateway: &'a Gateway,
}

impl Oracle<'_> {
    pub fn head(&self, heads: &Heads, subject: usize) -> u64 {
        let s = self.subjects.get(subject);
        heads[s.topic][s.partition as usize]
    }

    /// The snapshot the gateway holds for `subject` if it read the log up to `head`.
    pub fn snapshot(&self, subject: usize, head: u64) -> Option<u64> {
        let s = self.subjects.get(subject);
        let skipped = self.broker.skipped(s.topic, s.partition);
        self.broker
            .log
            .snapshot_below(subject, s.topic, s.partition, head, skipped)
    }

    /// A missing snapshot is a bug only if the bounded cache never evicted one.
    pub fn check_no_snapshot(&self, subject: usize, head: u64) -> Result<(), Broken> {
        match self.snapshot(subject, head) {
            Some(seq) if self.gateway.stats().snapshot_cache_evictions_total == 0 => Err((
                Invariant::NoSilentGap,
                format!(
                    "{}: no snapshot, but the gateway read the retained record at seq {seq} (below its head {head}; it never read {:?}) and never evicted a snapshot",
                    self.subjects.get(subject).text,
                    self.broker.skipped(self.subjects.get(subject).topic, self.subjects.get(subject).partition),
                ),
            )),
            _ => Ok(()),
        }
    }

    fn gap(&self, subject: usize, from: u64, seq: u64, expected: Option<u64>) -> Broken {
        let skipped = self.broker.log.routed_between(subject, from, seq.max(from));
        let what = match expected {
            Some(e) if e < seq => format!("records {skipped:?} were skipped"),
            Some(e) => format!("seq {seq} comes before the expected {e}"),
            None => format!("the log has no record of it at or after {from}"),
        };
        (
            Invariant::NoSilentGap,
            format!(
                "{}: got seq {seq}, expected the first record at or after {from} ({}): {what}, without resync",
                self.subjects.get(subject).text,
                expected.map_or("none".to_owned(), |e| e.to_string()),
            ),
        )
    }
}

/// The subscriptions of one connection, as the checker follows them.
#[derive(Debug, Default)]
pub(crate) struct Views {
    views: BTreeMap<usize, View>,
}

impl Views {
    /// A subscribe was confirmed (`ok`): a new period begins.
    pub fn start(&mut self, subject: usize, start: Start, head: u64) {
        let (phase, from) = match start {
            Start::Snapshot => (Phase::SnapshotStart, head),
            Start::History => (Phase::HistoryStart, head),
            Start::Resume(seq) => (Phase::Resuming, seq + 1),
        };
        self.views.insert(
            subject,
            View {
                phase,
                from,
                head,
                in_phase: 0,
                last: None,
                origin: from,
            },
        );
    }

    /// An unsubscribe was confirmed (`ok`): nothing more may come for `subject`.
    pub fn end(&mut self, subject: usize) {
        self.views.remove(&subject);
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &View)> {
        self.views.iter().map(|(&s, v)| (s, v))
    }

    pub fn get(&self, subject: usize) -> Option<&View> {
        self.views.get(&subject)
    }

    /// A message was read; `heads` are the gateway's heads when it was queued.
    pub fn message(
        &mut self,
        oracle: &Oracle,
        subject: usize,
        m: &Message,
        heads: &Heads,
    ) -> Result<(), Broken> {
        let text = &oracle.subjects.get(subject).text;
        let (kind, seq) = (m.kind.as_str(), m.seq);
        let Some(view) = self.views.get_mut(&subject) else {
            return Err((
                Invariant::NothingAfterEnd,
                format!("{text}: {kind} seq {seq} without a subscription (after the unsubscribe ok, or never subscribed)"),
            ));
        };
        check_content(oracle, subject, m)?;
        if let Some(last) = view.last {
            if seq <= last {
                return Err((
                    Invariant::SeqIncreases,
                    format!("{text}: {kind} seq {seq} after seq {last}"),
                ));
            }
        }
        match (view.phase, m.kind) {
            (Phase::SnapshotStart | Phase::Resynced, MessageKind::Snapshot)
                if view.in_phase == 0 =>
            {
                // The snapshot as the gateway held it when it queued it: at the start,
                // or later if the start was paced (then the messages after it follow
                // as updates, `from` below).
                let head = oracle.head(heads, subject);
                let expected = oracle.snapshot(subject, head);
                if head < view.head || expected != Some(seq) {
                    return Err((
                        Invariant::NoSilentGap,
                        format!(
                            "{text}: snapshot seq {seq}, but the latest retained value below the gateway's head {head} (when it was queued; {} at the start) is {expected:?}",
                            view.head
                        ),
                    ));
                }
            }
            (
                Phase::SnapshotStart | Phase::Resynced | Phase::HistoryStart | Phase::Live,
                MessageKind::Update,
            ) => {
                if view.phase != Phase::Live {
                    if seq < view.head {
                        return Err((
                            Invariant::StartBeforeLive,
                            format!(
                                "{text}: update seq {seq} is older than the subscription's start (the gateway's head was {}): a live update came before the start was done",
                                view.head
                            ),
                        ));
                    }
                    if view.phase != Phase::HistoryStart && view.in_phase == 0 {
                        oracle.check_no_snapshot(subject, view.head)?;
                    }
                }
                expect_next(oracle, subject, view.from, seq)?;
                view.phase = Phase::Live;
            }
            (Phase::HistoryStart, MessageKind::History) => {
                if seq >= view.head {
                    return Err((
                        Invariant::StartBeforeLive,
                        format!("{text}: history seq {seq} is not older than the subscription's start (head {})", view.head),
                    ));
                }
                if view.in_phase > 0 {
                    expect_next(oracle, subject, view.from, seq)?;
                }
            }
            (Phase::Resuming, MessageKind::Recovered) => {
                expect_next(oracle, subject, view.from, seq)?
            }
            (phase, _) => {
                return Err((
                    Invariant::StartBeforeLive,
                    format!("{text}: {kind} seq {seq} while the subscription is in {phase:?} (after {} messages of it)", view.in_phase),
                ));
            }
        }
        view.in_phase += 1;
        view.last = Some(seq);
        view.from = view.from.max(seq + 1);
        if m.kind == MessageKind::History {
            view.from = seq + 1;
        }
        Ok(())
    }

    pub fn status(
        &mut self,
        oracle: &Oracle,
        subject: usize,
        status: SyncStatus,
        heads: &Heads,
    ) -> Result<(), Broken> {
        let text = &oracle.subjects.get(subject).text;
        let Some(view) = self.views.get_mut(&subject) else {
            return Err((
                Invariant::NothingAfterEnd,
                format!("{text}: status {} without a subscription", status.as_str()),
            ));
        };
        let head = oracle.head(heads, subject);
        match status {
            SyncStatus::Sync => {
                if view.phase != Phase::Resuming {
                    return Err((
                        Invariant::StartBeforeLive,
                        format!("{text}: sync while the subscription is in {:?}", view.phase),
                    ));
                }
                if let Some(missed) = oracle.broker.log.next_routed(subject, view.from) {
                    if missed < head {
                        return Err((
                            Invariant::NoSilentGap,
                            format!(
                                "{text}: sync, but record {missed} (after the last recovered {:?}, below the gateway's head {head}) was never sent",
                                view.last
                            ),
                        ));
                    }
                }
                view.phase = Phase::Live;
            }
            SyncStatus::Resync => {
                *view = View {
                    phase: Phase::Resynced,
                    from: head,
                    head,
                    in_phase: 0,
                    last: None,
                    origin: head,
                };
            }
        }
        Ok(())
    }
}

/// The message is the log's record at its seq: the subject's key, partition, epoch
/// and payload.
fn check_content(oracle: &Oracle, subject: usize, m: &Message) -> Result<(), Broken> {
    let s = oracle.subjects.get(subject);
    let log = &oracle.broker.log;
    let epoch = log.epoch(s.topic, s.partition);
    let wrong = if &m.epoch != epoch {
        Some(format!("epoch {} is not the log's {epoch}", m.epoch))
    } else if !log.is_routed(subject, m.seq) {
        Some("the log has no record of this subject at that seq".to_owned())
    } else if log.record(s.topic, s.partition, m.seq).map(|r| &r.payload) != Some(&m.data) {
        Some("the payload differs from the log's".to_owned())
    } else {
        None
    };
    match wrong {
        Some(why) => Err((
            Invariant::NoSilentGap,
            format!("{}: {} seq {}: {why}", s.text, m.kind.as_str(), m.seq),
        )),
        None => Ok(()),
    }
}

/// `seq` must be the subject's first record at or after `from`.
fn expect_next(oracle: &Oracle, subject: usize, from: u64, seq: u64) -> Result<(), Broken> {
    let expected = oracle.broker.log.next_routed(subject, from);
    if expected == Some(seq) {
        Ok(())
    } else {
        Err(oracle.gap(subject, from, seq, expected))
    }
}
