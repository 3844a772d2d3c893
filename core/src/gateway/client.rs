use std::collections::VecDeque;

use crate::auth::Grant;
use crate::broker::Epoch;
use crate::ids::FetchId;
use crate::protocol::{Encoding, ServerFrame};
use crate::subject::Subject;
use crate::token_bucket::TokenBucket;

use super::delta_base::DeltaBase;
use super::subscriptions::Subscriptions;

/// What the gateway remembers of one subscription.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    /// The log the client's position refers to.
    pub epoch: Epoch,
    /// The highest seq the client has (or was told it has); only later ones are sent.
    /// While a start is paused it is the position the start continues from.
    pub after: Option<u64>,
    /// While the start is not finished — a resume served from the broker, or a start
    /// paused for room in the client's queue — live messages are held back (they stay
    /// in the cache) so the client sees them in order afterwards.
    pub recovering: Option<Recovering>,
    /// Whether its messages carry their record headers (protocol 1.1).
    pub headers: bool,
    /// Its conflation interval (protocol 1.1); 0: every message.
    pub conflate_ms: u32,
    /// With deltas (protocol 1.1): the value its client holds. Boxed: most
    /// subscriptions ask for none, and every one would be sized for it.
    pub delta: Option<Box<DeltaBase>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recovering {
    /// Waiting for a fetch slot; goes on as `PendingStart` when it has one.
    Queued(PendingStart),
    Fetching(FetchId),
    /// A start frame did not fit the client's queue: the start goes on when the client
    /// has read enough ([`ClientState::paused`] holds its turn).
    Paused(PendingStart),
    /// Interest mode: the subscription's partition is being read for it; its start
    /// is parked in `interest` until the partition is ready.
    Parked,
}

/// How a paused start goes on. In every case the messages the subscription missed
/// meanwhile are still in the cache (or the start ends with `resync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingStart {
    /// The snapshot is not sent yet. `after` is the subscription's position (the
    /// gateway's head when the start began, minus one): the snapshot, then every
    /// cached message after it and after `after`, as `update`s.
    Snapshot,
    /// History not finished: `after` is the last `history` message sent (`None`:
    /// none yet, then the last `n` messages below `until` are sent, from the cache or
    /// the log). The messages from `until` on follow as `update`s.
    History(HistoryStart),
    /// Deliver the cached messages after `after` as `update`s, then go live (the end
    /// of a snapshot or history start).
    Updates,
    /// Continue the resume after `after`: `recovered` from the cache or a new fetch,
    /// then `sync`.
    Resume,
    /// Send `resync`, then the snapshot.
    Resync,
}

/// A history start: the last `n` messages of the subject below `until` (the head
/// when the start began), then `history_end` if `end_marker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HistoryStart {
    pub n: u32,
    pub until: u64,
    /// Whether the client asked for `history_end` (protocol 1.1).
    pub end_marker: bool,
    /// What `history_end` says: the history is all `n`, or all the log ever had.
    /// Decided when the messages to send are chosen.
    pub complete: bool,
}

/// A paused start's turn, and the cost of the frame that did not fit.
#[derive(Debug, Clone)]
struct Paused {
    subject: Subject,
    cost: usize,
}

impl Subscription {
    /// Whether a live message at `seq` of `epoch` is new to this subscriber.
    pub fn wants(&self, epoch: &Epoch, seq: u64) -> bool {
        self.recovering.is_none() && (&self.epoch != epoch || self.after.is_none_or(|a| seq > a))
    }

    pub fn is_paused(&self) -> bool {
        matches!(self.recovering, Some(Recovering::Paused(_)))
    }
}

/// What a connection may do.
#[derive(Debug, Clone)]
pub(super) enum Access {
    /// Entitlement mode `none`: everything exposed.
    Open,
    /// Needs a token (an `auth` frame, or the handshake's) before anything else.
    AwaitingToken { deadline_ms: u64 },
    /// A verified token's permissions, until it expires. Boxed: most deployments
    /// run without tokens, and every client's state would be sized for one.
    Granted {
        grant: Box<Grant>,
        /// `token_expiring` was sent for this token.
        notice_sent: bool,
    },
}

