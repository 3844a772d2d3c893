//! The client's side of one session with the gateways: every rule of
//! `docs/protocol.md` a client must keep, with no socket and no clock.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sluice_core::protocol::{
    ClientFrame, ErrorCode, PublishFrame, ServerFrame, SubscribeItem, SyncStatus,
};
use sluice_core::{Epoch, RequestId};
use tracing::{debug, info, warn};

use crate::event::{DisconnectReason, Event};
use crate::link::{Carrier, Link, LinkState};
use crate::options::Kept;
use crate::outcome::{Ack, Rejection, SubscribeOutcome};
use crate::request::{Answer, Request, RequestError};
use crate::requests::{Awaiting, Requests};
use crate::subscriptions::Subscriptions;

/// How a session behaves; the driver fills it from its own config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The gateways, by the name [`Event::Connected`] reports; [`Output::Connect`]
    /// gives an index into this list.
    pub servers: Vec<String>,
    /// The token for the upgrade request or the `auth` frame, if any.
    pub token: Option<String>,
    /// Reconnect backoff: the first delay and the cap, jittered (see `backoff.rs`).
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Subjects per restoring subscribe, so that a client with many subscriptions
    /// stays under the gateway's frame size limit.
    pub restore_batch_subjects: usize,
    /// Seeds the backoff's jitter: from the OS in an app, from the run's seed in
    /// the simulator.
    pub seed: u64,
}

impl SessionConfig {
    /// Defaults for everything but the servers: no token, 100 ms to 10 s backoff,
    /// 100 subjects per restore.
    pub fn with_servers(servers: Vec<String>) -> SessionConfig {
        SessionConfig {
            servers,
            token: None,
            backoff_initial_ms: 100,
            backoff_max_ms: 10_000,
            restore_batch_subjects: 100,
            seed: 0,
        }
    }
}

/// What the session asks of its driver, or tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a connection to `servers[server]` with `token`, then report
    /// [`ClientSession::handle_connected`] or [`ClientSession::handle_connect_failed`].
    Connect {
        server: usize,
        token: Option<String>,
    },
    /// Drop the current connection: the session gave up on it and will reconnect.
    Disconnect,
    /// For the application, in order.
    Event(Event),
    /// The end of request `id`.
    Answer {
        id: RequestId,
        result: Result<Answer, RequestError>,
    },
}

/// One client's session with a cluster of gateways, across connections: requests
/// in flight, subscriptions with their resume points, de-duplication of what a
/// resume sends twice, and when and where to reconnect.
///
/// Driven as the gateway's core is (see the crate docs for the loop). Methods:
/// - getters: [`server`](Self::server), [`is_subscribed`](Self::is_subscribed),
///   [`subjects`](Self::subjects),
///   [`subscription_count`](Self::subscription_count),
///   [`requests_pending`](Self::requests_pending), [`is_connected`](Self::is_connected);
/// - `handle_*`, what happened: [`handle_connected`](Self::handle_connected),
///   [`handle_connect_failed`](Self::handle_connect_failed),
///   [`handle_handshake_done`](Self::handle_handshake_done),
///   [`handle_frame`](Self::handle_frame), [`handle_disconnected`](Self::handle_disconnected),
///   [`handle_timeout`](Self::handle_timeout);
/// - commands, what the application wants: [`request`](Self::request),
///   [`kill`](Self::kill), [`close`](Self::close),
///   [`set_app_backlogged`](Self::set_app_backlogged);
/// - `poll_*`, what to do: [`poll_transmit`](Self::poll_transmit),
///   [`poll_output`](Self::poll_output), [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    link: Link,
    requests: Requests,
    subscriptions: Subscriptions,
    /// Restoring subscribes not yet answered on this connection.
    restores_pending: usize,
    /// The application is behind on events: no reconnect starts until it catches
    /// up, since a reconnect brings a burst of restored messages.
    app_backlogged: bool,
    outputs: VecDeque<Output>,
}

