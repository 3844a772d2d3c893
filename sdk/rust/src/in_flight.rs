//! Requests sent or waiting to be sent, and what their answers mean. Owned by the
//! connection task; pure bookkeeping so the disconnect and timeout rules are
//! testable without a socket.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sluice_core::protocol::ClientFrame;
use sluice_core::RequestId;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::error::ClientError;
use crate::outcome::{Ack, Rejection, SubscribeOutcome};

/// How the connection task answers a [`crate::Client`] call.
#[derive(Debug)]
pub(crate) enum Reply {
    Done,
    Subscribed(SubscribeOutcome),
    Acked(Ack),
}

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply, ClientError>>;

/// What the answer to a request means, by the kind of request.
#[derive(Debug)]
pub(crate) enum Awaiting {
    /// An application subscribe: on `ok`, its subjects minus `rejected` are subscribed.
    Subscribe {
        subjects: Vec<String>,
        /// The `history` asked for, announced with the subscription.
        history: Option<u32>,
        rejected: Vec<Rejection>,
        reply: ReplyTx,
    },
    Unsubscribe {
        reply: ReplyTx,
    },
    Publish {
        reply: ReplyTx,
    },
    Ping {
        reply: ReplyTx,
    },
    /// The client's own subscribe that restores these subjects after a reconnect.
    Restore {
        subjects: Vec<String>,
    },
    /// The client's own `auth`, the first frame where the transport has no upgrade
    /// request to carry the token (QUIC).
    Authenticate,
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) awaiting: Awaiting,
    /// `None` for restores: they are not the application's to time out.
    deadline: Option<Instant>,
    sent: bool,
    /// Released when the request is dropped, freeing an in-flight slot.
    _permit: Option<OwnedSemaphorePermit>,
}

impl Request {
    /// Tells the caller, if there is one still listening, that the request failed.
    pub(crate) fn fail(self, error: ClientError) {
        if let Some(reply) = self.into_reply() {
            let _ = reply.send(Err(error));
        }
    }

    /// The caller's reply channel; `None` for the client's own restores.
    pub(crate) fn into_reply(self) -> Option<ReplyTx> {
        match self.awaiting {
            Awaiting::Subscribe { reply, .. }
            | Awaiting::Unsubscribe { reply }
            | Awaiting::Publish { reply }
            | Awaiting::Ping { reply } => Some(reply),
            Awaiting::Restore { .. } | Awaiting::Authenticate => None,
        }
    }
}

/// Every request between its call and its answer. Ids are never reused, so a late
/// answer to an expired request cannot be taken for a newer one.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    id_next: u64,
    requests: HashMap<u64, Request>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// Frames waiting for a connection, in call order.
    outbox: VecDeque<ClientFrame>,
}

impl InFlight {
    pub(crate) fn next_id(&mut self) -> RequestId {
        let id = self.id_next;
        self.id_next += 1;
        RequestId(id)
    }

    /// Queues `frame` (built with an id from [`InFlight::next_id`]) to be sent
    /// once connected.
    pub(crate) fn queue(
        &mut self,
        frame: ClientFrame,
        awaiting: Awaiting,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        let id = frame.id().0;
        self.deadlines.insert((deadline, id));
        self.requests.insert(
            id,
            Request {
                awaiting,
                deadline: Some(deadline),
                sent: false,
                _permit: Some(permit),
            },
        );
        self.outbox.push_back(frame);
    }

    /// Records one of the client's own requests (a restore, an `auth`) that the
    /// caller is sending right away.
    pub(crate) fn sending_own(&mut self, id: RequestId, awaiting: Awaiting) {
        self.requests.insert(
            id.0,
            Request {
                awaiting,
                deadline: None,
                sent: true,
                _permit: None,
            },
        );
    }

