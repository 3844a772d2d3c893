//! The connected clients, as one owned part: their state, the byte accounting of
//! their outbound queues, their access timers and the revocation list.
//!
//! Invariants kept here: a client's `access_timer_ms` is in `access_timers` exactly
//! when it is set; `outbound.queue_bytes` is the sum of every client's
//! `queue_bytes`. Forgetting a client ([`Clients::remove`]) keeps both.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::client::{Access, ClientState, Subscription};
use super::conflation::{Conflation, Offer};
use super::delta_base::DeltaMemo;
use crate::ids::ClientId;
use crate::protocol::{Message, ServerFrame};
use crate::stats::GatewayStats;
use crate::subject::Subject;

#[derive(Debug, Default)]
pub(super) struct Clients {
    by_id: BTreeMap<ClientId, ClientState>,
    /// Access deadlines (token due, expiry notice, expiry), earliest first.
    access_timers: BTreeSet<(u64, ClientId)>,
    /// Token ids (`jti`) no connection may hold.
    revoked_token_ids: Arc<BTreeSet<String>>,
    outbound: Outbound,
    /// Conflated subscriptions' held messages and intervals.
    pub conflation: Conflation,
    /// `gateway.delta_value_bytes_max`: larger values go whole to delta
    /// subscriptions.
    pub delta_value_bytes_max: usize,
    /// The last delta encoded, shared by the subscribers that hold the same value.
    delta_memo: DeltaMemo,
}

/// What the queues carried and hold, counted as frames go in and out.
#[derive(Debug, Default, Clone)]
struct Outbound {
    queue_bytes: u64,
    queue_bytes_peak: u64,
    frames_out_total: u64,
    messages_out_total: u64,
    message_bytes_out_total: u64,
    deltas_out_total: u64,
    delta_bytes_saved_total: u64,
    client_errors_total: u64,
}

/// What became of a live message offered to one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Queued; `woken` when the client must be woken ([`crate::Output::Wake`]).
    Queued { woken: bool },
    /// Not for this subscriber (gone, unsubscribed, recovering, or already has it).
    Skipped,
    /// Held by the subscription's conflation, to go at the end of its interval.
    Held,
    /// The subscriber's position is on another log: the subject moved partition.
    Moved,
    /// The queue has no room: a slow consumer.
    NoRoom,
}

impl Clients {
    pub fn new(delta_value_bytes_max: usize) -> Self {
        Clients {
            delta_value_bytes_max,
            ..Clients::default()
        }
    }

    pub fn contains(&self, client: ClientId) -> bool {
        self.by_id.contains_key(&client)
    }

    pub fn get(&self, client: ClientId) -> Option<&ClientState> {
        self.by_id.get(&client)
    }

    pub fn get_mut(&mut self, client: ClientId) -> Option<&mut ClientState> {
        self.by_id.get_mut(&client)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ClientId, &ClientState)> {
        self.by_id.iter().map(|(id, state)| (*id, state))
    }

    pub fn insert(&mut self, client: ClientId, state: ClientState) {
        self.by_id.insert(client, state);
    }

    /// Forgets a client with its queue and access timer; returns its state.
    pub fn remove(&mut self, client: ClientId) -> Option<ClientState> {
        let state = self.by_id.remove(&client)?;
        self.outbound.queue_bytes -= state.queue_bytes() as u64;
        if let Some(at) = state.access_timer_ms {
            self.access_timers.remove(&(at, client));
        }
        Some(state)
    }

    pub fn subscription_mut(
        &mut self,
        client: ClientId,
        subject: &Subject,
    ) -> Option<&mut Subscription> {
        self.by_id.get_mut(&client)?.subscriptions.get_mut(subject)
    }

    /// Takes one token of the client's publish rate; false when there is none.
    pub fn take_publish_token(&mut self, client: ClientId, now_ms: u64) -> bool {
        self.by_id
            .get_mut(&client)
            .and_then(|c| c.publish_bucket.as_mut())
            .is_none_or(|bucket| bucket.try_take(now_ms))
    }

