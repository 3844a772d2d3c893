//! A simulated app and its SDK. The app subscribes, unsubscribes and publishes; the
//! SDK, like `sluice-client`, remembers the last `(epoch, seq)` per subject, drops
//! duplicates, and on every new connection restores each subscription with resume.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_core::protocol::{Message, ResumePoint};
use sluice_core::ClientId;

use crate::check::Views;
use crate::ledger::QueueLedger;

/// A request in flight, remembered until its answer.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Subscribe {
        /// Subjects with the partition and seq to resume after, if any.
        subjects: Vec<(usize, Option<(u32, u64)>)>,
        history: bool,
        /// An app subscribe (not a restore): its `ok` resets the resume point.
        by_app: bool,
    },
    Unsubscribe {
        subjects: Vec<usize>,
    },
    Publish {
        subject: usize,
        payload: Bytes,
    },
}

/// One connection of a client to the gateway.
#[derive(Debug)]
pub(crate) struct Connection {
    pub id: ClientId,
    pub latency_ms: u64,
    /// Frames arrive in order: none before this time.
    pub next_arrival_ms: u64,
    pub read_scheduled: bool,
    pub requests: BTreeMap<u64, Request>,
    pub views: Views,
    pub ledger: QueueLedger,
}

impl Connection {
    pub fn new(id: ClientId, latency_ms: u64) -> Connection {
        Connection {
            id,
            latency_ms,
            next_arrival_ms: 0,
            read_scheduled: false,
            requests: BTreeMap::new(),
            views: Views::default(),
            ledger: QueueLedger::default(),
        }
    }
}

/// The SDK's resume state: the subjects the app wants, each with the last
/// `(epoch, seq)` it took, like `sluice-client`'s `ResumeState`.
#[derive(Debug, Default)]
pub(crate) struct ResumePoints(BTreeMap<usize, Option<ResumePoint>>);

impl ResumePoints {
    pub fn want(&mut self, subject: usize) {
        self.0.entry(subject).or_insert(None);
    }

    pub fn drop_subject(&mut self, subject: usize) {
        self.0.remove(&subject);
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, Option<&ResumePoint>)> {
        self.0.iter().map(|(&s, p)| (s, p.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn subjects(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.keys().copied()
    }

    /// Dedupe: takes a message unless the subject is no longer wanted or it is not
    /// newer than the last one taken in the same epoch. Moves the resume point.
    pub fn accept(&mut self, subject: usize, message: &Message) -> bool {
        let Some(point) = self.0.get_mut(&subject) else {
            return false;
        };
        if point
            .as_ref()
            .is_some_and(|p| p.epoch == message.epoch && message.seq <= p.seq)
        {
            return false;
        }
        *point = Some(ResumePoint {
            epoch: message.epoch.clone(),
            seq: message.seq,
        });
        true
    }

    /// After `resync` (or the `ok` of a renewal) the next start is the truth, even
    /// if older than what was seen.
    pub fn forget(&mut self, subject: usize) {
        if let Some(point) = self.0.get_mut(&subject) {
            *point = None;
        }
    }
}

/// One app with its SDK, across connections.
#[derive(Debug, Default)]
pub(crate) struct SimClient {
    pub wanted: ResumePoints,
    pub conn: Option<Connection>,
    pub connect_scheduled: bool,
    /// Until then the app reads rarely (a slow consumer).
    pub slow_until_ms: u64,
    pub next_request_id: u64,
    pub publishes: u64,
}

impl SimClient {
    pub fn next_request_id(&mut self) -> u64 {
        self.next_request_id += 1;
        self.next_request_id
    }
}
