//! The background task that owns the socket. It sends requests and matches their
//! answers, filters and forwards messages, and on connection loss reconnects with
//! backoff, moving through the server list, then restores every subscription from
//! its resume point.
//!
//! One task does all of it, so the bookkeeping needs no locks. It never blocks on
//! the application: when the events queue is full it stops reading the socket but
//! still takes requests, fires timeouts and obeys `close`.

use std::collections::{HashSet, VecDeque};
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_core::protocol::{
    ClientFrame, Encoding, ErrorCode, PublishFrame, ServerFrame, SubscribeItem, SyncStatus,
};
use sluice_core::{Epoch, RequestId};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::{ClientRequestBuilder, Error as WsError};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::command::{Command, Op};
use crate::config::ClientConfig;
use crate::connector::{Attempt, AttemptError, Connector};
use crate::error::ClientError;
use crate::event::{DisconnectReason, Event};
use crate::in_flight::{Awaiting, InFlight, Reply, ReplyTx};
use crate::outcome::{Ack, Rejection, SubscribeOutcome};
use crate::resume_state::ResumeState;
use crate::stats::Counters;
use crate::transport::{Incoming, Transport};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Subjects per restoring subscribe, so that a client with many subscriptions does
/// not exceed the gateway's frame size limit.
const RESTORE_BATCH_SUBJECTS: usize = 100;

/// Opens one WebSocket to `uri`, offering the subprotocol of `encoding` and, if
/// given, the token as `Authorization: Bearer`. The handshake fails unless the
/// gateway picks the subprotocol (and accepts the token). `tls` secures a `wss://`
/// URL.
pub(crate) async fn connect_once(
    uri: Uri,
    encoding: Encoding,
    token: Option<String>,
    timeout: Duration,
    tls: Option<tokio_tungstenite::Connector>,
) -> Result<Box<Socket>, AttemptError> {
    let mut request = ClientRequestBuilder::new(uri).with_sub_protocol(encoding.subprotocol());
    if let Some(token) = token {
        request = request.with_header("Authorization", format!("Bearer {token}"));
    }
    match tokio::time::timeout(timeout, handshake(request, tls)).await {
        Err(_) => Err(format!("no handshake within {} ms", timeout.as_millis()).into()),
        Ok(Err(WsError::Http(response))) if response.status() == 401 => Err(AttemptError {
            detail: format!(
                "the gateway refused the token (401): {}",
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            token_refused: true,
        }),
        Ok(Err(error)) => Err(error.to_string().into()),
        Ok(Ok(socket)) => Ok(Box::new(socket)),
    }
}

#[cfg(not(madsim))]
async fn handshake(
    request: ClientRequestBuilder,
    tls: Option<tokio_tungstenite::Connector>,
) -> Result<Socket, WsError> {
    // Nagle off: frames are small and latency is the point.
    #[cfg(feature = "quic")]
    let (socket, _response) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, tls).await?;
    // Without TLS only `Connector::Plain` exists, and `ws://` needs no connector.
    #[cfg(not(feature = "quic"))]
    let (socket, _response) = {
        let _ = tls;
        tokio_tungstenite::connect_async_with_config(request, None, true).await?
    };
    Ok(socket)
}

/// Under the deterministic simulator (`--cfg madsim`) the TCP connection must be
/// madsim's, so it is opened here rather than inside tokio-tungstenite.
#[cfg(madsim)]
async fn handshake(
    request: ClientRequestBuilder,
    tls: Option<tokio_tungstenite::Connector>,
) -> Result<Socket, WsError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    // The simulator builds without the `quic` feature: no TLS, `tls` is `None`.
    let _ = tls;
    let request = request.into_client_request()?;
    let host = request.uri().host().unwrap_or_default().to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port)).await?;
    let (socket, _response) =
        tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(stream), None)
            .await?;
    Ok(socket)
}

