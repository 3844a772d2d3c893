//! Requests sent or waiting to be sent, and what their answers mean: ids,
//! deadlines, the outbox kept while disconnected, and which requests a lost
//! connection takes with it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sluice_core::protocol::ClientFrame;
use sluice_core::RequestId;

use crate::options::SubscribeOptions;
use crate::outcome::Rejection;

/// What the answer to a request means, by the kind of request.
#[derive(Debug)]
pub(crate) enum Awaiting {
    /// An application subscribe: on `ok`, its subjects minus `rejected` are subscribed.
    Subscribe {
        subjects: Vec<String>,
        /// As asked: `history` is announced with the subscription, the rest kept.
        options: SubscribeOptions,
        rejected: Vec<Rejection>,
    },
    Unsubscribe,
    Publish,
    /// A ping, or an application's `auth`: answered by `ok`.
    Ping,
    /// The session's own subscribe that restores these subjects after a reconnect.
    Restore {
        subjects: Vec<String>,
    },
    /// The session's own `auth`, the first frame where the transport has no upgrade
    /// request to carry the token (QUIC).
    Authenticate,
}

impl Awaiting {
    /// Whether the application asked for it (and so waits for an answer).
    pub(crate) fn is_applications(&self) -> bool {
        !matches!(self, Awaiting::Restore { .. } | Awaiting::Authenticate)
    }
}

#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) awaiting: Awaiting,
    /// `None` for the session's own requests: they are not the application's to
    /// time out.
    deadline_ms: Option<u64>,
    sent: bool,
}

/// Every request between its call and its answer. Ids are never reused, so a late
/// answer to an expired request cannot be taken for a newer one.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    id_next: u64,
    pending: HashMap<u64, Pending>,
    deadlines: BTreeSet<(u64, u64)>,
    /// Application frames waiting for a connection, in call order.
    outbox: VecDeque<ClientFrame>,
    /// The session's own frames (auth, restores), sent before the outbox.
    own: VecDeque<ClientFrame>,
}

impl Requests {
    pub(crate) fn next_id(&mut self) -> RequestId {
        let id = self.id_next;
        self.id_next += 1;
        RequestId(id)
    }

    /// Queues an application's `frame` (built with an id from
    /// [`Requests::next_id`]) to be sent once connected.
    pub(crate) fn queue(&mut self, frame: ClientFrame, awaiting: Awaiting, deadline_ms: u64) {
        let id = frame.id().0;
        self.deadlines.insert((deadline_ms, id));
        self.pending.insert(
            id,
            Pending {
                awaiting,
                deadline_ms: Some(deadline_ms),
                sent: false,
            },
        );
        self.outbox.push_back(frame);
    }

    /// Queues one of the session's own requests (a restore, an `auth`), sent
    /// first, on the connection that is up now.
    pub(crate) fn send_own(&mut self, frame: ClientFrame, awaiting: Awaiting) {
        self.pending.insert(
            frame.id().0,
            Pending {
                awaiting,
                deadline_ms: None,
                sent: true,
            },
        );
        self.own.push_back(frame);
    }

    /// The next frame to send: the session's own first, then, if `outbox_open`,
    /// the application's, marked as sent (if the write fails, the request fails
    /// as disconnected, because part of it may have gone out).
    pub(crate) fn pop_transmit(&mut self, outbox_open: bool) -> Option<ClientFrame> {
        if let Some(frame) = self.own.pop_front() {
            return Some(frame);
        }
        if !outbox_open {
            return None;
        }
        while let Some(frame) = self.outbox.pop_front() {
            // Frames of requests that expired while queued are skipped.
            if let Some(pending) = self.pending.get_mut(&frame.id().0) {
                pending.sent = true;
                return Some(frame);
            }
        }
        None
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Pending> {
        self.pending.get_mut(&id.0)
    }

    /// The application unsubscribed `subject`: a subscribe of it still waiting for
    /// its `ok` must not mark it subscribed when that `ok` comes (the gateway, which
    /// gets the unsubscribe after it, ends up unsubscribed too).
    pub(crate) fn forget_subscribe_of(&mut self, subject: &str) {
        for pending in self.pending.values_mut() {
            if let Awaiting::Subscribe { subjects, .. } = &mut pending.awaiting {
                subjects.retain(|s| s != subject);
            }
        }
    }

    /// Removes an answered request.
    pub(crate) fn finish(&mut self, id: RequestId) -> Option<Awaiting> {
        let pending = self.pending.remove(&id.0)?;
        if let Some(deadline_ms) = pending.deadline_ms {
            self.deadlines.remove(&(deadline_ms, id.0));
        }
        Some(pending.awaiting)
    }

    /// Removes the requests whose deadline is at or before `now_ms`, sent or not.
    pub(crate) fn expire(&mut self, now_ms: u64) -> Vec<RequestId> {
        let mut expired = Vec::new();
        while let Some(&(deadline_ms, id)) = self.deadlines.first() {
            if deadline_ms > now_ms {
                break;
            }
            self.deadlines.pop_first();
            if self.pending.remove(&id).is_some() {
                expired.push(RequestId(id));
            }
        }
        expired
    }

    /// The connection dropped: removes every request that was sent on it, since its
    /// answer will never come, and returns the application's. Queued requests stay
    /// for the next connection.
    pub(crate) fn disconnected(&mut self) -> Vec<RequestId> {
        self.own.clear();
        let mut sent: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.sent)
            .map(|(id, _)| *id)
            .collect();
        sent.sort_unstable();
        sent.into_iter()
            .filter_map(|id| {
                let awaiting = self.finish(RequestId(id))?;
                awaiting.is_applications().then_some(RequestId(id))
            })
            .collect()
    }

