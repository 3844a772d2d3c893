//! The checker's model of one connection: per subject, where its subscription is in
//! its life (`docs/protocol.md` §6–7), which log (partition) the client is on, and
//! which record of that log must come next. Every message and status a client reads
//! is checked here, against the log itself and the order the gateway read it in
//! (invariants 1–4).

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_core::protocol::{fossil_delta, Message, MessageKind, SyncStatus};
use sluice_core::Gateway;

use crate::broker::SimBroker;
use crate::ledger::Heads;
use crate::reads::{Read, Reads};
use crate::subjects::Subjects;
use crate::violation::{Broken, Invariant};

/// How a subscription period starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Snapshot,
    /// `n` past messages, then `history_end` if `end_marker`.
    History {
        n: u32,
        end_marker: bool,
    },
    /// Resume after `seq` of the log of `partition` (the resume point's epoch).
    Resume {
        partition: u32,
        seq: u64,
    },
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

/// The log a client is on for a subject, and where in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct On {
    pub partition: u32,
    /// The next message (other than the first history message) must be the
    /// subject's first record on `partition` at or after this offset.
    pub from: u64,
    /// The first offset of `partition` this stretch must deliver, if routed.
    pub origin: u64,
    /// The subject's stint (`Read::stint`) when the last message was queued.
    stint: Option<usize>,
}

/// One subscription period of one subject on one connection, from its start or
/// its last `resync`.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub phase: Phase,
    /// What the gateway had read when the phase began.
    start: Heads,
    /// The client's log: `None` until the first message after a plain or history
    /// start or a `resync` (a resume starts on the log its epoch names).
    pub on: Option<On>,
    /// Messages received in this phase.
    in_phase: u32,
    /// The last seq received on `on`'s log; seqs must increase.
    pub last: Option<u64>,
    /// Conflated (`conflate_ms`): a live or recovered message may skip records of
    /// the log (never go back, never come from elsewhere); the final value must
    /// still arrive, which liveness checks as for every subscription.
    conflated: bool,
    /// A history start: what it asked for and how far it got.
    history: Option<HistoryCheck>,
    /// The last value the gateway sent in this period: what its next delta
    /// (protocol 1.1) applies to. Rebuilt here, independently of the SDK.
    delta_base: Option<Bytes>,
}

/// A history start as the checker follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistoryCheck {
    n: u32,
    end_marker: bool,
    /// The first history message's seq, if any came.
    first: Option<u64>,
    /// `history_end` came: no more history may.
    ended: bool,
}

/// What the checker compares against: the log, the order the gateway read it in,
/// and the gateway's own counters.
pub(crate) struct Oracle<'a> {
    pub subjects: &'a Subjects,
    pub broker: &'a SimBroker,
    pub reads: &'a Reads,
    pub gateway: &'a Gateway,
}