enum Link {
    Up(Transport),
    Waiting {
        retry_at: Instant,
    },
    Connecting(Attempt),
    /// The gateway refused the token: no reconnect until the application gives a
    /// new one (`Client::refresh_token`).
    AwaitingToken,
}

impl Link {
    /// Whether a token must be sent as an `auth` frame: the transport is up and had
    /// no upgrade request to carry it.
    fn needs_auth_frame(&self) -> bool {
        match self {
            #[cfg(feature = "quic")]
            Link::Up(Transport::Quic(_)) => true,
            _ => false,
        }
    }
}

enum LinkEvent {
    Incoming(Incoming),
    Attempted(Result<Transport, AttemptError>),
}

/// The channels between the task and the application's handles.
pub(crate) struct Channels {
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<Event>,
    /// The in-flight slots; closed at shutdown so waiting callers see `Closed`.
    pub(crate) permits: Arc<Semaphore>,
}

pub(crate) struct Connection {
    servers: Vec<Uri>,
    /// The server connected to, being connected to, or to try next.
    server_index: usize,
    encoding: Encoding,
    token: Option<String>,
    connect_timeout: Duration,
    connector: Connector,
    link: Link,
    backoff: Backoff,
    channels: Channels,
    /// Events not yet in the application's queue. The socket is read, and a
    /// reconnect started, only while it is empty, which keeps it to a handful.
    backlog: VecDeque<Event>,
    in_flight: InFlight,
    resume: ResumeState,
    /// Restoring subscribes not yet answered on this connection.
    restores_pending: usize,
}

impl Connection {
    pub(crate) fn new(
        config: &ClientConfig,
        servers: Vec<Uri>,
        server_index: usize,
        transport: Transport,
        connector: Connector,
        channels: Channels,
    ) -> Self {
        Connection {
            servers,
            server_index,
            encoding: config.encoding,
            token: config.token.clone(),
            connect_timeout: config.connect_timeout(),
            connector,
            link: Link::Up(transport),
            backoff: Backoff::new(
                config.backoff_initial_ms,
                config.backoff_max_ms,
                StdRng::from_os_rng(),
            ),
            channels,
            backlog: VecDeque::new(),
            in_flight: InFlight::default(),
            resume: ResumeState::default(),
            restores_pending: 0,
        }
    }

