//! The tier-2 checker. Every event an app's SDK hands it, and every publish
//! outcome, is checked at once against the log (the [`Ledger`], every incarnation
//! of the topic; invariants 1–5); the
//! gateways' queue peaks are sampled (6); liveness and the log-wide checks run once
//! the world has healed. The first violation is kept and ends the run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use sluice_client::Event;
use sluice_core::partitioner::partition_for_key;
use sluice_core::protocol::{Message, MessageKind, SyncStatus};
use sluice_core::{BrokerRecord, Epoch};
use sluice_memory_broker::MemoryBroker;
use sluice_sim::{Invariant, Violation};

use crate::ledger::Ledger;
use crate::plan::TOPIC;

/// Where a subscription is in its life, as its events show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// After the `Subscribed` event or a `resync`: a snapshot may come first, or
    /// history, then updates.
    Opening,
    /// History came: more history, then updates.
    History,
    /// Reconnected with a resume point: `recovered`, then `sync` or `resync`.
    Recovering,
    /// Updates only.
    Live,
}

#[derive(Debug, Clone)]
struct View {
    subscribed: bool,
    phase: Phase,
    /// The last seq delivered in this period: the resume point.
    last: Option<u64>,
    /// The epoch of that message: a later one on another epoch (a recreated
    /// topic) needs a `resync` in between.
    last_epoch: Option<Epoch>,
    /// The period started with `history`: an empty history leaves the position
    /// unknown.
    history_start: bool,
    /// The key's last offset in the log when the period (or its resync) began.
    head_at_open: Option<u64>,
    /// The last message was a snapshot: the next may skip records retention
    /// deleted, which the gateway may never have read (it said `resync` when it
    /// learned of them, before the snapshot).
    after_snapshot: bool,
}

/// The checker's whole state.
pub struct Checker {
    partitions: u32,
    /// Per client, per subject.
    views: Vec<BTreeMap<String, View>>,
    /// Per client, the subjects it ever subscribed conflated: their messages may
    /// skip records (kept for good, since messages of a conflated period may
    /// still arrive after a renewal without it).
    conflated: Vec<BTreeSet<String>>,
    /// Acknowledged publishes: payload → (subject, seq).
    acked: HashMap<Bytes, (String, u64)>,
    violation: Option<Violation>,
    trace: DefaultHasher,
    trace_entries: u64,
}

impl Checker {
    pub fn new(clients: usize, partitions: u32) -> Self {
        Checker {
            partitions,
            views: vec![BTreeMap::new(); clients],
            conflated: vec![BTreeSet::new(); clients],
            acked: HashMap::new(),
            violation: None,
            trace: DefaultHasher::new(),
            trace_entries: 0,
        }
    }

    pub fn conflated(&mut self, client: usize, subject: &str) {
        self.conflated[client].insert(subject.to_owned());
    }

    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// A digest of everything observed, in order: equal digests, equal runs.
    pub fn trace_digest(&self) -> (u64, u64) {
        (self.trace.finish(), self.trace_entries)
    }

