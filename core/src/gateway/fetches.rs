//! Broker fetches for starts older than the message cache (resumes, long
//! histories), as one owned part: the fetches in flight (at most
//! `fetches_in_flight_max`) and the starts waiting for a slot, in order (at most
//! `fetch_queue_max`).

use std::collections::{HashMap, VecDeque};

use super::client::HistoryStart;
use crate::broker::Epoch;
use crate::ids::{ClientId, FetchId};
use crate::stats::GatewayStats;
use crate::subject::Subject;

/// A fetch in flight for one subscription: the records of `subject` on log `epoch`
/// up to `to_offset`, for `purpose`.
#[derive(Debug, Clone)]
pub(super) struct Fetch {
    pub client: ClientId,
    pub subject: Subject,
    pub epoch: Epoch,
    pub to_offset: u64,
    pub purpose: FetchPurpose,
}

/// What a fetch's records are for.
#[derive(Debug, Clone)]
pub(super) enum FetchPurpose {
    /// What a resume missed: sent as `recovered`.
    Resume,
    /// A history start's messages: sent as `history`.
    History(HistoryStart),
    /// One step of looking for where a history start begins.
    HistorySearch(HistorySearch),
}

/// Looking back through the log, a window of offsets at a time from the newest,
/// for the offsets of a subject's last `n` records below `until`. Only offsets
/// are kept (at most `n` plus one window's): the records are read again when sent.
#[derive(Debug, Clone)]
pub(super) struct HistorySearch {
    pub start: HistoryStart,
    /// The window being read: `window_from..=` the fetch's `to_offset`.
    pub window_from: u64,
    /// Where the fetch in flight began (the window's start, or where the broker
    /// stopped answering the previous part).
    pub fetch_from: u64,
    /// The subject's offsets found in this window so far.
    pub window_found: Vec<u64>,
    /// Those found in newer windows, oldest first, at most `n`.
    pub found: VecDeque<u64>,
    /// Where the log starts, once a fetch showed it (it began above its `from`).
    pub log_start: Option<u64>,
}

/// A start waiting for a fetch slot (its subscription is `Recovering::Queued`).
#[derive(Debug, Clone)]
pub(super) struct WaitingResume {
    pub client: ClientId,
    pub subject: Subject,
}

#[derive(Debug, Default)]
pub(super) struct Fetches {
    in_flight: HashMap<FetchId, Fetch>,
    queue: VecDeque<WaitingResume>,
    next_id: u64,
}

impl Fetches {
    /// Whether another fetch may start now.
    pub fn has_slot(&self, in_flight_max: usize) -> bool {
        self.in_flight.len() < in_flight_max
    }

    /// Whether another start may wait for a slot.
    pub fn queue_has_room(&self, queue_max: usize) -> bool {
        self.queue.len() < queue_max
    }

    /// The id the next fetch gets ([`Fetches::start`]).
    pub fn next_id(&self) -> FetchId {
        FetchId(self.next_id)
    }

    /// Registers a fetch in flight under [`Fetches::next_id`].
    pub fn start(&mut self, fetch: Fetch) -> FetchId {
        let id = self.next_id();
        self.next_id += 1;
        self.in_flight.insert(id, fetch);
        id
    }

    /// Forgets an answered fetch; `None` if it is unknown.
    pub fn finish(&mut self, fetch: FetchId) -> Option<Fetch> {
        self.in_flight.remove(&fetch)
    }

    pub fn wait(&mut self, client: ClientId, subject: Subject) {
        self.queue.push_back(WaitingResume { client, subject });
    }

    /// The next waiting start, if a slot is free for it.
    pub fn next_waiting(&mut self, in_flight_max: usize) -> Option<WaitingResume> {
        if !self.has_slot(in_flight_max) {
            return None;
        }
        self.queue.pop_front()
    }

    /// Forgets the waiting starts of `client` (of `subject` only, if given).
    pub fn forget_waiting(&mut self, client: ClientId, subject: Option<&Subject>) {
        self.queue
            .retain(|w| !(w.client == client && subject.is_none_or(|s| &w.subject == s)));
    }

    /// Fills in the gauges this part owns.
    pub fn add_stats(&self, stats: &mut GatewayStats) {
        stats.fetches_in_flight = self.in_flight.len() as u64;
        stats.fetch_queue_len = self.queue.len() as u64;
    }
}