    /// Queues a frame the caller has admitted; true when the client must be woken.
    /// A message of a delta subscription goes as a delta if smaller, charged
    /// what it then costs (less than the `cost` it was admitted with).
    pub fn push(&mut self, client: ClientId, mut frame: ServerFrame, mut cost: usize) -> bool {
        let Some(state) = self.by_id.get_mut(&client) else {
            return false;
        };
        if let ServerFrame::Message(m) = &mut frame {
            let sub = state.subscriptions.get_by_text_mut(&m.subject);
            if let Some(base) = sub.and_then(|s| s.delta.as_deref_mut()) {
                let saved = base.encode(m, self.delta_value_bytes_max, &mut self.delta_memo);
                self.outbound.delta_bytes_saved_total += saved as u64;
                cost = cost.min(m.cost_bytes());
            }
        }
        self.outbound.push(state, frame, cost)
    }

    /// Offers a live message to `client`'s subscription to `subject` (the routing
    /// table's copy), within `bound` bytes of queue (`None`: unbounded). One look-up
    /// of the client and its subscription: this is the gateway's hottest path.
    /// `resync_on_move` is false only while the simulator's `MoveWithoutResync` is on.
    pub fn deliver(
        &mut self,
        client: ClientId,
        subject: &Subject,
        message: &Message,
        bound: Option<usize>,
        resync_on_move: bool,
        conflate_at_ms: Option<u64>,
    ) -> Delivery {
        let (epoch, seq) = (&message.epoch, message.seq);
        let Some(state) = self.by_id.get_mut(&client) else {
            return Delivery::Skipped;
        };
        let queued_bytes = state.queue_bytes();
        let Some(sub) = state.subscriptions.get_mut(subject) else {
            return Delivery::Skipped;
        };
        let moved = &sub.epoch != epoch && (sub.after.is_some() || sub.recovering.is_some());
        if moved && resync_on_move {
            return Delivery::Moved;
        }
        if !sub.wants(epoch, seq) {
            return Delivery::Skipped;
        }
        if let (Some(now_ms), true) = (conflate_at_ms, sub.conflate_ms > 0) {
            if let Offer::Held = self.conflation.offer(client, subject, message, now_ms) {
                return Delivery::Held;
            }
        }
        let mut message = message.for_subscription(sub.headers);
        if let Some(base) = sub.delta.as_deref_mut() {
            // Before the bound: a client with no room is closed, chain and all.
            let saved = base.encode(
                &mut message,
                self.delta_value_bytes_max,
                &mut self.delta_memo,
            );
            self.outbound.delta_bytes_saved_total += saved as u64;
        }
        let cost = message.cost_bytes();
        if over_bound(queued_bytes, cost, bound) {
            return Delivery::NoRoom;
        }
        sub.epoch = epoch.clone();
        sub.after = Some(seq);
        let woken = self
            .outbound
            .push(state, ServerFrame::Message(message), cost);
        Delivery::Queued { woken }
    }

    /// The next frame queued towards `client`, releasing its bytes.
    pub fn pop(&mut self, client: ClientId) -> Option<ServerFrame> {
        let (frame, cost) = self.by_id.get_mut(&client)?.pop_costed()?;
        self.outbound.queue_bytes -= cost as u64;
        Some(frame)
    }

    /// Moves queued frames of `client` into `out` until it holds `max`.
    pub fn pop_into(&mut self, client: ClientId, out: &mut Vec<ServerFrame>, max: usize) {
        let Some(state) = self.by_id.get_mut(&client) else {
            return;
        };
        let mut released_bytes = 0;
        while out.len() < max {
            let Some((frame, cost)) = state.pop_costed() else {
                break;
            };
            released_bytes += cost;
            out.push(frame);
        }
        self.outbound.queue_bytes -= released_bytes as u64;
    }

    /// (Re)arms `client`'s access timer for its next deadline: the token to arrive,
    /// the `token_expiring` notice (`notice_ms` before expiry), or the expiry.
    pub fn arm_access_timer(&mut self, client: ClientId, notice_ms: u64) {
        let Some(state) = self.by_id.get_mut(&client) else {
            return;
        };
        if let Some(old) = state.access_timer_ms.take() {
            self.access_timers.remove(&(old, client));
        }
        let due_ms = match &state.access {
            Access::Open => None,
            Access::AwaitingToken { deadline_ms } => Some(*deadline_ms),
            Access::Granted { grant, notice_sent } => grant.expires_at_ms.map(|at| {
                if *notice_sent {
                    at
                } else {
                    at.saturating_sub(notice_ms)
                }
            }),
        };
        state.access_timer_ms = due_ms;
        if let Some(due_ms) = due_ms {
            self.access_timers.insert((due_ms, client));
        }
    }