    /// Removes everything and returns the application's requests, for closing.
    pub(crate) fn drain(&mut self) -> Vec<RequestId> {
        self.deadlines.clear();
        self.outbox.clear();
        self.own.clear();
        let mut ids: Vec<u64> = self
            .pending
            .drain()
            .filter(|(_, pending)| pending.awaiting.is_applications())
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(RequestId).collect()
    }

    /// When the earliest request expires.
    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|&(deadline_ms, _)| deadline_ms)
    }

    /// How many requests wait for an answer or a connection.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(requests: &mut Requests, deadline_ms: u64) -> RequestId {
        let id = requests.next_id();
        requests.queue(ClientFrame::Ping { id }, Awaiting::Ping, deadline_ms);
        id
    }

    fn pop(requests: &mut Requests) -> Option<RequestId> {
        requests.pop_transmit(true).map(|frame| frame.id())
    }

    #[test]
    fn an_unsubscribe_sent_while_the_subscribe_waits_keeps_its_ok_from_subscribing() {
        let mut requests = Requests::default();
        let id = requests.next_id();
        let subjects = vec!["/t/a".to_owned(), "/t/b".to_owned()];
        requests.queue(
            ClientFrame::Subscribe {
                id,
                items: Vec::new(),
                options: SubscribeOptions::default(),
            },
            Awaiting::Subscribe {
                subjects,
                options: SubscribeOptions::default(),
                rejected: Vec::new(),
            },
            5_000,
        );
        requests.forget_subscribe_of("/t/a");
        let Some(Awaiting::Subscribe { subjects, .. }) = requests.finish(id) else {
            panic!("not a subscribe");
        };
        assert_eq!(subjects, vec!["/t/b".to_owned()]);
    }

    #[test]
    fn ids_are_never_reused() {
        let mut requests = Requests::default();
        let ids: Vec<_> = (0..5).map(|_| requests.next_id()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }

    #[test]
    fn queued_frames_go_out_in_call_order_after_the_sessions_own() {
        let mut requests = Requests::default();
        let a = ping(&mut requests, 60_000);
        let b = ping(&mut requests, 60_000);
        let own = requests.next_id();
        requests.send_own(ClientFrame::Ping { id: own }, Awaiting::Authenticate);
        assert_eq!(requests.pop_transmit(false).map(|f| f.id()), Some(own));
        assert_eq!(requests.pop_transmit(false), None, "outbox closed");
        assert_eq!(pop(&mut requests), Some(a));
        assert_eq!(pop(&mut requests), Some(b));
        assert_eq!(pop(&mut requests), None);
    }

    #[test]
    fn a_disconnect_fails_sent_requests_and_keeps_queued_ones() {
        let mut requests = Requests::default();
        let sent = ping(&mut requests, 60_000);
        let queued = ping(&mut requests, 60_000);
        assert_eq!(pop(&mut requests), Some(sent));

        assert_eq!(requests.disconnected(), vec![sent]);
        assert_eq!(pop(&mut requests), Some(queued));
    }

    #[test]
    fn a_disconnect_drops_restores_without_an_answer() {
        let mut requests = Requests::default();
        let id = requests.next_id();
        requests.send_own(
            ClientFrame::Ping { id },
            Awaiting::Restore {
                subjects: vec!["/a/1".into()],
            },
        );
        assert!(requests.disconnected().is_empty());
        assert!(requests.finish(id).is_none());
        assert_eq!(
            requests.pop_transmit(true),
            None,
            "unsent own frames go too"
        );
    }

    #[test]
    fn expired_requests_are_removed_whether_sent_or_queued() {
        let mut requests = Requests::default();
        let sent = ping(&mut requests, 1_000);
        let queued = ping(&mut requests, 1_000);
        let later = ping(&mut requests, 61_000);
        assert_eq!(pop(&mut requests), Some(sent));

        assert_eq!(requests.expire(1_000), vec![sent, queued]);
        assert_eq!(requests.next_deadline_ms(), Some(61_000));
        // The expired queued frame is never sent; the live one still is.
        assert_eq!(pop(&mut requests), Some(later));
        // A late answer to the expired request finds nothing.
        assert!(requests.finish(sent).is_none());
    }

    #[test]
    fn an_answered_request_frees_its_deadline() {
        let mut requests = Requests::default();
        let id = ping(&mut requests, 60_000);
        pop(&mut requests);
        assert!(requests.finish(id).is_some());
        assert_eq!(requests.next_deadline_ms(), None);
        assert_eq!(requests.len(), 0);
    }
}
