//! The application's handle on a connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::command::Command;
use crate::config::ClientConfig;
use crate::connection::{Channels, Connection};
use crate::connector::Connector;
use crate::error::ClientError;
use crate::event::Events;
use crate::replies::{inbox_owner, Replies};
use crate::stats::ClientStats;
use sluice_client_protocol::{
    Ack, Answer, PublishOptions, Request, SubscribeOptions, SubscribeOutcome,
};
use sluice_core::protocol::Message;

/// A connection to a Sluice gateway that survives reconnects. Cheap to clone: all
/// clones share one background task and one socket. The task ends when
/// [`Client::close`] is called or the last clone is dropped.
///
/// Every call gives up after `request_timeout_ms` with [`ClientError::Timeout`],
/// counted from the call. A call made while the client is reconnecting waits for
/// the new connection within that time. Messages and answers share the socket, so
/// an application that awaits a call must drain [`Events`] concurrently (another
/// task, or `select!`): while the events queue is full, answers are not read either.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    connector: Connector,
    permits: Arc<Semaphore>,
    request_timeout: Duration,
    replies: Replies,
    /// `/<inbox_topic>/<owner>/`: where this client's calls wait for replies.
    inbox_prefix: Arc<str>,
}

impl Client {
    /// Connects to the first server in `config.servers` that accepts, trying each
    /// once in order, and starts the background task. Fails with
    /// [`ClientError::Connect`] naming every server's failure if none accepts; from
    /// then on, connection losses are handled by reconnecting, never by an error.
    /// The first event is [`crate::Event::Connected`].
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), ClientError> {
        let servers = config.validate()?;
        let connector = Connector::new(&config, &servers)?;
        let mut failures = Vec::new();
        let mut first = None;
        for (index, uri) in servers.iter().enumerate() {
            match connector.attempt(uri.clone(), config.token.clone()).await {
                Ok(transport) => {
                    first = Some((index, transport));
                    break;
                }
                Err(reason) => failures.push(format!("{uri}: {reason}")),
            }
        }
        let Some((server_index, transport)) = first else {
            return Err(ClientError::Connect(failures.join("; ")));
        };

        let slots = config.requests_in_flight_max.min(Semaphore::MAX_PERMITS);
        let permits = Arc::new(Semaphore::new(slots));
        let (command_tx, command_rx) = mpsc::channel(slots);
        let (event_tx, event_rx) = mpsc::channel(config.events_queue_max);
        let replies = Replies::default();
        let channels = Channels {
            commands: command_rx,
            events: event_tx,
            permits: Arc::clone(&permits),
            replies: replies.clone(),
        };
        let connection = Connection::new(
            &config,
            servers,
            server_index,
            transport,
            connector.clone(),
            channels,
        );
        tokio::spawn(connection.run());

        let client = Client {
            commands: command_tx,
            connector,
            permits,
            request_timeout: config.request_timeout(),
            replies,
            inbox_prefix: Arc::from(format!(
                "/{}/{}/",
                config.inbox_topic,
                inbox_owner(config.token.as_deref())
            )),
        };
        Ok((client, Events::new(event_rx)))
    }

    /// Subscribes to `subjects`; see [`Client::subscribe_with`].
    pub async fn subscribe(&self, subjects: &[&str]) -> Result<SubscribeOutcome, ClientError> {
        self.subscribe_with(subjects, SubscribeOptions::default())
            .await
    }

    /// Subscribes to `subjects`. `Ok` means the gateway took the request; subjects it
    /// refused one by one are listed in the outcome, the others are subscribed and
    /// their snapshot (or history) arrives as events. Subscribed subjects are
    /// restored after every reconnect, resuming from the last message seen.
    /// Subscribing again to a subject already subscribed renews it: the gateway
    /// sends its start again, and the client lets it through.
    pub async fn subscribe_with(
        &self,
        subjects: &[&str],
        options: SubscribeOptions,
    ) -> Result<SubscribeOutcome, ClientError> {
        if subjects.is_empty() {
            return Ok(SubscribeOutcome::default());
        }
        let request = Request::Subscribe {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            options,
        };
        match self.call(request).await? {
            Answer::Subscribed(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Request/reply: publishes `data` to `subject` (not retained) with a fresh
    /// subject of this client's inbox as `reply_to`, and returns the first message
    /// published there — a responder's [`Client::reply`] — or
    /// [`ClientError::Timeout`] after `timeout`. The inbox is subscribed before the
    /// request goes out and unsubscribed after, and none of its events reach
    /// [`Events`]. The gateway must expose its `inbox_topic`
    /// ([`ClientConfig::inbox_topic`]); a token may read only its own inbox.
    pub async fn request(
        &self,
        subject: &str,
        data: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        let inbox = format!("{}{:016x}", self.inbox_prefix, rand::random::<u64>());
        let reply = self.replies.register(&inbox);
        let data = data.into();
        let call = async {
            let outcome = self.subscribe(&[&inbox]).await?;
            if let Some(refused) = outcome.rejected.into_iter().next() {
                return Err(ClientError::Rejected {
                    code: refused.code,
                    message: refused.message,
                });
            }
            let options = PublishOptions {
                retained: false,
                reply_to: Some(inbox.clone()),
                ..PublishOptions::default()
            };
            self.publish(subject, data, options).await?;
            reply.await.map_err(|_| ClientError::Closed)
        };
        let result = tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(ClientError::Timeout));
        self.replies.forget(&inbox);
        // In the background, so a call that timed out on a lost connection does
        // not wait again; a lost connection forgets the inbox on the gateway anyway.
        let client = self.clone();
        tokio::spawn(async move {
            let _ = client.unsubscribe(&[&inbox]).await;
        });
        result
    }

    /// Answers a request: publishes `data` (not retained) to the `reply_to` header
    /// of `request`, a message received on a subscription made with
    /// [`SubscribeOptions::headers`]. [`ClientError::InvalidConfig`] if it has none.
    pub async fn reply(
        &self,
        request: &Message,
        data: impl Into<Bytes>,
    ) -> Result<Ack, ClientError> {
        let reply_to = request
            .headers
            .as_deref()
            .and_then(|headers| headers.iter().rev().find(|h| h.name == "reply_to"))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
            .ok_or_else(|| {
                ClientError::InvalidConfig(
                    "the message has no reply_to header (subscribe with headers: true)".into(),
                )
            })?
            .to_owned();
        let options = PublishOptions {
            retained: false,
            ..PublishOptions::default()
        };
        self.publish(&reply_to, data, options).await
    }

    /// Unsubscribes from `subjects`. Their messages stop reaching [`Events`] at
    /// once, and they are not restored after a reconnect, even if this call fails.
    pub async fn unsubscribe(&self, subjects: &[&str]) -> Result<(), ClientError> {
        if subjects.is_empty() {
            return Ok(());
        }
        let request = Request::Unsubscribe {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
        };
        self.call(request).await.map(drop)
    }

    /// Publishes `data` on `subject` and waits until Kafka has it. On
    /// [`ClientError::Disconnected`] or [`ClientError::Timeout`] the outcome is
    /// unknown: the message may have been written. The client never publishes twice
    /// on its own; whether to retry is the application's call.
    pub async fn publish(
        &self,
        subject: &str,
        data: impl Into<Bytes>,
        options: PublishOptions,
    ) -> Result<Ack, ClientError> {
        let request = Request::Publish {
            subject: subject.to_owned(),
            data: data.into(),
            options,
        };
        match self.call(request).await? {
            Answer::Acked(ack) => Ok(ack),
            other => Err(unexpected(other)),
        }
    }

    /// A round trip to the gateway, to check that the connection is alive.
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.call(Request::Ping).await.map(drop)
    }

    /// Replaces the token (`[auth] mode = "jwt"`): sends it as an `auth` refresh on
    /// the live connection and uses it for every later reconnect. Call it on
    /// [`crate::Event::TokenExpiring`]. Fails with the gateway's error (for example
    /// `forbidden` for another user's token); the old token then stays in force.
    pub async fn refresh_token(&self, token: String) -> Result<(), ClientError> {
        self.call(Request::Auth { token }).await.map(drop)
    }

    /// Closes the connection for every clone: pending calls fail with
    /// [`ClientError::Closed`], later ones too, and [`Events`] ends after the
    /// events already queued. Returns once the connection is released; calling it
    /// again is harmless.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// Whether the client is closed (by [`Client::close`] or because its task ended).
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    /// For tests and fault drills: drops the current socket abruptly, without a
    /// close frame, as a network failure would. The client then behaves as on any
    /// connection loss: [`crate::Event::Disconnected`] with
    /// [`crate::DisconnectReason::Killed`], requests in flight fail, and it
    /// reconnects to the next server and resumes. Returns once the socket is
    /// dropped; does nothing while already disconnected.
    pub async fn kill_connection(&self) {
        let (done, killed) = oneshot::channel();
        if self.commands.send(Command::Kill { done }).await.is_ok() {
            let _ = killed.await;
        }
    }

    /// Counters of this client's connections (all clones share them).
    pub fn stats(&self) -> ClientStats {
        self.connector.counters().snapshot()
    }

    /// Moves the client's QUIC socket to a new local address (port 0: any free
    /// port), as when a phone moves from Wi-Fi to cellular. The QUIC connection
    /// migrates and the session goes on: no reconnect, no resume, nothing lost.
    /// The socket is dual-stack (`[::]:0`) unless the host lacks IPv6; an IPv4
    /// `local_addr` then binds its IPv4-mapped form, so connections keep their
    /// peers. Returns the new local address. Fails if no server in the list is
    /// `quic://`.
    #[cfg(feature = "quic")]
    pub fn rebind_quic(
        &self,
        local_addr: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, ClientError> {
        let quic = self
            .connector
            .quic()
            .ok_or_else(|| ClientError::InvalidConfig("no quic:// server in the list".into()))?;
        quic.rebind(local_addr)
            .map_err(|e| ClientError::Connect(format!("rebinding to {local_addr}: {e}")))
    }

    /// The local address of the client's QUIC socket, if it has one.
    #[cfg(feature = "quic")]
    pub fn quic_local_addr(&self) -> Option<std::net::SocketAddr> {
        self.connector.quic()?.local_addr().ok()
    }

    /// Hands `request` to the connection task and waits for its answer, all within the
    /// request timeout. The task answers every request it takes (or drops the
    /// reply sender when it ends, which reads as `Closed`).
    async fn call(&self, request: Request) -> Result<Answer, ClientError> {
        let deadline = Instant::now() + self.request_timeout;
        let call = async {
            let permit = Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|_| ClientError::Closed)?;
            let (reply, answer) = oneshot::channel();
            let command = Command::Request {
                request,
                deadline,
                permit,
                reply,
            };
            self.commands
                .send(command)
                .await
                .map_err(|_| ClientError::Closed)?;
            answer.await.map_err(|_| ClientError::Closed)?
        };
        // `timeout` rather than `timeout_at`: the simulator's clock has only the former.
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), call)
            .await
            .map_err(|_| ClientError::Timeout)?
    }
}

/// The task answered with the wrong kind of answer: a bug in this crate.
fn unexpected(answer: Answer) -> ClientError {
    ClientError::Protocol(format!("internal: unexpected answer {answer:?}"))
}