    /// Runs until `close` or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        self.on_connected().await;
        let close_done = loop {
            let wake_at = self.wake_at();
            let reading = self.backlog.is_empty();
            tokio::select! {
                command = self.channels.commands.recv() => match command {
                    Some(Command::Request { op, deadline, permit, reply }) => {
                        self.on_request(op, deadline, permit, reply).await;
                    }
                    Some(Command::Kill { done }) => {
                        if matches!(self.link, Link::Up(_)) {
                            self.lost(DisconnectReason::Killed);
                        }
                        let _ = done.send(());
                    }
                    Some(Command::Close { done }) => break Some(done),
                    None => break None,
                },
                () = deliver(&self.channels.events, &mut self.backlog),
                    if !self.backlog.is_empty() => {}
                link_event = next_link_event(&mut self.link, reading, self.encoding) => match link_event {
                    LinkEvent::Incoming(incoming) => self.on_incoming(incoming).await,
                    LinkEvent::Attempted(attempt) => self.on_attempt(attempt).await,
                },
                () = sleep_until(wake_at) => self.on_wake(),
            }
        };
        self.shut_down(close_done).await;
    }

    /// The earliest request deadline, or the reconnect time if a reconnect may start.
    fn wake_at(&self) -> Option<Instant> {
        let retry_at = match self.link {
            Link::Waiting { retry_at } if self.backlog.is_empty() => Some(retry_at),
            _ => None,
        };
        [retry_at, self.in_flight.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_wake(&mut self) {
        let now = Instant::now();
        for request in self.in_flight.expire(now) {
            request.fail(ClientError::Timeout);
        }
        if let Link::Waiting { retry_at } = self.link {
            if retry_at <= now && self.backlog.is_empty() {
                let uri = self.servers[self.server_index].clone();
                debug!(server = %uri, "connecting");
                self.link = Link::Connecting(self.connector.attempt(uri, self.token.clone()));
            }
        }
    }

    async fn on_attempt(&mut self, attempt: Result<Transport, AttemptError>) {
        match attempt {
            Ok(transport) => {
                self.link = Link::Up(transport);
                self.on_connected().await;
            }
            Err(error) if error.token_refused => self.await_token(error.detail),
            Err(reason) => {
                warn!(server = %self.servers[self.server_index], %reason, "connect failed");
                self.wait_for_next_server();
            }
        }
    }

    /// Stops reconnecting with a token the gateway refused, and says so.
    fn await_token(&mut self, reason: String) {
        warn!(server = %self.servers[self.server_index], %reason, "token refused; waiting for a new one");
        self.link = Link::AwaitingToken;
        self.push_event(Event::TokenRefused { reason });
    }

    /// Failover: the next attempt goes to the next server, after a backoff.
    fn wait_for_next_server(&mut self) {
        self.server_index = (self.server_index + 1) % self.servers.len();
        self.link = Link::Waiting {
            retry_at: Instant::now() + self.backoff.next_delay(),
        };
    }

    /// A connection is up: announce it, restore the subscriptions, then send the
    /// requests that waited for it.
    async fn on_connected(&mut self) {
        let server = self.servers[self.server_index].to_string();
        info!(%server, subjects = self.resume.len(), "connected");
        Counters::add(&self.connector.counters().connections_total);
        self.push_event(Event::Connected { server });
        self.restore_subscriptions().await;
    }

    /// Restores every subscription from its resume point, then sends the requests
    /// that waited for the connection. Over QUIC, which has no upgrade request to
    /// carry it, the token goes first, as an `auth` frame.
    async fn restore_subscriptions(&mut self) {
        let items = self.resume.restore_items();
        let mut frames = Vec::new();
        if let (Some(token), true) = (&self.token, self.link.needs_auth_frame()) {
            let id = self.in_flight.next_id();
            self.in_flight.sending_own(id, Awaiting::Authenticate);
            frames.push(ClientFrame::Auth {
                id,
                token: token.clone(),
            });
        }
        for batch in items.chunks(RESTORE_BATCH_SUBJECTS) {
            let id = self.in_flight.next_id();
            let subjects = batch.iter().map(|item| item.subject.clone()).collect();
            self.in_flight
                .sending_own(id, Awaiting::Restore { subjects });
            frames.push(ClientFrame::Subscribe {
                id,
                items: batch.to_vec(),
                history: None,
            });
        }
        self.restores_pending = frames.len();
        if frames.is_empty() {
            self.backoff.reset();
        } else {
            self.send_frames(frames).await;
        }
        self.flush_outbox().await;
    }

    /// The connection is gone: fail what was sent on it, tell the application,
    /// and schedule a reconnect.
    fn lost(&mut self, reason: DisconnectReason) {
        warn!(server = %self.servers[self.server_index], %reason, "disconnected");
        for request in self.in_flight.disconnected() {
            request.fail(ClientError::Disconnected);
        }
        self.restores_pending = 0;
        let token_refused = reason.is_token_refused().then(|| reason.to_string());
        self.wait_for_next_server();
        self.push_event(Event::Disconnected { reason });
        if let Some(reason) = token_refused {
            self.await_token(reason);
        }
    }

    async fn on_request(
        &mut self,
        op: Op,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
        reply: ReplyTx,
    ) {
        let id = self.in_flight.next_id();
        let (frame, awaiting) = match op {
            Op::Subscribe { subjects, history } => {
                let items = subjects
                    .iter()
                    .map(|subject| SubscribeItem {
                        subject: subject.clone(),
                        resume: None,
                    })
                    .collect();
                let awaiting = Awaiting::Subscribe {
                    subjects,
                    history,
                    rejected: Vec::new(),
                    reply,
                };
                (ClientFrame::Subscribe { id, items, history }, awaiting)
            }
            Op::Unsubscribe { subjects } => {
                // Stop delivering and never restore from now on, whatever the
                // gateway answers: a failed unsubscribe is still one the app meant.
                for subject in &subjects {
                    if self.resume.is_subscribed(subject) {
                        self.push_event(Event::Unsubscribed {
                            subject: Arc::from(subject.as_str()),
                        });
                    }
                    self.resume.unsubscribed(subject);
                    self.in_flight.forget_subscribe_of(subject);
                }
                (
                    ClientFrame::Unsubscribe { id, subjects },
                    Awaiting::Unsubscribe { reply },
                )
            }
            Op::Publish {
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
                (frame, Awaiting::Publish { reply })
            }
            Op::Ping => (ClientFrame::Ping { id }, Awaiting::Ping { reply }),
            // Answered like a ping: `ok`, or an error that fails the call.
            Op::Auth { token } => {
                self.token = Some(token.clone());
                // Waiting for a token: reconnect with this one now. The `auth` frame
                // then goes out on the new connection, and its `ok` answers the call.
                if matches!(self.link, Link::AwaitingToken) {
                    self.link = Link::Waiting {
                        retry_at: Instant::now(),
                    };
                }
                (ClientFrame::Auth { id, token }, Awaiting::Ping { reply })
            }
        };
        self.in_flight.queue(frame, awaiting, deadline, permit);
        self.flush_outbox().await;
    }

    /// Sends every queued request if connected. During a 0-RTT start they wait
    /// for the handshake: early data can be replayed, and a publish must not be.
    async fn flush_outbox(&mut self) {
        let Link::Up(transport) = &self.link else {
            return;
        };
        if transport.is_early() || !self.in_flight.has_queued() {
            return;
        }
        let frames: Vec<ClientFrame> = std::iter::from_fn(|| self.in_flight.pop_outbox()).collect();
        self.send_frames(frames).await;
    }

    /// Writes frames with one flush; a failed write loses the connection.
    async fn send_frames(&mut self, frames: Vec<ClientFrame>) {
        let Link::Up(transport) = &mut self.link else {
            return;
        };
        if let Err(error) = transport.send(self.encoding, &frames).await {
            self.lost(DisconnectReason::Transport(error));
        }
    }

    async fn on_incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Frame(frame) => self.on_frame(frame),
            // Dropping the connection turns a possible gap into a resume.
            Incoming::Undecodable(error) => self.lost(DisconnectReason::Protocol(format!(
                "undecodable frame from the gateway: {error}"
            ))),
            Incoming::Closed { code, reason } => {
                self.lost(DisconnectReason::ClosedByServer { code, reason })
            }
            Incoming::Failed(error) => self.lost(DisconnectReason::Transport(error)),
            Incoming::Nothing => {}
            Incoming::HandshakeDone {
                early_data_accepted: true,
            } => {
                Counters::add(&self.connector.counters().quic_zero_rtt_accepted_total);
                self.flush_outbox().await;
            }
            // The gateway (restarted, say) did not take the early data, so the
            // restores never reached it; the connection itself is up, on a fresh
            // stream: restore again on it. Only restores went early, so only they
            // are dropped here.
            Incoming::HandshakeDone {
                early_data_accepted: false,
            } => {
                Counters::add(&self.connector.counters().quic_zero_rtt_rejected_total);
                debug!("0-RTT data refused; restoring on the completed connection");
                drop(self.in_flight.disconnected());
                self.restore_subscriptions().await;
            }
        }
    }

    fn on_frame(&mut self, frame: ServerFrame) {
        tracing::trace!(?frame, "from the gateway");
        match frame {
            ServerFrame::Message(message) => {
                if self.resume.accept(&message) {
                    self.push_event(Event::Message(message));
                }
            }
            ServerFrame::Status { subject, status } => {
                if self.resume.is_subscribed(&subject) {
                    if status == SyncStatus::Resync {
                        self.resume.resynced(&subject);
                    }
                    self.push_event(Event::Status { subject, status });
                }
            }
            ServerFrame::TokenExpiring { expires_in_ms } => {
                self.push_event(Event::TokenExpiring { expires_in_ms })
            }
            ServerFrame::Ok { id } => self.on_ok(id),
            ServerFrame::Ack { id, epoch, seq } => self.on_ack(id, epoch, seq),
            ServerFrame::Error {
                id,
                subject,
                code,
                message,
            } => match (id, subject) {
                (None, _) => warn!(%code, %message, "error from the gateway"),
                (Some(id), Some(subject)) => self.on_subject_error(id, subject, code, message),
                (Some(id), None) => self.on_request_error(id, code, message),
            },
        }
    }

    fn on_ok(&mut self, id: RequestId) {
        let Some(request) = self.in_flight.finish(id) else {
            debug!(id = id.0, "`ok` for a request no longer waiting");
            return;
        };
        match request.awaiting {
            Awaiting::Subscribe {
                subjects,
                history,
                rejected,
                reply,
            } => {
                let refused: HashSet<&str> = rejected.iter().map(|r| r.subject.as_str()).collect();
                for subject in subjects.iter().filter(|s| !refused.contains(s.as_str())) {
                    self.resume.subscribed(subject);
                    self.push_event(Event::Subscribed {
                        subject: Arc::from(subject.as_str()),
                        history,
                    });
                }
                let _ = reply.send(Ok(Reply::Subscribed(SubscribeOutcome { rejected })));
            }
            Awaiting::Unsubscribe { reply } | Awaiting::Ping { reply } => {
                let _ = reply.send(Ok(Reply::Done));
            }
            Awaiting::Publish { reply } => {
                let _ = reply.send(Err(ClientError::Protocol(
                    "the gateway answered a publish with `ok` instead of `ack`".into(),
                )));
            }
            Awaiting::Restore { .. } => self.restored(),
            Awaiting::Authenticate => debug!("token accepted"),
        }
    }

    fn on_ack(&mut self, id: RequestId, epoch: Epoch, seq: u64) {
        let Some(request) = self.in_flight.finish(id) else {
            debug!(id = id.0, "`ack` for a request no longer waiting");
            return;
        };
        match request.awaiting {
            Awaiting::Publish { reply } => {
                let _ = reply.send(Ok(Reply::Acked(Ack { epoch, seq })));
            }
            Awaiting::Restore { .. } => self.lost(DisconnectReason::Protocol(
                "the gateway answered a subscribe with `ack`".into(),
            )),
            _ => request.fail(ClientError::Protocol(
                "the gateway answered a request that is not a publish with `ack`".into(),
            )),
        }
    }

    /// An error about one subject. For a subscribe the request goes on (its `ok`
    /// follows); for a publish it is the answer.
    fn on_subject_error(
        &mut self,
        id: RequestId,
        subject: String,
        code: ErrorCode,
        message: String,
    ) {
        match self
            .in_flight
            .get_mut(id)
            .map(|request| &mut request.awaiting)
        {
            Some(Awaiting::Subscribe { rejected, .. }) => rejected.push(Rejection {
                subject,
                code,
                message,
            }),
            // A gateway that just started may not know the topic's partitions yet:
            // retry the restore on a fresh connection rather than give up on it.
            Some(Awaiting::Restore { .. }) if is_transient(code) => {
                self.lost(DisconnectReason::RestoreFailed { code, message });
            }
            Some(Awaiting::Restore { .. }) => {
                warn!(%subject, %code, %message, "subscription not restored");
                self.resume.unsubscribed(&subject);
                self.push_event(Event::SubscriptionRejected {
                    subject,
                    code,
                    message,
                });
            }
            Some(Awaiting::Publish { .. } | Awaiting::Ping { .. }) => {
                if let Some(request) = self.in_flight.finish(id) {
                    request.fail(ClientError::Rejected { code, message });
                }
            }
            // An unsubscribe's subject that does not parse was never subscribed:
            // nothing to undo, and its `ok` follows.
            Some(Awaiting::Unsubscribe { .. } | Awaiting::Authenticate) | None => {
                debug!(id = id.0, %subject, %code, %message, "subject error ignored");
            }
        }
    }

    /// The gateway refused a whole request.
    fn on_request_error(&mut self, id: RequestId, code: ErrorCode, message: String) {
        let Some(request) = self.in_flight.finish(id) else {
            debug!(id = id.0, %code, %message, "`error` for a request no longer waiting");
            return;
        };
        match request.awaiting {
            Awaiting::Restore { subjects } => self.restore_failed(subjects, code, message),
            Awaiting::Authenticate => self.lost(DisconnectReason::TokenRejected { code, message }),
            _ => request.fail(ClientError::Rejected { code, message }),
        }
    }

    /// A transient refusal is retried on a fresh connection after a backoff; a
    /// permanent one ends those subscriptions, and the application is told.
    fn restore_failed(&mut self, subjects: Vec<String>, code: ErrorCode, message: String) {
        if is_transient(code) {
            return self.lost(DisconnectReason::RestoreFailed { code, message });
        }
        for subject in subjects {
            warn!(%subject, %code, %message, "subscription not restored");
            self.resume.unsubscribed(&subject);
            self.push_event(Event::SubscriptionRejected {
                subject,
                code,
                message: message.clone(),
            });
        }
        self.restored();
    }

    /// One restoring subscribe is done; once all are, the connection counts as
    /// healthy and the backoff starts over.
    fn restored(&mut self) {
        self.restores_pending = self.restores_pending.saturating_sub(1);
        if self.restores_pending == 0 {
            debug!("subscriptions restored");
            self.backoff.reset();
        }
    }

    fn push_event(&mut self, event: Event) {
        if !self.channels.events.is_closed() {
            self.backlog.push_back(event);
        }
    }

    /// Says goodbye to the gateway, fails everything pending with `Closed`, and
    /// hands over what events it can without waiting.
    async fn shut_down(mut self, close_done: Option<oneshot::Sender<()>>) {
        info!("client closing");
        self.channels.permits.close();
        self.channels.commands.close();
        if let Link::Up(transport) = &mut self.link {
            let _ = tokio::time::timeout(self.connect_timeout, transport.close()).await;
        }
        for request in self.in_flight.drain() {
            request.fail(ClientError::Closed);
        }
        while let Ok(command) = self.channels.commands.try_recv() {
            match command {
                Command::Request { reply, .. } => {
                    let _ = reply.send(Err(ClientError::Closed));
                }
                Command::Kill { done } | Command::Close { done } => {
                    let _ = done.send(());
                }
            }
        }
        for event in self.backlog.drain(..) {
            if self.channels.events.try_send(event).is_err() {
                break;
            }
        }
        // Dropping the events sender ends the application's `Events` once drained.
        drop(self);
        if let Some(done) = close_done {
            let _ = done.send(());
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

/// Moves the oldest backlog event into the application's queue once it has room.
async fn deliver(events: &mpsc::Sender<Event>, backlog: &mut VecDeque<Event>) {
    match events.reserve().await {
        Ok(permit) => {
            if let Some(event) = backlog.pop_front() {
                permit.send(event);
            }
        }
        // The application dropped its `Events`: nobody to tell.
        Err(_) => backlog.clear(),
    }
}

/// The next thing the link has to say: a frame while connected and reading, or
/// the end of a connect attempt. Pending otherwise.
async fn next_link_event(link: &mut Link, reading: bool, encoding: Encoding) -> LinkEvent {
    match link {
        Link::Up(transport) if reading => LinkEvent::Incoming(transport.next(encoding).await),
        Link::Connecting(attempt) => LinkEvent::Attempted(attempt.await),
        _ => pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}
