//! The gateway's side of the log server: a broker adapter like the Kafka one, over
//! one TCP connection. It hands the runtime a [`BrokerLink`] that outlives
//! connections: when the server goes away it reconnects (the server then announces
//! the topics again and re-streams the log, which the core de-duplicates by offset).
//!
//! Every produce and fetch gets exactly one answer, as the core expects: the
//! server's, or `Unavailable` when the connection is lost or no answer comes within
//! `request_timeout_ms`. A late answer after that is dropped. Like Kafka's client, a
//! produce that timed out may still have been written.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, FetchId, ProduceId};
use sluice_driver::BrokerLink;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::wire::{read_frame, write_frame};

/// Where the log server is and how patient to be with it.
#[derive(Debug, Clone)]
pub struct BrokerLinkConfig {
    pub server: String,
    /// A produce or fetch without an answer for this long fails as `Unavailable`.
    pub request_timeout_ms: u64,
    /// Pause between connection attempts.
    pub reconnect_delay_ms: u64,
    /// Capacity of the event and command channels to the runtime.
    pub queue_max: usize,
}

/// Starts the link task on the current runtime and returns the runtime's end.
pub fn connect(config: BrokerLinkConfig) -> BrokerLink {
    let (command_tx, commands) = mpsc::channel(config.queue_max);
    let (events, event_rx) = mpsc::channel(config.queue_max);
    tokio::spawn(
        Link {
            config,
            commands,
            events,
            waiting: BTreeMap::new(),
        }
        .run(),
    );
    BrokerLink {
        commands: command_tx,
        events: event_rx,
    }
}

/// A request sent to the server and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Waiting {
    Produce(ProduceId),
    Fetch(FetchId),
}

impl Waiting {
    /// What a command waits for; `None` for interest mode's watches, which the
    /// log server (it streams every partition) does not get.
    fn of(command: &BrokerCommand) -> Option<Waiting> {
        match command {
            BrokerCommand::Produce(request) => Some(Waiting::Produce(request.produce)),
            BrokerCommand::Fetch(request) => Some(Waiting::Fetch(request.fetch)),
            BrokerCommand::Watch { .. } | BrokerCommand::Unwatch { .. } => None,
        }
    }

    fn answered_by(event: &BrokerEvent) -> Option<Waiting> {
        match event {
            BrokerEvent::Produced { produce, .. } => Some(Waiting::Produce(*produce)),
            BrokerEvent::Fetched { fetch, .. } => Some(Waiting::Fetch(*fetch)),
            _ => None,
        }
    }

    fn failed(self, why: &str) -> BrokerEvent {
        let error = BrokerError::Unavailable(why.to_owned());
        match self {
            Waiting::Produce(produce) => BrokerEvent::Produced {
                produce,
                result: Err(error),
            },
            Waiting::Fetch(fetch) => BrokerEvent::Fetched {
                fetch,
                result: Err(error),
            },
        }
    }
}

struct Link {
    config: BrokerLinkConfig,
    commands: mpsc::Receiver<BrokerCommand>,
    events: mpsc::Sender<BrokerEvent>,
    /// Requests on the wire, with the time they give up.
    waiting: BTreeMap<Waiting, Instant>,
}

/// Why a connection's session ended.
enum Ended {
    /// The runtime is gone: stop for good.
    RuntimeGone,
    Lost(String),
}

impl Link {
    async fn run(mut self) {
        loop {
            match TcpStream::connect(self.config.server.as_str()).await {
                Ok(stream) => {
                    tracing::debug!(server = %self.config.server, "log server connected");
                    match self.session(stream).await {
                        Ended::RuntimeGone => return,
                        Ended::Lost(why) => {
                            tracing::debug!(%why, "log server connection lost");
                            if !self.fail_waiting(&why).await {
                                return;
                            }
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "log server unreachable"),
            }
            if !self.refuse_until_reconnect().await {
                return;
            }
        }
    }

    /// One connection: commands out, events in, deadlines enforced.
    async fn session(&mut self, stream: TcpStream) -> Ended {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (incoming_tx, mut incoming) = mpsc::channel(self.config.queue_max);
        let reading = tokio::spawn(async move {
            loop {
                let frame = read_frame::<_, BrokerEvent>(&mut reader).await;
                let end = !matches!(frame, Ok(Some(_)));
                if incoming_tx.send(frame).await.is_err() || end {
                    return;
                }
            }
        });
        let ended = loop {
            let deadline = self.waiting.values().min().copied();
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { break Ended::RuntimeGone };
                    let timeout = Duration::from_millis(self.config.request_timeout_ms);
                    let Some(waiting) = Waiting::of(&command) else { continue };
                    self.waiting.insert(waiting, Instant::now() + timeout);
                    if let Err(error) = write_frame(&mut writer, &command).await {
                        break Ended::Lost(format!("writing to the log server: {error}"));
                    }
                }
                frame = incoming.recv() => {
                    let event = match frame {
                        Some(Ok(Some(event))) => event,
                        Some(Ok(None)) | None => break Ended::Lost("log server closed".into()),
                        Some(Err(error)) => break Ended::Lost(format!("reading: {error}")),
                    };
                    tracing::trace!(?event, "from the log server");
                    if let Some(answer) = Waiting::answered_by(&event) {
                        if self.waiting.remove(&answer).is_none() {
                            continue; // answered already, as a timeout
                        }
                    }
                    if self.events.send(event).await.is_err() {
                        break Ended::RuntimeGone;
                    }
                }
                () = sleep_until_or_forever(deadline) => {
                    if !self.expire().await {
                        break Ended::RuntimeGone;
                    }
                }
            }
        };
        reading.abort();
        ended
    }

    /// Fails the requests whose deadline passed; false if the runtime is gone.
    async fn expire(&mut self) -> bool {
        let now = Instant::now();
        let expired: Vec<Waiting> = self
            .waiting
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(waiting, _)| *waiting)
            .collect();
        for waiting in expired {
            self.waiting.remove(&waiting);
            let why = format!(
                "no answer from the log server within {} ms",
                self.config.request_timeout_ms
            );
            if self.events.send(waiting.failed(&why)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Answers every request on the lost connection; false if the runtime is gone.
    async fn fail_waiting(&mut self, why: &str) -> bool {
        for (waiting, _) in std::mem::take(&mut self.waiting) {
            if self.events.send(waiting.failed(why)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Waits out the reconnect delay, refusing commands meanwhile; false if the
    /// runtime is gone.
    async fn refuse_until_reconnect(&mut self) -> bool {
        let until = Instant::now() + Duration::from_millis(self.config.reconnect_delay_ms);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                command = self.commands.recv() => {
                    let Some(command) = command else { return false };
                    let Some(waiting) = Waiting::of(&command) else { continue };
                    let refused = waiting.failed("log server not connected");
                    if self.events.send(refused).await.is_err() {
                        return false;
                    }
                }
            }
        }
    }
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
