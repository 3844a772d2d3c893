//! Frames into client queues, under their bounds: replies and live updates close a
//! client too slow to take them; subscription starts are paced instead (they pause
//! and go on as the client reads). Also forgetting a client or a subscription, which
//! touches every part that knows of it.

use super::client::PendingStart;
use super::clients::over_bound;
use super::Gateway;
use crate::ids::{ClientId, RequestId};
use crate::output::{close_code, Output};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::subject::Subject;

/// What became of a start frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartSend {
    Sent,
    /// It did not fit the client's queue (this many bytes): the start must pause.
    NoRoom(usize),
    /// The client is gone.
    Gone,
}

impl Gateway {
    /// Queues a frame for `client`; disconnects it as a slow consumer if that would
    /// exceed its bound. Returns false when the client is (now) gone. For replies
    /// (`ok`, `error`, `ack`) and live `update`s: a client that cannot take those is
    /// too slow. A subscription's start goes through [`Gateway::send_start`] instead.
    pub(super) fn send(&mut self, client: ClientId, frame: ServerFrame) -> bool {
        let Some(state) = self.clients.get(client) else {
            return false;
        };
        let cost = frame.cost_bytes();
        if over_bound(state.queue_bytes(), cost, self.live_bound_bytes()) {
            self.close_slow_consumer(client);
            return false;
        }
        self.enqueue(client, frame, cost);
        true
    }

    /// Sends an error about one request (and, if given, one subject of it).
    pub(super) fn send_error(
        &mut self,
        client: ClientId,
        id: RequestId,
        subject: Option<&str>,
        code: ErrorCode,
        message: String,
    ) -> bool {
        self.send(
            client,
            ServerFrame::Error {
                id: Some(id),
                subject: subject.map(str::to_owned),
                code,
                message,
            },
        )
    }

    /// The bound a reply or live update must fit in a client's queue; `None` while
    /// the simulator's `ForgetQueueBound` bug is on.
    pub(super) fn live_bound_bytes(&self) -> Option<usize> {
        #[cfg(feature = "testing")]
        if self.bug_on(crate::testing::InjectedBug::ForgetQueueBound) {
            return None;
        }
        Some(self.config.client_queue_bytes_max)
    }

    pub(super) fn close_slow_consumer(&mut self, client: ClientId) {
        self.stats.slow_consumer_disconnects_total += 1;
        self.close(client, close_code::POLICY, "slow_consumer");
    }

    /// Queues a frame of a subscription's start (snapshot, history, recovered, a
    /// fetched record, `sync`/`resync`, the updates that end a paused start). Start
    /// frames are paced, never a reason to close: they fill the queue only up to half
    /// its bound (one always goes into an empty queue), which leaves the other half to
    /// replies and live updates. When the frame does not fit, nothing is queued and
    /// the caller pauses the start ([`Gateway::pause_start`]).
    pub(super) fn send_start(&mut self, client: ClientId, frame: ServerFrame) -> StartSend {
        let Some(state) = self.clients.get(client) else {
            return StartSend::Gone;
        };
        let cost = frame.cost_bytes();
        let fits = state.start_fits(cost, self.start_bytes_max());
        #[cfg(feature = "testing")]
        let fits = fits || self.bug_on(crate::testing::InjectedBug::ForgetQueueBound);
        if !fits {
            return StartSend::NoRoom(cost);
        }
        self.enqueue(client, frame, cost);
        StartSend::Sent
    }

    /// How many bytes start frames may fill a client's queue up to.
    fn start_bytes_max(&self) -> usize {
        self.config.client_queue_bytes_max / 2
    }

    /// Queues a frame the caller has admitted, waking the client if need be.
    fn enqueue(&mut self, client: ClientId, frame: ServerFrame, cost: usize) {
        if self.clients.push(client, frame, cost) {
            self.outputs.push_back(Output::Wake { client });
        }
    }

    /// Pauses the start of `client`'s subscription to `subject` at `pending`; `cost` is
    /// the frame that did not fit. A start already paused keeps its turn.
    pub(super) fn pause_start(
        &mut self,
        client: ClientId,
        subject: &Subject,
        pending: PendingStart,
        cost: usize,
    ) {
        let paused = self
            .clients
            .get_mut(client)
            .is_some_and(|state| state.pause(subject, pending, cost));
        if paused {
            self.stats.start_pauses_total += 1;
        }
    }

    /// Goes on with `client`'s paused starts, in order, while the first one's frame
    /// fits. One that pauses again keeps the first turn.
    pub(super) fn continue_starts(&mut self, client: ClientId) {
        let limit = self.start_bytes_max();
        loop {
            let Some(state) = self.clients.get_mut(client) else {
                return;
            };
            let Some(next) = state.take_paused_start(limit) else {
                return;
            };
            let Some((subject, pending)) = next else {
                continue;
            };
            if !self.run_pending_start(client, &subject, pending) {
                return;
            }
            let Some(state) = self.clients.get_mut(client) else {
                return;
            };
            if state.keep_first_turn(&subject) {
                return;
            }
        }
    }

    /// Forgets a client and tells the caller to close its connection.
    pub(super) fn close(&mut self, client: ClientId, code: u16, reason: &'static str) {
        self.drop_client(client);
        self.outputs.push_back(Output::Close {
            client,
            code,
            reason,
        });
    }

    /// Forgets a client: its state, its subscriptions in the routing index, its
    /// waiting resumes.
    pub(super) fn drop_client(&mut self, client: ClientId) {
        let Some(state) = self.clients.remove(client) else {
            return;
        };
        for subject in state.subscriptions.keys() {
            self.interest.unpark(client, subject);
            if self.routing.remove_subscriber(subject, client) {
                self.interest.subject_removed(subject);
            }
        }
        self.clients.conflation.stop_client(client);
        self.fetches.forget_waiting(client, None);
    }

    /// Forgets `client`'s subscription to `subject`, with its start and queued resume.
    pub(super) fn end_subscription(&mut self, client: ClientId, subject: &Subject) {
        let removed = self.clients.get_mut(client).and_then(|c| {
            c.unpause(subject);
            c.subscriptions.remove(subject)
        });
        if removed.is_some() {
            self.interest.unpark(client, subject);
            if self.routing.remove_subscriber(subject, client) {
                self.interest.subject_removed(subject);
            }
            self.clients.conflation.stop(client, subject);
            self.fetches.forget_waiting(client, Some(subject));
        }
    }
}