    /// Records a violation found outside the checker (queue peaks, panics).
    pub fn fail(&mut self, invariant: Invariant, at_ms: u64, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                invariant,
                at_ms,
                detail,
            });
        }
    }

    /// Checks one event of `client`'s SDK, read at `at_ms` virtual time.
    /// `log_starts`: each partition's first retained offset now.
    pub fn observe(
        &mut self,
        ledger: &Ledger,
        log_starts: &[u64],
        client: usize,
        at_ms: u64,
        event: &Event,
    ) {
        at_ms.hash(&mut self.trace);
        client.hash(&mut self.trace);
        format!("{event:?}").hash(&mut self.trace);
        self.trace_entries += 1;
        if let Err((invariant, detail)) = self.apply(ledger, log_starts, client, event) {
            self.fail(invariant, at_ms, format!("client {client}: {detail}"));
        }
    }

    fn apply(
        &mut self,
        ledger: &Ledger,
        log_starts: &[u64],
        client: usize,
        event: &Event,
    ) -> Result<(), Broken> {
        let partitions = self.partitions;
        let Some(log) = ledger.current() else {
            return Ok(());
        };
        let log = &log;
        if let Event::Subscribed { subject, history } = event {
            let history_start = history.is_some();
            self.views[client].insert(
                subject.to_string(),
                View {
                    subscribed: true,
                    phase: Phase::Opening,
                    last: None,
                    last_epoch: None,
                    history_start,
                    head_at_open: key_head(log, partitions, subject),
                    after_snapshot: false,
                },
            );
            return Ok(());
        }
        let views = &mut self.views[client];
        match event {
            Event::Unsubscribed { subject } => {
                if let Some(view) = views.get_mut(&**subject) {
                    view.subscribed = false;
                }
            }
            Event::SubscriptionRejected { subject, .. } => {
                if let Some(view) = views.get_mut(subject) {
                    view.subscribed = false;
                }
            }
            Event::Connected { .. } => {
                for view in views.values_mut().filter(|v| v.subscribed) {
                    view.after_snapshot = false;
                    // Restored with `resume` from the last seq; without one, a
                    // plain subscribe (snapshot start).
                    view.phase = if view.last.is_some() {
                        Phase::Recovering
                    } else {
                        Phase::Opening
                    };
                }
            }
            Event::Status { subject, status } => {
                let view = subscribed(views, subject, "a status")?;
                match status {
                    SyncStatus::Resync => {
                        view.last = None;
                        view.last_epoch = None;
                        view.after_snapshot = false;
                        view.phase = Phase::Opening;
                        view.head_at_open = key_head(log, partitions, subject);
                    }
                    SyncStatus::Sync => view.phase = Phase::Live,
                    // The history's end; its updates follow as before.
                    SyncStatus::HistoryEnd { .. } => {}
                }
            }
            Event::Message(message) => {
                let conflated = self.conflated[client].contains(&*message.subject);
                let view = subscribed(views, &message.subject, "a message")?;
                check_kind(view, message)?;
                let deleted_before = match view.after_snapshot {
                    true => {
                        let partition = partition_for_key(
                            Some(key_of(&message.subject).as_bytes()),
                            partitions,
                        );
                        log_starts.get(partition as usize).copied().unwrap_or(0)
                    }
                    false => 0,
                };
                if view.last.is_some() && view.last_epoch.as_ref() != Some(&message.epoch) {
                    return Err((
                        Invariant::NoSilentGap,
                        format!(
                            "{:?} seq {} on {} of epoch {} after seq {:?} of epoch {:?}, without resync",
                            message.kind, message.seq, message.subject, message.epoch, view.last, view.last_epoch
                        ),
                    ));
                }
                let log = &ledger.of_epoch(&message.epoch).ok_or_else(|| {
                    (
                        Invariant::NoSilentGap,
                        format!(
                            "{:?} seq {} on {} has epoch {}, which no incarnation of the topic had",
                            message.kind, message.seq, message.subject, message.epoch
                        ),
                    )
                })?;
                check_against_log(
                    log,
                    partitions,
                    view.last,
                    conflated,
                    deleted_before,
                    message,
                )?;
                view.last = Some(message.seq);
                view.last_epoch = Some(message.epoch.clone());
                view.after_snapshot = message.kind == MessageKind::Snapshot;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks an acknowledged publish against the log (invariant 5, first half).
    pub fn acked(&mut self, ledger: &Ledger, client: usize, at_ms: u64, ack: AckedPublish) {
        let AckedPublish {
            subject,
            payload,
            epoch,
            seq,
        } = ack;
        at_ms.hash(&mut self.trace);
        (client, &subject, &payload[..], seq).hash(&mut self.trace);
        self.trace_entries += 1;
        let key = key_of(&subject);
        let partition = partition_for_key(Some(key.as_bytes()), self.partitions);
        let log = ledger.of_epoch(&epoch);
        let found = log.as_ref().and_then(|log| record_at(log, partition, seq));
        let right = found.as_ref().is_some_and(|r| {
            r.payload.as_ref() == Some(&payload) && r.key.as_deref() == Some(key.as_bytes())
        }) && log.and_then(|log| epoch_of(&log, partition)).as_ref() == Some(&epoch);
        if !right {
            self.fail(
                Invariant::AckedPublish,
                at_ms,
                format!("client {client}: publish on {subject} acked at ({epoch}, {seq}) but the log holds {found:?} there"),
            );
        }
        self.acked.insert(payload, (subject, seq));
    }

    /// After healing: every subscription has reached the head of its key's log.
    /// Returns the laggards, empty when the world has converged.
    ///
    /// `log_starts` holds each partition's first retained offset: a key whose last
    /// record retention deleted is owed nothing newer than what the subscriber has
    /// (its gateway may never have read that record).
    pub fn laggards(&self, ledger: &Ledger, log_starts: &[u64]) -> Vec<String> {
        let Some(log) = ledger.current() else {
            return Vec::new();
        };
        let heads = key_heads(&log, self.partitions);
        let mut behind = Vec::new();
        for (client, views) in self.views.iter().enumerate() {
            for (subject, view) in views.iter().filter(|(_, v)| v.subscribed) {
                let head = heads.get(key_of(subject)).copied();
                let partition =
                    partition_for_key(Some(key_of(subject).as_bytes()), self.partitions);
                let start = log_starts.get(partition as usize).copied().unwrap_or(0);
                if head.is_some_and(|head| head < start) && view.phase != Phase::Recovering {
                    continue;
                }
                // An empty history start owes nothing older than its start.
                let owed_nothing =
                    view.history_start && view.last.is_none() && head <= view.head_at_open;
                // At the head of the current incarnation, not an earlier one's.
                let stale = view.last.is_some() && view.last_epoch != epoch_of(&log, partition);
                if ((view.last != head || stale) && !owed_nothing)
                    || view.phase == Phase::Recovering
                {
                    behind.push(format!(
                        "client {client} on {subject}: at {:?} ({:?}), head {head:?}",
                        view.last, view.phase
                    ));
                }
            }
        }
        behind
    }

    /// After healing: every acknowledged publish is in the log exactly once
    /// (invariant 5, second half; payloads are unique by construction).
    pub fn check_log(&mut self, ledger: &Ledger, at_ms: u64) {
        let mut seen: HashMap<&Bytes, u64> = HashMap::new();
        let records: Vec<BrokerRecord> = ledger
            .all()
            .iter()
            .flat_map(|log| all_records(log, self.partitions))
            .collect();
        for record in &records {
            if let Some(payload) = &record.payload {
                if self.acked.contains_key(payload) {
                    *seen.entry(payload).or_default() += 1;
                }
            }
        }
        let mut wrong: Vec<String> = self
            .acked
            .iter()
            .filter(|(payload, _)| seen.get(payload).copied().unwrap_or(0) != 1)
            .map(|(payload, (subject, seq))| {
                format!(
                    "{subject} seq {seq} ({:?}) is in the log {} times",
                    String::from_utf8_lossy(payload),
                    seen.get(payload).copied().unwrap_or(0)
                )
            })
            .collect();
        wrong.sort();
        if let Some(first) = wrong.first() {
            self.fail(Invariant::AckedPublish, at_ms, first.clone());
        }
    }
}

type Broken = (Invariant, String);

/// A publish the gateway acknowledged, as the app saw it.
#[derive(Debug, Clone)]
pub struct AckedPublish {
    pub subject: String,
    pub payload: Bytes,
    pub epoch: Epoch,
    pub seq: u64,
}

/// The record key of a subject of the topic (`/t/k1` → `k1`).
fn key_of(subject: &str) -> &str {
    subject.get(TOPIC.len() + 2..).unwrap_or_default()
}

fn subscribed<'a>(
    views: &'a mut BTreeMap<String, View>,
    subject: &str,
    what: &str,
) -> Result<&'a mut View, Broken> {
    match views.get_mut(subject) {
        Some(view) if view.subscribed => Ok(view),
        _ => Err((
            Invariant::NothingAfterEnd,
            format!("{what} on {subject}, which is not subscribed"),
        )),
    }
}