    /// The earliest access deadline, if any.
    pub fn next_access_due_ms(&self) -> Option<u64> {
        self.access_timers.first().map(|(at, _)| *at)
    }

    /// Disarms and returns the first access timer due at `now_ms`, if any.
    pub fn pop_due_access(&mut self, now_ms: u64) -> Option<ClientId> {
        let &(due_ms, client) = self.access_timers.first()?;
        if due_ms > now_ms {
            return None;
        }
        self.access_timers.remove(&(due_ms, client));
        if let Some(state) = self.by_id.get_mut(&client) {
            state.access_timer_ms = None;
        }
        Some(client)
    }

    /// Whether `token_id` is on the revocation list.
    pub fn is_revoked(&self, token_id: &str) -> bool {
        self.revoked_token_ids.contains(token_id)
    }

    /// Replaces the revocation list; returns the clients holding a token on it.
    pub fn set_revoked(&mut self, token_ids: Arc<BTreeSet<String>>) -> Vec<ClientId> {
        let revoked = self
            .by_id
            .iter()
            .filter(|(_, c)| match &c.access {
                Access::Granted { grant, .. } => grant
                    .token_id
                    .as_ref()
                    .is_some_and(|jti| token_ids.contains(jti)),
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        self.revoked_token_ids = token_ids;
        revoked
    }

    /// Fills in the counters and gauges this part owns.
    pub fn add_stats(&self, stats: &mut GatewayStats) {
        let clients = self.by_id.values();
        stats.clients_connected = self.by_id.len() as u64;
        stats.subscriptions_active = clients.clone().map(|c| c.subscriptions.len() as u64).sum();
        stats.starts_paused = clients.clone().map(|c| c.paused_starts() as u64).sum();
        let (conflated, held) = self.conflation.len();
        stats.subscriptions_conflated = conflated as u64;
        stats.conflated_messages_held = held as u64;
        stats.client_queue_bytes_largest =
            clients.map(|c| c.queue_bytes() as u64).max().unwrap_or(0);
        stats.revoked_token_ids = self.revoked_token_ids.len() as u64;
        let Outbound {
            queue_bytes,
            queue_bytes_peak,
            frames_out_total,
            messages_out_total,
            message_bytes_out_total,
            deltas_out_total,
            delta_bytes_saved_total,
            client_errors_total,
        } = self.outbound;
        stats.client_queue_bytes = queue_bytes;
        stats.client_queue_bytes_peak = queue_bytes_peak;
        stats.frames_out_total = frames_out_total;
        stats.messages_out_total = messages_out_total;
        stats.message_bytes_out_total = message_bytes_out_total;
        stats.deltas_out_total = deltas_out_total;
        stats.delta_bytes_saved_total = delta_bytes_saved_total;
        stats.client_errors_total = client_errors_total;
    }
}

impl Outbound {
    /// Queues an admitted frame on `state`, counting it; true when the client must
    /// be woken.
    fn push(&mut self, state: &mut ClientState, frame: ServerFrame, cost: usize) -> bool {
        if let ServerFrame::Message(m) = &frame {
            self.messages_out_total += 1;
            self.message_bytes_out_total += m.data.as_ref().map_or(0, |d| d.len() as u64);
            self.deltas_out_total += u64::from(m.delta);
        }
        if matches!(frame, ServerFrame::Error { .. }) {
            self.client_errors_total += 1;
        }
        self.frames_out_total += 1;
        self.queue_bytes += cost as u64;
        let woken = state.push(frame, cost);
        self.queue_bytes_peak = self.queue_bytes_peak.max(state.queue_bytes() as u64);
        woken
    }
}

/// Whether a frame of `cost` bytes goes past `bound` in a queue holding `queued`
/// bytes. One frame is always accepted into an empty queue, so a record larger than
/// the bound is still delivered (the bound is then that one frame) instead of
/// disconnecting every subscriber of its subject.
pub(super) fn over_bound(queued: usize, cost: usize, bound: Option<usize>) -> bool {
    bound.is_some_and(|bound| queued > 0 && queued + cost > bound)
}