impl Oracle<'_> {
    fn head(&self, heads: &Heads, subject: usize, partition: u32) -> u64 {
        heads.positions[self.subjects.get(subject).topic][partition as usize]
    }

    /// The subject's latest value after the gateway's first `reads` records.
    pub fn latest_value(&self, subject: usize, reads: u64) -> Option<(u32, u64)> {
        let topic = self.subjects.get(subject).topic;
        self.reads
            .latest_value(&self.broker.log, subject, topic, reads)
    }

    /// A missing snapshot is a bug only if the bounded cache never evicted one.
    pub fn check_no_snapshot(&self, subject: usize, reads: u64) -> Result<(), Broken> {
        match self.latest_value(subject, reads) {
            Some((p, seq)) if self.gateway.stats().snapshot_cache_evictions_total == 0 => Err((
                Invariant::NoSilentGap,
                format!(
                    "{}: no snapshot, but the gateway had read the retained record at seq {seq} of partition {p}, its latest value (after {reads} records read), and never evicted a snapshot",
                    self.subjects.get(subject).text,
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Where the subject's records were when the frame was queued (its last record
    /// the gateway had read), if anywhere.
    fn current(&self, subject: usize, heads: &Heads) -> Option<Read> {
        self.reads.current(subject, heads.reads)
    }

    fn gap(
        &self,
        subject: usize,
        partition: u32,
        from: u64,
        seq: u64,
        expected: Option<u64>,
    ) -> Broken {
        let skipped = self
            .broker
            .log
            .routed_between(subject, partition, from, seq.max(from));
        let what = match expected {
            Some(e) if e < seq => format!("records {skipped:?} were skipped"),
            Some(e) => format!("seq {seq} comes before the expected {e}"),
            None => format!("the log has no record of it at or after {from}"),
        };
        (
            Invariant::NoSilentGap,
            format!(
                "{}: got seq {seq} of partition {partition}, expected the first record there at or after {from} ({}): {what}, without resync",
                self.subjects.get(subject).text,
                expected.map_or("none".to_owned(), |e| e.to_string()),
            ),
        )
    }
}

impl View {
    /// How many records the gateway had read when the phase began.
    pub fn start_reads(&self) -> u64 {
        self.start.reads
    }
}

/// The subscriptions of one connection, as the checker follows them.
#[derive(Debug, Default)]
pub(crate) struct Views {
    views: BTreeMap<usize, View>,
}

impl Views {
    /// A subscribe was confirmed (`ok`): a new period begins.
    pub fn start(&mut self, subject: usize, start: Start, conflated: bool, heads: Heads) {
        let (phase, on) = match start {
            Start::Snapshot => (Phase::SnapshotStart, None),
            Start::History { .. } => (Phase::HistoryStart, None),
            Start::Resume { partition, seq } => (
                Phase::Resuming,
                Some(On {
                    partition,
                    from: seq + 1,
                    origin: seq + 1,
                    stint: None,
                }),
            ),
        };
        self.views.insert(
            subject,
            View {
                phase,
                start: heads,
                on,
                in_phase: 0,
                last: None,
                conflated,
                history: match start {
                    Start::History { n, end_marker } => Some(HistoryCheck {
                        n,
                        end_marker,
                        first: None,
                        ended: false,
                    }),
                    _ => None,
                },
                delta_base: None,
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

    /// A message was read; `heads` are what the gateway had read when it was queued.
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
        let rebuilt = undelta(view, m).map_err(|why| {
            (
                Invariant::NoSilentGap,
                format!("{text}: {kind} seq {seq}: the delta chain diverged: {why}"),
            )
        })?;
        let m = &rebuilt;
        let p = check_content(oracle, subject, m)?;
        let current = oracle.current(subject, heads);
        check_on_current_log(oracle, subject, m, p, current)?;
        if let Some(on) = view.on {
            if on.partition != p {
                return Err((
                    Invariant::NoSilentGap,
                    format!("{text}: {kind} seq {seq} of partition {p}, but the client is on partition {}'s log (last seq {:?}): the epoch changed without resync", on.partition, view.last),
                ));
            }
            if let (Some(stint), Some(now)) = (on.stint, current) {
                if stint != now.stint {
                    return Err((
                        Invariant::NoSilentGap,
                        format!("{text}: {kind} seq {seq} of partition {p}, but the subject's records left that partition and came back (at {}) since the client's last message {:?}, without resync", oracle.reads.stint_since(subject, now), view.last),
                    ));
                }
            }
            if view.phase == Phase::Resuming {
                check_exact_resume(oracle, subject, on, current)?;
            }
        }
        if let Some(last) = view.last {
            if seq <= last {
                return Err((
                    Invariant::SeqIncreases,
                    format!("{text}: {kind} seq {seq} after seq {last}"),
                ));
            }
        }
        let start_head = oracle.head(&view.start, subject, p);
        match (view.phase, m.kind) {
            (Phase::SnapshotStart | Phase::Resynced, MessageKind::Snapshot)
                if view.in_phase == 0 =>
            {
                // The snapshot as the gateway held it when it queued it: at the start,
                // or later if the start was paced (then the messages after it follow
                // as updates).
                let expected = oracle.latest_value(subject, heads.reads);
                if heads.reads < view.start.reads || expected != Some((p, seq)) {
                    return Err((
                        Invariant::NoSilentGap,
                        format!(
                            "{text}: snapshot seq {seq} of partition {p}, but the latest value after the {} records the gateway had read when it was queued ({} at the start) is {expected:?} (partition, seq)",
                            heads.reads, view.start.reads
                        ),
                    ));
                }
            }
            (
                Phase::SnapshotStart | Phase::Resynced | Phase::HistoryStart | Phase::Live,
                MessageKind::Update,
            ) => {
                if view.phase != Phase::Live {
                    if let Some(h) = view.history.filter(|h| h.end_marker && !h.ended) {
                        if view.phase == Phase::HistoryStart {
                            return Err((
                                Invariant::StartBeforeLive,
                                format!("{text}: update seq {seq} before history_end (after {} history messages, {} asked for)", view.in_phase, h.n),
                            ));
                        }
                    }
                    if seq < start_head {
                        return Err((
                            Invariant::StartBeforeLive,
                            format!(
                                "{text}: update seq {seq} is older than the subscription's start (the gateway's head on partition {p} was {start_head}): a live update came before the start was done",
                            ),
                        ));
                    }
                    if view.phase != Phase::HistoryStart && view.in_phase == 0 {
                        oracle.check_no_snapshot(subject, view.start.reads)?;
                    }
                }
                match view.on {
                    _ if view.conflated => {}
                    Some(on) => expect_next(oracle, subject, p, on.from, seq)?,
                    None => expect_first_read(oracle, subject, view.start.reads, p, seq)?,
                }
                view.phase = Phase::Live;
            }
            (Phase::HistoryStart, MessageKind::History) => {
                let h = view
                    .history
                    .as_mut()
                    .expect("a history phase has its check");
                if h.ended || view.in_phase >= h.n {
                    return Err((
                        Invariant::StartBeforeLive,
                        format!("{text}: history seq {seq} after {} history messages of the {} asked for (ended: {})", view.in_phase, h.n, h.ended),
                    ));
                }
                h.first = h.first.or(Some(seq));
                if seq >= start_head {
                    return Err((
                        Invariant::StartBeforeLive,
                        format!("{text}: history seq {seq} is not older than the subscription's start (head {start_head} on partition {p})"),
                    ));
                }
                if let Some(on) = view.on {
                    expect_next(oracle, subject, p, on.from, seq)?;
                }
            }
            (Phase::Resuming, MessageKind::Recovered) => {
                let on = view.on.expect("a resume starts on the log its epoch names");
                // A conflated resume gives only the latest missed message: `sync`
                // then checks that nothing after it was left.
                if !view.conflated {
                    expect_next(oracle, subject, p, on.from, seq)?
                }
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
        let stint = current.map(|r| r.stint);
        let on = view.on.get_or_insert(On {
            partition: p,
            from: start_head,
            origin: start_head,
            stint,
        });
        on.from = if m.kind == MessageKind::History {
            seq + 1
        } else {
            on.from.max(seq + 1)
        };
        on.stint = stint;
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
        match status {
            SyncStatus::Sync => {
                let (Phase::Resuming, Some(on)) = (view.phase, view.on) else {
                    return Err((
                        Invariant::StartBeforeLive,
                        format!("{text}: sync while the subscription is in {:?}", view.phase),
                    ));
                };
                let current = oracle.current(subject, heads);
                if let Some(now) = current.filter(|r| r.partition != on.partition) {
                    return Err((
                        Invariant::NoSilentGap,
                        format!(
                            "{text}: sync on partition {}, but the subject's records are on partition {} (the gateway had read its record at {} there): the resume must resync",
                            on.partition, now.partition, now.offset
                        ),
                    ));
                }
                check_exact_resume(oracle, subject, on, current)?;
                let head = oracle.head(heads, subject, on.partition);
                if let Some(missed) = oracle
                    .broker
                    .log
                    .next_routed(subject, on.partition, on.from)
                {
                    if missed < head {
                        return Err((
                            Invariant::NoSilentGap,
                            format!(
                                "{text}: sync, but record {missed} of partition {} (after the last recovered {:?}, below the gateway's head {head}) was never sent",
                                on.partition, view.last
                            ),
                        ));
                    }
                }
                if let Some(on) = view.on.as_mut() {
                    on.stint = current.map(|r| r.stint);
                }
                view.phase = Phase::Live;
            }
            SyncStatus::Resync => {
                *view = View {
                    phase: Phase::Resynced,
                    start: heads.clone(),
                    on: None,
                    in_phase: 0,
                    last: None,
                    conflated: view.conflated,
                    history: None,
                    delta_base: None,
                };
            }
            SyncStatus::HistoryEnd { complete } => {
                check_history_end(oracle, subject, view, complete)?
            }
        }
        Ok(())
    }
}

/// The message is the log's record at its seq on the partition its epoch names:
/// one routed to the subject, with that payload. Returns the partition.
fn check_content(oracle: &Oracle, subject: usize, m: &Message) -> Result<u32, Broken> {
    let s = oracle.subjects.get(subject);
    let log = &oracle.broker.log;
    let partition = log.partition_of(s.topic, &m.epoch);
    let wrong = match partition {
        None => Some(format!("epoch {} names no partition of the topic", m.epoch)),
        Some(p) if !log.is_routed(subject, p, m.seq) => Some(format!(
            "partition {p}'s log has no record of this subject at that seq"
        )),
        Some(p) if log.record(s.topic, p, m.seq).map(|r| &r.payload) != Some(&m.data) => {
            Some("the payload differs from the log's".to_owned())
        }
        Some(_) => None,
    };
    match (wrong, partition) {
        (None, Some(p)) => Ok(p),
        (why, _) => Err((
            Invariant::NoSilentGap,
            format!(
                "{}: {} seq {}: {}",
                s.text,
                m.kind.as_str(),
                m.seq,
                why.unwrap_or_default()
            ),
        )),
    }
}

/// A message comes from the log the subject's records were on when it was queued:
/// once the gateway read a record of it on another partition, the subject moved,
/// and its subscribers get `resync` before anything of the new log (§2).
fn check_on_current_log(
    oracle: &Oracle,
    subject: usize,
    m: &Message,
    partition: u32,
    current: Option<Read>,
) -> Result<(), Broken> {
    match current {
        Some(now) if now.partition != partition => Err((
            Invariant::NoSilentGap,
            format!(
                "{}: {} seq {} of partition {partition}, but the subject's records were on partition {} when it was queued (the gateway had read its record at {} there)",
                oracle.subjects.get(subject).text,
                m.kind.as_str(),
                m.seq,
                now.partition,
                now.offset
            ),
        )),
        _ => Ok(()),
    }
}

/// A resume after seq `s` is exact only if the subject's records are on the resumed
/// log since at or before `s` (§7): if it moved there later, the records between
/// were elsewhere, and the resume must resync.
fn check_exact_resume(
    oracle: &Oracle,
    subject: usize,
    on: On,
    current: Option<Read>,
) -> Result<(), Broken> {
    let Some(now) = current.filter(|r| r.partition == on.partition) else {
        return Ok(());
    };
    let since = oracle.reads.stint_since(subject, now);
    let resumed_after = on.origin - 1;
    if since > resumed_after {
        return Err((
            Invariant::NoSilentGap,
            format!(
                "{}: resumed on partition {} after seq {resumed_after}, but the subject moved there at {since}: its records between were elsewhere, and the resume did not resync",
                oracle.subjects.get(subject).text,
                on.partition
            ),
        ));
    }
    Ok(())
}

/// `seq` must be the subject's first record on `partition` at or after `from`.
fn expect_next(
    oracle: &Oracle,
    subject: usize,
    partition: u32,
    from: u64,
    seq: u64,
) -> Result<(), Broken> {
    let expected = oracle.broker.log.next_routed(subject, partition, from);
    if expected == Some(seq) {
        Ok(())
    } else {
        Err(oracle.gap(subject, partition, from, seq, expected))
    }
}

/// The first message after a start with nothing to start with must be the
/// subject's first record the gateway read after the start, on whatever partition.
fn expect_first_read(
    oracle: &Oracle,
    subject: usize,
    start_reads: u64,
    partition: u32,
    seq: u64,
) -> Result<(), Broken> {
    let first = oracle.reads.first_after(subject, start_reads);
    if first.is_some_and(|r| r.partition == partition && r.offset == seq) {
        return Ok(());
    }
    Err((
        Invariant::NoSilentGap,
        format!(
            "{}: got seq {seq} of partition {partition} first, but the subject's first record the gateway read after the start was {:?} (partition, seq), without resync",
            oracle.subjects.get(subject).text,
            first.map(|r| (r.partition, r.offset))
        ),
    ))
}

/// `history_end` ends a history start that asked for it, once, before any update;
/// `complete` is true exactly when the history has all `n` asked for or the
/// subject's log never had more (the first history message is the subject's first
/// record on that partition, or there was none below the start).
fn check_history_end(
    oracle: &Oracle,
    subject: usize,
    view: &mut View,
    complete: bool,
) -> Result<(), Broken> {
    let text = &oracle.subjects.get(subject).text;
    let sent = view.in_phase;
    let h = match view.history.as_mut() {
        Some(h) if view.phase == Phase::HistoryStart && h.end_marker && !h.ended => h,
        _ => {
            return Err((
                Invariant::StartBeforeLive,
                format!(
                    "{text}: history_end while the subscription is in {:?} (history {:?})",
                    view.phase, view.history
                ),
            ))
        }
    };
    h.ended = true;
    let (n, first) = (h.n, h.first);
    if !complete {
        if sent >= n {
            return Err((
                Invariant::NoSilentGap,
                format!("{text}: history_end says incomplete after all {n} history messages"),
            ));
        }
        return Ok(());
    }
    if sent >= n {
        return Ok(());
    }
    // Fewer than asked, said complete: nothing of the subject may precede them.
    let Some(current) = oracle.current(subject, &view.start) else {
        return Ok(());
    };
    let p = current.partition;
    let below = first.unwrap_or_else(|| oracle.head(&view.start, subject, p));
    if let Some(older) = oracle
        .broker
        .log
        .next_routed(subject, p, 0)
        .filter(|&o| o < below)
    {
        return Err((
            Invariant::NoSilentGap,
            format!(
                "{text}: history_end complete after {sent} of {n} history messages, but partition {p} has the subject's record at {older}, older than the history's first ({below})"
            ),
        ));
    }
    Ok(())
}

/// The message with its whole value: a delta (protocol 1.1) applied to the value
/// the gateway sent before it in this period; every value becomes the next base.
fn undelta(view: &mut View, m: &Message) -> Result<Message, String> {
    let mut m = m.clone();
    if m.delta {
        let (Some(base), Some(delta)) = (&view.delta_base, &m.data) else {
            return Err("a delta with no value before it".to_owned());
        };
        let value = fossil_delta::apply(base, delta, usize::MAX).map_err(|e| e.to_string())?;
        m.data = Some(Bytes::from(value));
        m.delta = false;
    }
    view.delta_base = m.data.clone();
    Ok(m)
}