/// Invariant 1: the start (snapshot, history, recovered) comes before updates.
fn check_kind(view: &mut View, message: &Message) -> Result<(), Broken> {
    let allowed = match message.kind {
        MessageKind::Snapshot => view.phase == Phase::Opening,
        MessageKind::History => matches!(view.phase, Phase::Opening | Phase::History),
        MessageKind::Recovered => view.phase == Phase::Recovering,
        MessageKind::Update => view.phase != Phase::Recovering,
    };
    if !allowed {
        return Err((
            Invariant::StartBeforeLive,
            format!(
                "{:?} seq {} on {} while {:?}",
                message.kind, message.seq, message.subject, view.phase
            ),
        ));
    }
    view.phase = match message.kind {
        MessageKind::History => Phase::History,
        MessageKind::Recovered => Phase::Recovering,
        MessageKind::Snapshot | MessageKind::Update => Phase::Live,
    };
    Ok(())
}

/// Invariants 2 and 3: the message is the log's record at its seq, seqs increase,
/// and no record of the key between the last seq and this one was skipped (records
/// below `deleted_before`, which retention deleted, excepted).
fn check_against_log(
    log: &MemoryBroker,
    partitions: u32,
    last: Option<u64>,
    conflated: bool,
    deleted_before: u64,
    message: &Message,
) -> Result<(), Broken> {
    let subject = &message.subject;
    let key = key_of(subject);
    let partition = partition_for_key(Some(key.as_bytes()), partitions);
    let record = record_at(log, partition, message.seq);
    let matches = record
        .as_ref()
        .is_some_and(|r| r.key.as_deref() == Some(key.as_bytes()) && r.payload == message.data)
        && epoch_of(log, partition).as_ref() == Some(&message.epoch);
    if !matches {
        return Err((
            Invariant::NoSilentGap,
            format!(
                "{:?} seq {} on {subject} ({:?}) is not the log's record there: {record:?}",
                message.kind, message.seq, message.data
            ),
        ));
    }
    let Some(last) = last else { return Ok(()) };
    if message.seq <= last {
        return Err((
            Invariant::SeqIncreases,
            format!("seq {} on {subject} after seq {last}", message.seq),
        ));
    }
    // A conflated subscription skips on purpose; `laggards` checks that its
    // final value arrives.
    if conflated {
        return Ok(());
    }
    let skipped: Vec<u64> = log
        .read(
            TOPIC,
            partition,
            last + 1,
            (message.seq - last - 1) as usize,
        )
        .into_iter()
        .filter(|r| r.offset < message.seq && r.key.as_deref() == Some(key.as_bytes()))
        .filter(|r| r.offset >= deleted_before)
        .map(|r| r.offset)
        .collect();
    if !skipped.is_empty() {
        return Err((
            Invariant::NoSilentGap,
            format!(
                "seq {} on {subject} after {last} without resync: skipped {skipped:?}",
                message.seq
            ),
        ));
    }
    Ok(())
}