/// One connected client: its subscriptions and its bounded outbound queue.
#[derive(Debug)]
pub(super) struct ClientState {
    pub encoding: Encoding,
    pub subscriptions: Subscriptions,
    /// Frames with the bytes each was charged; `queue_bytes` is their sum.
    queue: VecDeque<(ServerFrame, usize)>,
    queue_bytes: usize,
    /// A `Wake` was emitted and the queue has not been drained empty since.
    woken: bool,
    pub publishes_in_flight: usize,
    /// Paused starts, in the order they go on. A subject is here exactly when its
    /// subscription is [`Recovering::Paused`]. Never non-empty with an empty queue.
    paused: VecDeque<Paused>,
    pub access: Access,
    /// When the access timer (auth deadline, expiry notice, expiry) is armed, as in
    /// `Clients::access_timers`.
    pub access_timer_ms: Option<u64>,
    /// Publish rate limit; `None` when `publish_rate_per_s` is 0.
    pub publish_bucket: Option<TokenBucket>,
}

impl ClientState {
    pub fn new(encoding: Encoding, access: Access, publish_bucket: Option<TokenBucket>) -> Self {
        ClientState {
            access,
            access_timer_ms: None,
            publish_bucket,
            encoding,
            subscriptions: Subscriptions::default(),
            queue: VecDeque::new(),
            queue_bytes: 0,
            woken: false,
            publishes_in_flight: 0,
            paused: VecDeque::new(),
        }
    }

    /// Queues a frame; true when the caller must be woken to transmit.
    pub fn push(&mut self, frame: ServerFrame, cost: usize) -> bool {
        self.queue.push_back((frame, cost));
        self.queue_bytes += cost;
        !std::mem::replace(&mut self.woken, true)
    }

    /// The next frame and the bytes it was charged.
    pub fn pop_costed(&mut self) -> Option<(ServerFrame, usize)> {
        match self.queue.pop_front() {
            Some((frame, cost)) => {
                self.queue_bytes -= cost;
                Some((frame, cost))
            }
            None => {
                self.woken = false;
                // An idle client holds no queue: the next frame allocates it again.
                self.queue = VecDeque::new();
                None
            }
        }
    }

    /// Whether a start frame of `cost` bytes may be queued now: start frames fill the
    /// queue only up to `limit` (half the bound), and one always goes into an empty
    /// queue.
    pub fn start_fits(&self, cost: usize, limit: usize) -> bool {
        self.queue_bytes == 0 || self.queue_bytes + cost <= limit
    }

    /// Bytes queued right now.
    pub fn queue_bytes(&self) -> usize {
        self.queue_bytes
    }

    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// How many starts are paused, waiting for room.
    pub fn paused_starts(&self) -> usize {
        self.paused.len()
    }

    /// Pauses the start of the subscription to `subject` at `pending`; `cost` is the
    /// frame that did not fit. A start already paused keeps its turn. False if there
    /// is no such subscription.
    pub fn pause(&mut self, subject: &Subject, pending: PendingStart, cost: usize) -> bool {
        let Some(sub) = self.subscriptions.get_mut(subject) else {
            return false;
        };
        let was_paused = sub.is_paused();
        sub.recovering = Some(Recovering::Paused(pending));
        match self.paused.iter_mut().find(|p| &p.subject == subject) {
            Some(paused) if was_paused => paused.cost = cost,
            _ => self.paused.push_back(Paused {
                subject: subject.clone(),
                cost,
            }),
        }
        true
    }

    /// Takes the first paused start's turn if its frame fits under `limit` now, and
    /// returns how it goes on; `Some(None)` when that turn was stale (the
    /// subscription ended or started anew) and is dropped. `None`: nothing to go on.
    pub fn take_paused_start(&mut self, limit: usize) -> Option<Option<(Subject, PendingStart)>> {
        let first = self.paused.front()?;
        if !self.start_fits(first.cost, limit) {
            return None;
        }
        let Paused { subject, .. } = self.paused.pop_front()?;
        let sub = self.subscriptions.get_mut(&subject);
        let Some(sub) = sub.filter(|sub| sub.is_paused()) else {
            return Some(None);
        };
        let Some(Recovering::Paused(pending)) = sub.recovering.take() else {
            return Some(None);
        };
        Some(Some((subject, pending)))
    }

    /// If the start of `subject` paused again, it keeps the first turn (nothing
    /// behind it goes on before it); true then.
    pub fn keep_first_turn(&mut self, subject: &Subject) -> bool {
        if self.paused.back().is_none_or(|p| &p.subject != subject) {
            return false;
        }
        if let Some(again) = self.paused.pop_back() {
            self.paused.push_front(again);
        }
        true
    }

    /// Forgets the paused start of `subject`, if any.
    pub fn unpause(&mut self, subject: &Subject) {
        self.paused.retain(|p| &p.subject != subject);
    }
}