impl ClientSession {
    /// A session whose first connection, to `servers[server]`, is up: the driver
    /// made it (an app's first connect is tried in the foreground, so that a
    /// wrong URL is an error, not a retry loop).
    pub fn connected(config: SessionConfig, server: usize, carrier: Carrier) -> ClientSession {
        let link = Link::up(
            config.servers.len(),
            server,
            carrier,
            (config.backoff_initial_ms, config.backoff_max_ms),
            config.seed,
        );
        let mut session = ClientSession {
            config,
            link,
            requests: Requests::default(),
            subscriptions: Subscriptions::default(),
            restores_pending: 0,
            app_backlogged: false,
            outputs: VecDeque::new(),
        };
        session.on_connected();
        session
    }

    // Getters.

    /// The server connected to, being connected to, or tried next.
    pub fn server(&self) -> usize {
        self.link.server()
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_up()
    }

    pub fn is_subscribed(&self, subject: &str) -> bool {
        self.subscriptions.is_subscribed(subject)
    }

    /// The subscribed subjects (the gateway said `ok`), in order.
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.subjects()
    }

    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// Requests waiting for a connection or an answer.
    pub fn requests_pending(&self) -> usize {
        self.requests.len()
    }

    // What happened.

    /// The connection asked for by [`Output::Connect`] is up: restores every
    /// subscription from its resume point, then sends what waited.
    pub fn handle_connected(&mut self, carrier: Carrier) {
        self.link.state = LinkState::Up(carrier);
        self.on_connected();
    }

    /// The connection asked for by [`Output::Connect`] failed. `token_refused`: the
    /// gateway refused the token (HTTP 401), so retrying with it is pointless.
    pub fn handle_connect_failed(&mut self, now_ms: u64, detail: String, token_refused: bool) {
        if token_refused {
            self.await_token(detail);
        } else {
            warn!(server = %self.server_name(), reason = %detail, "connect failed");
            self.link.wait_for_next_server(now_ms);
        }
    }

    /// A 0-RTT start finished its handshake. If the gateway took the early data
    /// the requests held back go now; if not (it restarted, say), the restores never
    /// reached it and are sent again on the completed connection.
    pub fn handle_handshake_done(&mut self, early_data_accepted: bool) {
        let LinkState::Up(carrier) = &mut self.link.state else {
            return;
        };
        carrier.early_data = false;
        if !early_data_accepted {
            debug!("0-RTT data refused; restoring on the completed connection");
            // Only restores went early; anything else sent is failed, to be safe.
            for id in self.requests.disconnected() {
                self.answer(id, Err(RequestError::Disconnected));
            }
            self.restore_subscriptions();
        }
    }

    /// A frame from the gateway.
    pub fn handle_frame(&mut self, now_ms: u64, frame: ServerFrame) {
        tracing::trace!(?frame, "from the gateway");
        match frame {
            ServerFrame::Message(mut message) => {
                if let Err(detail) = self.subscriptions.undelta(&mut message) {
                    // Reconnecting resumes from the last whole value: nothing lost.
                    return self.lost(now_ms, DisconnectReason::Protocol(detail));
                }
                if self.subscriptions.accept(&message) {
                    self.event(Event::Message(message));
                }
            }
            ServerFrame::Status { subject, status } => {
                if self.subscriptions.is_subscribed(&subject) {
                    if status == SyncStatus::Resync {
                        self.subscriptions.resynced(&subject);
                    }
                    self.event(Event::Status { subject, status });
                }
            }
            ServerFrame::TokenExpiring { expires_in_ms } => {
                self.event(Event::TokenExpiring { expires_in_ms })
            }
            ServerFrame::Ok { id } => self.on_ok(id),
            ServerFrame::Ack { id, epoch, seq } => self.on_ack(now_ms, id, epoch, seq),
            ServerFrame::Error {
                id,
                subject,
                code,
                message,
            } => match (id, subject) {
                (None, _) => warn!(%code, %message, "error from the gateway"),
                (Some(id), Some(subject)) => {
                    self.on_subject_error(now_ms, id, subject, code, message)
                }
                (Some(id), None) => self.on_request_error(now_ms, id, code, message),
            },
        }
    }

    /// The connection ended (closed by the gateway, failed, or sent bytes that are
    /// not a frame): fails what was sent on it and schedules a reconnect.
    pub fn handle_disconnected(&mut self, now_ms: u64, reason: DisconnectReason) {
        if self.link.is_up() {
            self.lost(now_ms, reason);
        }
    }

    /// Time passed: expires requests, and starts a reconnect that is due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        for id in self.requests.expire(now_ms) {
            self.answer(id, Err(RequestError::Timeout));
        }
        if let Some(retry_at_ms) = self.link.retry_at_ms() {
            if retry_at_ms <= now_ms && !self.app_backlogged {
                debug!(server = %self.server_name(), "connecting");
                self.link.state = LinkState::Connecting;
                self.outputs.push_back(Output::Connect {
                    server: self.link.server(),
                    token: self.config.token.clone(),
                });
            }
        }
    }

    // Commands.

    /// Takes an application's request, to be answered by `deadline_ms` at the
    /// latest; returns the id its [`Output::Answer`] will carry.
    pub fn request(&mut self, now_ms: u64, request: Request, deadline_ms: u64) -> RequestId {
        let id = self.requests.next_id();
        let (frame, awaiting) = match request {
            Request::Subscribe { subjects, options } => {
                let items = subjects
                    .iter()
                    .map(|subject| SubscribeItem {
                        subject: subject.clone(),
                        resume: None,
                    })
                    .collect();
                let frame = ClientFrame::Subscribe { id, items, options };
                let awaiting = Awaiting::Subscribe {
                    subjects,
                    options,
                    rejected: Vec::new(),
                };
                (frame, awaiting)
            }
            Request::Unsubscribe { subjects } => {
                // Stop delivering and never restore from now on, whatever the
                // gateway answers: a failed unsubscribe is still one the app meant.
                for subject in &subjects {
                    if self.subscriptions.is_subscribed(subject) {
                        self.event(Event::Unsubscribed {
                            subject: Arc::from(subject.as_str()),
                        });
                    }
                    self.subscriptions.unsubscribed(subject);
                    self.requests.forget_subscribe_of(subject);
                }
                (
                    ClientFrame::Unsubscribe { id, subjects },
                    Awaiting::Unsubscribe,
                )
            }
            Request::Publish {
                subject,
                data,
                options,
            } => {
                let frame = ClientFrame::Publish(PublishFrame {
                    id,
                    subject,
                    data,
                    retained: options.retained,
                    qos: options.qos,
                    reply_to: options.reply_to,
                    traceparent: options.traceparent,
                });
                (frame, Awaiting::Publish)
            }
            Request::Ping => (ClientFrame::Ping { id }, Awaiting::Ping),
            // Answered like a ping: `ok`, or an error that fails the call.
            Request::Auth { token } => {
                self.config.token = Some(token.clone());
                // Waiting for a token: reconnect with this one now. The `auth` frame
                // then goes out on the new connection, and its `ok` answers the call.
                if self.link.state == LinkState::AwaitingToken {
                    self.link.state = LinkState::Waiting {
                        retry_at_ms: now_ms,
                    };
                }
                (ClientFrame::Auth { id, token }, Awaiting::Ping)
            }
        };
        self.requests.queue(frame, awaiting, deadline_ms);
        id
    }

    /// The application drops the connection, as a network failure would.
    pub fn kill(&mut self, now_ms: u64) {
        self.handle_disconnected(now_ms, DisconnectReason::Killed);
    }

    /// Ends the session: every request still pending is answered `Closed`.
    pub fn close(&mut self) {
        for id in self.requests.drain() {
            self.answer(id, Err(RequestError::Closed));
        }
    }

    /// Whether the application is behind on events; while it is, no reconnect
    /// starts (the driver also stops reading the connection).
    pub fn set_app_backlogged(&mut self, backlogged: bool) {
        self.app_backlogged = backlogged;
    }

    // What to do.

    /// The next frame to write on the connection: the session's own (auth,
    /// restores) first, then the application's requests in call order, held back
    /// during a 0-RTT start since early data can be replayed and a publish must
    /// not be.
    pub fn poll_transmit(&mut self) -> Option<ClientFrame> {
        if !self.link.is_up() {
            return None;
        }
        self.requests.pop_transmit(self.link.is_open())
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: the earliest
    /// request deadline, or the reconnect time unless the application is behind.
    pub fn poll_timeout(&self) -> Option<u64> {
        let retry_at_ms = self.link.retry_at_ms().filter(|_| !self.app_backlogged);
        [retry_at_ms, self.requests.next_deadline_ms()]
            .into_iter()
            .flatten()
            .min()
    }

    // Internals.

    fn server_name(&self) -> &str {
        self.config
            .servers
            .get(self.link.server())
            .map_or("?", String::as_str)
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn answer(&mut self, id: RequestId, result: Result<Answer, RequestError>) {
        self.outputs.push_back(Output::Answer { id, result });
    }

    /// A connection is up: announce it, then restore the subscriptions.
    fn on_connected(&mut self) {
        let server = self.server_name().to_owned();
        info!(%server, subjects = self.subscriptions.len(), "connected");
        self.event(Event::Connected { server });
        self.subscriptions.new_connection();
        self.restore_subscriptions();
    }

    /// Restores every subscription from its resume point. Over a transport with no
    /// upgrade request to carry it, the token goes first, as an `auth` frame.
    fn restore_subscriptions(&mut self) {
        let mut sent = 0;
        if let (Some(token), true) = (&self.config.token, self.link.token_in_band()) {
            let id = self.requests.next_id();
            let frame = ClientFrame::Auth {
                id,
                token: token.clone(),
            };
            self.requests.send_own(frame, Awaiting::Authenticate);
            sent += 1;
        }
        for (kept, items) in self.subscriptions.restore_items() {
            for batch in items.chunks(self.config.restore_batch_subjects.max(1)) {
                let id = self.requests.next_id();
                let subjects = batch.iter().map(|item| item.subject.clone()).collect();
                let frame = ClientFrame::Subscribe {
                    id,
                    items: batch.to_vec(),
                    options: kept.options(),
                };
                self.requests
                    .send_own(frame, Awaiting::Restore { subjects });
                sent += 1;
            }
        }
        self.restores_pending = sent;
        if sent == 0 {
            self.link.healthy();
        }
    }

    /// The connection is gone: fail what was sent on it, tell the driver and the
    /// application, and schedule a reconnect.
    fn lost(&mut self, now_ms: u64, reason: DisconnectReason) {
        warn!(server = %self.server_name(), %reason, "disconnected");
        for id in self.requests.disconnected() {
            self.answer(id, Err(RequestError::Disconnected));
        }
        self.restores_pending = 0;
        let token_refused = reason.is_token_refused().then(|| reason.to_string());
        self.link.wait_for_next_server(now_ms);
        self.outputs.push_back(Output::Disconnect);
        self.event(Event::Disconnected { reason });
        if let Some(reason) = token_refused {
            self.await_token(reason);
        }
    }

    /// Stops reconnecting with a token the gateway refused, and says so.
    fn await_token(&mut self, reason: String) {
        warn!(server = %self.server_name(), %reason, "token refused; waiting for a new one");
        self.link.state = LinkState::AwaitingToken;
        self.event(Event::TokenRefused { reason });
    }

    fn on_ok(&mut self, id: RequestId) {
        let Some(awaiting) = self.requests.finish(id) else {
            debug!(id = id.0, "`ok` for a request no longer waiting");
            return;
        };
        match awaiting {
            Awaiting::Subscribe {
                subjects,
                options,
                rejected,
            } => {
                let refused: HashSet<&str> = rejected.iter().map(|r| r.subject.as_str()).collect();
                for subject in subjects.iter().filter(|s| !refused.contains(s.as_str())) {
                    self.subscriptions.subscribed(subject, Kept::of(&options));
                    self.event(Event::Subscribed {
                        subject: Arc::from(subject.as_str()),
                        history: options.history,
                    });
                }
                self.answer(id, Ok(Answer::Subscribed(SubscribeOutcome { rejected })));
            }
            Awaiting::Unsubscribe | Awaiting::Ping => self.answer(id, Ok(Answer::Done)),
            Awaiting::Publish => self.answer(
                id,
                Err(RequestError::Protocol(
                    "the gateway answered a publish with `ok` instead of `ack`".into(),
                )),
            ),
            // The token is part of restoring the session (over QUIC).
            Awaiting::Restore { .. } | Awaiting::Authenticate => self.restored(),
        }
    }

    fn on_ack(&mut self, now_ms: u64, id: RequestId, epoch: Epoch, seq: u64) {
        let Some(awaiting) = self.requests.finish(id) else {
            debug!(id = id.0, "`ack` for a request no longer waiting");
            return;
        };
        match awaiting {
            Awaiting::Publish => self.answer(id, Ok(Answer::Acked(Ack { epoch, seq }))),
            Awaiting::Restore { .. } | Awaiting::Authenticate => self.lost(
                now_ms,
                DisconnectReason::Protocol("the gateway answered a subscribe with `ack`".into()),
            ),
            _ => self.answer(
                id,
                Err(RequestError::Protocol(
                    "the gateway answered a request that is not a publish with `ack`".into(),
                )),
            ),
        }
    }

    /// An error about one subject. For a subscribe the request goes on (its `ok`
    /// follows); for a publish it is the answer.
    fn on_subject_error(
        &mut self,
        now_ms: u64,
        id: RequestId,
        subject: String,
        code: ErrorCode,
        message: String,
    ) {
        match self
            .requests
            .get_mut(id)
            .map(|pending| &mut pending.awaiting)
        {
            Some(Awaiting::Subscribe { rejected, .. }) => rejected.push(Rejection {
                subject,
                code,
                message,
            }),
            // A gateway that just started may not know the topic's partitions yet:
            // retry the restore on a fresh connection rather than give up on it.
            Some(Awaiting::Restore { .. }) if is_transient(code) => {
                self.lost(now_ms, DisconnectReason::RestoreFailed { code, message });
            }
            Some(Awaiting::Restore { .. }) => {
                warn!(%subject, %code, %message, "subscription not restored");
                self.subscriptions.unsubscribed(&subject);
                self.event(Event::SubscriptionRejected {
                    subject,
                    code,
                    message,
                });
            }
            Some(Awaiting::Publish | Awaiting::Ping) => {
                if self.requests.finish(id).is_some() {
                    self.answer(id, Err(RequestError::Rejected { code, message }));
                }
            }
            // An unsubscribe's subject that does not parse was never subscribed:
            // nothing to undo, and its `ok` follows.
            Some(Awaiting::Unsubscribe | Awaiting::Authenticate) | None => {
                debug!(id = id.0, %subject, %code, %message, "subject error ignored");
            }
        }
    }

    /// The gateway refused a whole request.
    fn on_request_error(&mut self, now_ms: u64, id: RequestId, code: ErrorCode, message: String) {
        let Some(awaiting) = self.requests.finish(id) else {
            debug!(id = id.0, %code, %message, "`error` for a request no longer waiting");
            return;
        };
        match awaiting {
            Awaiting::Restore { subjects } => self.restore_failed(now_ms, subjects, code, message),
            Awaiting::Authenticate => {
                self.lost(now_ms, DisconnectReason::TokenRejected { code, message })
            }
            _ => self.answer(id, Err(RequestError::Rejected { code, message })),
        }
    }

    /// A transient refusal is retried on a fresh connection after a backoff; a
    /// permanent one ends those subscriptions, and the application is told.
    fn restore_failed(
        &mut self,
        now_ms: u64,
        subjects: Vec<String>,
        code: ErrorCode,
        message: String,
    ) {
        if is_transient(code) {
            return self.lost(now_ms, DisconnectReason::RestoreFailed { code, message });
        }
        for subject in subjects {
            warn!(%subject, %code, %message, "subscription not restored");
            self.subscriptions.unsubscribed(&subject);
            self.event(Event::SubscriptionRejected {
                subject,
                code,
                message: message.clone(),
            });
        }
        self.restored();
    }

    /// One restoring request (a restore, or the in-band `auth`) is done; once all are, the connection counts as
    /// healthy and the backoff starts over.
    fn restored(&mut self) {
        self.restores_pending = self.restores_pending.saturating_sub(1);
        if self.restores_pending == 0 {
            debug!("subscriptions restored");
            self.link.healthy();
        }
    }
}

/// Codes that mean "not now" rather than "never"; the protocol says retry later.
fn is_transient(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Unavailable | ErrorCode::RateLimited | ErrorCode::Internal
    )
}