fn record_at(log: &MemoryBroker, partition: u32, offset: u64) -> Option<BrokerRecord> {
    log.read(TOPIC, partition, offset, 1)
        .into_iter()
        .find(|r| r.offset == offset)
}

fn epoch_of(log: &MemoryBroker, partition: u32) -> Option<Epoch> {
    log.topic_meta(TOPIC)?
        .into_iter()
        .find(|p| p.partition == partition)
        .map(|p| p.epoch)
}

fn all_records(log: &MemoryBroker, partitions: u32) -> Vec<BrokerRecord> {
    (0..partitions)
        .flat_map(|partition| log.read(TOPIC, partition, 0, usize::MAX))
        .collect()
}

/// The last offset of `subject`'s key in the log.
fn key_head(log: &MemoryBroker, partitions: u32, subject: &str) -> Option<u64> {
    let key = key_of(subject).as_bytes();
    let partition = partition_for_key(Some(key), partitions);
    log.read(TOPIC, partition, 0, usize::MAX)
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(key))
        .map(|r| r.offset)
        .last()
}

/// The last offset of every key in the log.
fn key_heads(log: &MemoryBroker, partitions: u32) -> HashMap<String, u64> {
    let mut heads = HashMap::new();
    for record in all_records(log, partitions) {
        if let Some(key) = &record.key {
            heads.insert(String::from_utf8_lossy(key).into_owned(), record.offset);
        }
    }
    heads
}