    /// The next queued frame to send, marked as sent: if the write fails, the
    /// request fails as disconnected, because part of it may have gone out.
    pub(crate) fn pop_outbox(&mut self) -> Option<ClientFrame> {
        while let Some(frame) = self.outbox.pop_front() {
            // Frames of requests that expired while queued are skipped.
            if let Some(request) = self.requests.get_mut(&frame.id().0) {
                request.sent = true;
                return Some(frame);
            }
        }
        None
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Request> {
        self.requests.get_mut(&id.0)
    }

    /// The application unsubscribed `subject`: a subscribe of it still waiting for
    /// its `ok` must not mark it subscribed when that `ok` comes (the gateway, which
    /// gets the unsubscribe after it, ends up unsubscribed too).
    pub(crate) fn forget_subscribe_of(&mut self, subject: &str) {
        for request in self.requests.values_mut() {
            if let Awaiting::Subscribe { subjects, .. } = &mut request.awaiting {
                subjects.retain(|s| s != subject);
            }
        }
    }

    /// Removes an answered request.
    pub(crate) fn finish(&mut self, id: RequestId) -> Option<Request> {
        let request = self.requests.remove(&id.0)?;
        if let Some(deadline) = request.deadline {
            self.deadlines.remove(&(deadline, id.0));
        }
        Some(request)
    }

    /// Removes the requests whose deadline is at or before `now`, sent or not.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Request> {
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            expired.extend(self.requests.remove(&id));
        }
        expired
    }

    /// The connection dropped: removes every request that was sent on it, since its
    /// answer will never come. Queued requests stay for the next connection.
    pub(crate) fn disconnected(&mut self) -> Vec<Request> {
        let sent_ids: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, request)| request.sent)
            .map(|(id, _)| *id)
            .collect();
        sent_ids
            .into_iter()
            .filter_map(|id| self.finish(RequestId(id)))
            .collect()
    }

    /// Removes everything, for shutting down.
    pub(crate) fn drain(&mut self) -> Vec<Request> {
        self.deadlines.clear();
        self.outbox.clear();
        self.requests.drain().map(|(_, request)| request).collect()
    }

    /// When the earliest request expires.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.outbox.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    struct Fixture {
        in_flight: InFlight,
        permits: Arc<Semaphore>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                in_flight: InFlight::default(),
                permits: Arc::new(Semaphore::new(8)),
            }
        }

        /// Queues a ping; returns its id and the caller's end of the reply.
        fn ping(
            &mut self,
            deadline: Instant,
        ) -> (RequestId, oneshot::Receiver<Result<Reply, ClientError>>) {
            let id = self.in_flight.next_id();
            let (reply, answer) = oneshot::channel();
            let permit = self.permits.clone().try_acquire_owned().unwrap();
            self.in_flight.queue(
                ClientFrame::Ping { id },
                Awaiting::Ping { reply },
                deadline,
                permit,
            );
            (id, answer)
        }
    }

    #[test]
    fn an_unsubscribe_sent_while_the_subscribe_waits_keeps_its_ok_from_subscribing() {
        let mut fixture = Fixture::new();
        let id = fixture.in_flight.next_id();
        let (reply, _answer) = oneshot::channel();
        let permit = fixture.permits.clone().try_acquire_owned().unwrap();
        let subjects = vec!["/t/a".to_owned(), "/t/b".to_owned()];
        fixture.in_flight.queue(
            ClientFrame::Subscribe {
                id,
                items: Vec::new(),
                history: None,
            },
            Awaiting::Subscribe {
                subjects,
                history: None,
                rejected: Vec::new(),
                reply,
            },
            Instant::now() + Duration::from_secs(5),
            permit,
        );
        fixture.in_flight.forget_subscribe_of("/t/a");
        let request = fixture.in_flight.finish(id).unwrap();
        let Awaiting::Subscribe { subjects, .. } = request.awaiting else {
            panic!("not a subscribe");
        };
        assert_eq!(subjects, vec!["/t/b".to_owned()]);
    }

    fn fail_all(requests: Vec<Request>, error: ClientError) {
        for request in requests {
            request.fail(error.clone());
        }
    }

    #[test]
    fn ids_are_never_reused() {
        let mut in_flight = InFlight::default();
        let ids: Vec<_> = (0..5).map(|_| in_flight.next_id()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }

    #[test]
    fn queued_frames_go_out_in_call_order() {
        let mut fixture = Fixture::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (a, _a) = fixture.ping(deadline);
        let (b, _b) = fixture.ping(deadline);
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(a));
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(b));
        assert_eq!(fixture.in_flight.pop_outbox(), None);
    }

    #[test]
    fn a_disconnect_fails_sent_requests_and_keeps_queued_ones() {
        let mut fixture = Fixture::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (sent, mut sent_answer) = fixture.ping(deadline);
        let (queued, _queued_answer) = fixture.ping(deadline);
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(sent));

        fail_all(fixture.in_flight.disconnected(), ClientError::Disconnected);

        assert!(matches!(
            sent_answer.try_recv(),
            Ok(Err(ClientError::Disconnected))
        ));
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(queued));
    }

    #[test]
    fn a_disconnect_drops_restores_without_an_answer() {
        let mut in_flight = InFlight::default();
        let id = in_flight.next_id();
        in_flight.sending_own(
            id,
            Awaiting::Restore {
                subjects: vec!["/a/1".into()],
            },
        );
        let dropped = in_flight.disconnected();
        assert_eq!(dropped.len(), 1);
        assert!(dropped.into_iter().all(|r| r.into_reply().is_none()));
        assert!(in_flight.finish(id).is_none());
    }

    #[test]
    fn expired_requests_are_removed_whether_sent_or_queued() {
        let mut fixture = Fixture::new();
        let now = Instant::now();
        let (sent, _) = fixture.ping(now);
        let (_queued, _) = fixture.ping(now);
        let (later, _) = fixture.ping(now + Duration::from_secs(60));
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(sent));

        let expired = fixture.in_flight.expire(now);
        assert_eq!(expired.len(), 2);
        assert_eq!(
            fixture.in_flight.next_deadline(),
            Some(now + Duration::from_secs(60))
        );
        // The expired queued frame is never sent; the live one still is.
        assert_eq!(fixture.in_flight.pop_outbox().map(|f| f.id()), Some(later));
        // A late answer to the expired request finds nothing.
        assert!(fixture.in_flight.finish(sent).is_none());
    }

    #[test]
    fn an_answered_request_frees_its_slot_and_its_deadline() {
        let mut fixture = Fixture::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (id, _) = fixture.ping(deadline);
        assert_eq!(fixture.permits.available_permits(), 7);
        fixture.in_flight.pop_outbox();
        assert!(fixture.in_flight.finish(id).is_some());
        assert_eq!(fixture.permits.available_permits(), 8);
        assert_eq!(fixture.in_flight.next_deadline(), None);
    }
}
