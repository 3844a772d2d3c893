use std::collections::{BTreeMap, VecDeque};

use crate::broker::Epoch;
use crate::ids::FetchId;
use crate::protocol::{Encoding, ServerFrame};
use crate::subject::Subject;

/// What the gateway remembers of one subscription.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    /// The log the client's position refers to.
    pub epoch: Epoch,
    /// The highest seq the client has (or was told it has); only later ones are sent.
    pub after: Option<u64>,
    /// While a resume is being served from the broker, live messages are held back
    /// (they stay in the cache) so the client sees them in order afterwards.
    pub recovering: Option<Recovering>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recovering {
    /// Waiting for a fetch slot.
    Queued,
    Fetching(FetchId),
}

impl Subscription {
    /// Whether a live message at `seq` of `epoch` is new to this subscriber.
    pub fn wants(&self, epoch: &Epoch, seq: u64) -> bool {
        self.recovering.is_none() && (&self.epoch != epoch || self.after.is_none_or(|a| seq > a))
    }
}

/// One connected client: its subscriptions and its bounded outbound queue.
#[derive(Debug)]
pub(super) struct ClientState {
    pub encoding: Encoding,
    pub subscriptions: BTreeMap<Subject, Subscription>,
    pub queue: VecDeque<(ServerFrame, usize)>,
    pub queue_bytes: usize,
    /// A `Wake` was emitted and the queue has not been drained empty since.
    pub woken: bool,
    pub publishes_in_flight: usize,
}

impl ClientState {
    pub fn new(encoding: Encoding) -> Self {
        ClientState {
            encoding,
            subscriptions: BTreeMap::new(),
            queue: VecDeque::new(),
            queue_bytes: 0,
            woken: false,
            publishes_in_flight: 0,
        }
    }

    /// Queues a frame; true when the caller must be woken to transmit.
    pub fn push(&mut self, frame: ServerFrame, cost: usize) -> bool {
        self.queue.push_back((frame, cost));
        self.queue_bytes += cost;
        !std::mem::replace(&mut self.woken, true)
    }

    pub fn pop(&mut self) -> Option<ServerFrame> {
        match self.queue.pop_front() {
            Some((frame, cost)) => {
                self.queue_bytes -= cost;
                Some(frame)
            }
            None => {
                self.woken = false;
                None
            }
        }
    }
}
