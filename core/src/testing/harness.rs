//! A gateway driven the way the driver drives it, for tests: inputs at a clock the
//! test moves, every output drained after each input and kept by kind, frames read
//! per client. Tests keep their own expectations; the driving is written once here.

use std::sync::Arc;

use crate::broker::{BrokerCommand, BrokerEvent, BrokerRecord, Epoch, PartitionMeta};
use crate::config::GatewayConfig;
use crate::ids::{ClientId, RequestId};
use crate::protocol::{ClientFrame, Encoding, MessageKind, ServerFrame};
use crate::{Gateway, Input, Output};

/// The epoch the harness gives partition `partition` of a topic ([`Harness::topic`]).
pub fn epoch(partition: u32) -> Epoch {
    Epoch::new(format!("e-{partition}"))
}

/// A record of `topic` with a key and payload and no headers, as the broker
/// delivers it; tests change the rest with struct update syntax.
pub fn record(topic: &str, partition: u32, offset: u64, key: &str, payload: &str) -> BrokerRecord {
    BrokerRecord {
        topic: Arc::from(topic),
        partition,
        offset,
        key: Some(bytes::Bytes::copy_from_slice(key.as_bytes())),
        payload: Some(bytes::Bytes::copy_from_slice(payload.as_bytes())),
        headers: Arc::from(Vec::new()),
        timestamp_ms: 0,
        handed_over_unix_us: 0,
    }
}

/// A frame as a short string, for tests to compare: `ok`, `snapshot e-3:0`,
/// `update e-3:1`, `recovered …`, `history …`, `sync`, `resync`, or its `Debug`.
pub fn describe(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Ok { .. } => "ok".to_string(),
        ServerFrame::Message(m) => {
            let kind = match m.kind {
                MessageKind::Snapshot => "snapshot",
                MessageKind::Update => "update",
                MessageKind::Recovered => "recovered",
                MessageKind::History => "history",
            };
            format!("{kind} {}:{}", m.epoch, m.seq)
        }
        ServerFrame::Status { status, .. } => status.as_str().to_string(),
        other => format!("{other:?}"),
    }
}

/// A [`Gateway`] with a clock and the outputs it produced, sorted by kind.
#[derive(Debug)]
pub struct Harness {
    pub gateway: Gateway,
    /// The clock every input and timeout is given.
    pub now_ms: u64,
    /// Commands for the broker, in order.
    pub broker: Vec<BrokerCommand>,
    /// Connections the gateway closed: (client, code, reason).
    pub closed: Vec<(ClientId, u16, &'static str)>,
    /// Tokens the gateway asked to verify: (client, request, token).
    pub to_verify: Vec<(ClientId, RequestId, String)>,
    /// Subjects that moved partition: (subject, from, to).
    pub moves: Vec<(String, u32, u32)>,
}

impl Harness {
    pub fn new(config: GatewayConfig) -> Harness {
        Harness {
            gateway: Gateway::new(config),
            now_ms: 0,
            broker: Vec::new(),
            closed: Vec::new(),
            to_verify: Vec::new(),
            moves: Vec::new(),
        }
    }

    /// Feeds one input at [`Harness::now_ms`], then drains the outputs. Panics if
    /// the gateway refuses it (a bug in the test).
    pub fn input(&mut self, input: Input) {
        self.gateway
            .handle_input(self.now_ms, input)
            .expect("the gateway takes the input");
        self.pump();
    }

    /// Drains [`Gateway::poll_output`] into the harness's lists.
    pub fn pump(&mut self) {
        while let Some(output) = self.gateway.poll_output() {
            match output {
                Output::Wake { .. } => {}
                Output::Close {
                    client,
                    code,
                    reason,
                } => self.closed.push((client, code, reason)),
                Output::Broker(command) => self.broker.push(command),
                Output::SubjectMoved {
                    subject,
                    from_partition,
                    to_partition,
                } => self
                    .moves
                    .push((subject.to_string(), from_partition, to_partition)),
                Output::Authenticate {
                    client,
                    request,
                    token,
                } => self.to_verify.push((client, request, token)),
            }
        }
    }

    /// The broker announces `topic` with `partitions` partitions, each starting at
    /// `start_offset`, partition `p` on log [`epoch`]`(p)`.
    pub fn topic(&mut self, topic: &str, partitions: u32, start_offset: u64) {
        self.input(Input::Broker(BrokerEvent::TopicMeta {
            topic: Arc::from(topic),
            partitions: (0..partitions)
                .map(|p| PartitionMeta {
                    partition: p,
                    epoch: epoch(p),
                    start_offset,
                })
                .collect(),
        }));
    }

    /// Connects `client` with the JSON encoding.
    pub fn connect(&mut self, client: ClientId) {
        self.input(Input::Connect {
            client,
            encoding: Encoding::Json,
        });
    }

    /// A decoded frame from `client`.
    pub fn frame(&mut self, client: ClientId, frame: ClientFrame) {
        self.input(Input::ClientFrame { client, frame });
    }

    /// Everything queued towards `client`, read as its connection would; then the
    /// outputs reading caused (a paused start that went on may fetch).
    pub fn transmit(&mut self, client: ClientId) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.gateway.poll_transmit(client) {
            frames.push(frame);
        }
        self.pump();
        frames
    }

    /// Moves the clock to `at_ms`, running every timer due on the way, and reads
    /// what each timer queued towards `client`.
    pub fn advance_to(&mut self, at_ms: u64, client: ClientId) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        while let Some(due) = self.gateway.poll_timeout().filter(|d| *d <= at_ms) {
            self.now_ms = due.max(self.now_ms);
            self.gateway.handle_timeout(self.now_ms);
            self.pump();
            frames.extend(self.transmit(client));
        }
        self.now_ms = at_ms;
        frames
    }
}
