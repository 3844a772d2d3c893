//! The background task that owns the socket and drives the client protocol's
//! [`ClientSession`]: it feeds it calls, frames, connection changes and time, and
//! does what it says — write frames, connect, drop the connection, hand events to
//! the application, answer calls. Every protocol rule lives in the session.
//!
//! One task does all of it, so the bookkeeping needs no locks. It never blocks on
//! the application: when the events queue is full it stops reading the socket but
//! still takes requests, fires timeouts and obeys `close`.

use std::collections::{HashMap, VecDeque};
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use sluice_client_protocol::{
    Carrier, ClientSession, DisconnectReason, Event, Output, SessionConfig,
};
use sluice_core::protocol::Encoding;
use sluice_core::RequestId;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::{ClientRequestBuilder, Error as WsError};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::info;

use crate::command::{Command, ReplyTx};
use crate::config::ClientConfig;
use crate::connector::{Attempt, AttemptError, Connector};
use crate::error::ClientError;
use crate::replies::Replies;
use crate::stats::Counters;
use crate::transport::{Incoming, Transport};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

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

/// The connection as the driver holds it: a transport, an attempt, or neither.
enum Link {
    Up(Transport),
    Connecting(Attempt),
    Down,
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
    /// Calls waiting for a reply: their inbox's events go to them, not the app.
    pub(crate) replies: Replies,
}

/// A call waiting for its answer: where to send it, and its in-flight slot,
/// released when the call ends.
struct Call {
    reply: ReplyTx,
    _permit: OwnedSemaphorePermit,
}

pub(crate) struct Connection {
    session: ClientSession,
    servers: Vec<Uri>,
    encoding: Encoding,
    connect_timeout: Duration,
    connector: Connector,
    link: Link,
    channels: Channels,
    calls: HashMap<RequestId, Call>,
    /// Events not yet in the application's queue. The socket is read, and a
    /// reconnect started, only while it is empty, which keeps it to a handful.
    backlog: VecDeque<Event>,
    /// `now_ms` 0 for the session.
    origin: Instant,
}

/// What the session needs to know about a transport.
fn carrier(transport: &Transport) -> Carrier {
    Carrier {
        token_in_band: transport.is_quic(),
        early_data: transport.is_early(),
    }
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
        let session_config = SessionConfig {
            servers: servers.iter().map(Uri::to_string).collect(),
            token: config.token.clone(),
            backoff_initial_ms: config.backoff_initial_ms,
            backoff_max_ms: config.backoff_max_ms,
            restore_batch_subjects: SessionConfig::with_servers(Vec::new()).restore_batch_subjects,
            seed: rand::random(),
        };
        Counters::add(&connector.counters().connections_total);
        let session = ClientSession::connected(session_config, server_index, carrier(&transport));
        Connection {
            session,
            servers,
            encoding: config.encoding,
            connect_timeout: config.connect_timeout(),
            connector,
            link: Link::Up(transport),
            channels,
            calls: HashMap::new(),
            backlog: VecDeque::new(),
            origin: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Runs until `close` or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        self.act().await;
        let close_done = loop {
            self.session.set_app_backlogged(!self.backlog.is_empty());
            let wake_at = self.session.poll_timeout();
            let reading = self.backlog.is_empty();
            tokio::select! {
                command = self.channels.commands.recv() => match command {
                    Some(Command::Request { request, deadline, permit, reply }) => {
                        let now_ms = self.now_ms();
                        let deadline_ms = deadline.saturating_duration_since(self.origin).as_millis() as u64;
                        let id = self.session.request(now_ms, request, deadline_ms);
                        self.calls.insert(id, Call { reply, _permit: permit });
                    }
                    Some(Command::Kill { done }) => {
                        let now_ms = self.now_ms();
                        self.session.kill(now_ms);
                        self.act().await;
                        let _ = done.send(());
                    }
                    Some(Command::Close { done }) => break Some(done),
                    None => break None,
                },
                () = deliver(&self.channels.events, &mut self.backlog),
                    if !self.backlog.is_empty() => {}
                link_event = next_link_event(&mut self.link, reading, self.encoding) => match link_event {
                    LinkEvent::Incoming(incoming) => self.on_incoming(incoming),
                    LinkEvent::Attempted(attempt) => self.on_attempt(attempt),
                },
                () = sleep_until(self.origin, wake_at) => {
                    let now_ms = self.now_ms();
                    self.session.handle_timeout(now_ms);
                }
            }
            self.act().await;
        };
        self.shut_down(close_done).await;
    }

    fn on_attempt(&mut self, attempt: Result<Transport, AttemptError>) {
        match attempt {
            Ok(transport) => {
                Counters::add(&self.connector.counters().connections_total);
                self.session.handle_connected(carrier(&transport));
                self.link = Link::Up(transport);
            }
            Err(error) => {
                self.link = Link::Down;
                let now_ms = self.now_ms();
                self.session
                    .handle_connect_failed(now_ms, error.detail, error.token_refused);
            }
        }
    }

    fn on_incoming(&mut self, incoming: Incoming) {
        let now_ms = self.now_ms();
        let reason = match incoming {
            Incoming::Frame(frame) => return self.session.handle_frame(now_ms, frame),
            Incoming::Nothing => return,
            Incoming::HandshakeDone {
                early_data_accepted,
            } => {
                let counters = self.connector.counters();
                Counters::add(if early_data_accepted {
                    &counters.quic_zero_rtt_accepted_total
                } else {
                    &counters.quic_zero_rtt_rejected_total
                });
                return self.session.handle_handshake_done(early_data_accepted);
            }
            // Dropping the connection turns a possible gap into a resume.
            Incoming::Undecodable(error) => {
                DisconnectReason::Protocol(format!("undecodable frame from the gateway: {error}"))
            }
            Incoming::Closed { code, reason } => DisconnectReason::ClosedByServer { code, reason },
            Incoming::Failed(error) => DisconnectReason::Transport(error),
        };
        self.link = Link::Down;
        self.session.handle_disconnected(now_ms, reason);
    }

    /// Does what the session asks until it asks nothing more: writes its frames
    /// with one flush, connects, drops the connection, queues events and answers
    /// calls. A failed write is a lost connection, which the session hears of.
    async fn act(&mut self) {
        loop {
            let frames: Vec<_> = std::iter::from_fn(|| self.session.poll_transmit()).collect();
            if !frames.is_empty() {
                if let Link::Up(transport) = &mut self.link {
                    if let Err(error) = transport.send(self.encoding, &frames).await {
                        self.link = Link::Down;
                        let now_ms = self.now_ms();
                        self.session
                            .handle_disconnected(now_ms, DisconnectReason::Transport(error));
                    }
                }
            }
            let mut acted = !frames.is_empty();
            while let Some(output) = self.session.poll_output() {
                acted = true;
                match output {
                    Output::Connect { server, token } => {
                        let uri = self.servers[server].clone();
                        self.link = Link::Connecting(self.connector.attempt(uri, token));
                    }
                    Output::Disconnect => self.link = Link::Down,
                    Output::Event(event) => {
                        let event = self.channels.replies.claim(event);
                        if let (Some(event), false) = (event, self.channels.events.is_closed()) {
                            self.backlog.push_back(event);
                        }
                    }
                    Output::Answer { id, result } => {
                        if let Some(call) = self.calls.remove(&id) {
                            let _ = call.reply.send(result.map_err(ClientError::from));
                        }
                    }
                }
            }
            if !acted {
                return;
            }
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
        self.session.close();
        while let Some(output) = self.session.poll_output() {
            if let Output::Answer { id, result } = output {
                if let Some(call) = self.calls.remove(&id) {
                    let _ = call.reply.send(result.map_err(ClientError::from));
                }
            }
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

/// Sleeps until `at_ms` after `origin`; forever if there is nothing to wake for.
async fn sleep_until(origin: Instant, at_ms: Option<u64>) {
    match at_ms {
        Some(at_ms) => tokio::time::sleep_until(origin + Duration::from_millis(at_ms)).await,
        None => pending().await,
    }
}
