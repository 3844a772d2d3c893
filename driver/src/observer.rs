//! Hooks through which metrics and traces see what the runtime and the transports
//! do. Plain Rust: the exporters (Prometheus, OpenTelemetry) live in the
//! `sluice-observability` crate, which implements [`Observer`]; this crate and the
//! transports stay free of them (they also build under the simulator).

use sluice_core::protocol::RecordOrigin;
use sluice_core::{BrokerError, ProduceId, ProduceRequest};

/// Why a client connection ended, as a metric label: snake case, a small fixed set.
pub type CloseReason = &'static str;

/// What the runtime and transports report. Every method has a no-op default. Calls
/// come from the connection and broker tasks; [`Observer::producing`] runs under the
/// gateway's lock (it keeps publishes in order), so none of them may block.
pub trait Observer: Send + Sync + 'static {
    /// A transport (`"websocket"`, `"quic"`) started accepting clients: its series
    /// can exist, at zero, before the first client.
    fn listening(&self, _transport: &'static str) {}

    /// A client connected over `transport`.
    fn connected(&self, _transport: &'static str) {}

    /// A client connection over `transport` ended, for `reason`.
    fn disconnected(&self, _transport: &'static str, _reason: CloseReason) {}

    /// A publish is about to be sent to the broker. The observer may rewrite its
    /// headers (the `traceparent` of the publish span).
    fn producing(&self, _request: &mut ProduceRequest) {}

    /// The broker answered a produce.
    fn produced(&self, _produce: ProduceId, _result: &Result<u64, BrokerError>) {}

    /// Live messages with these origins were written to a client's socket.
    fn delivered(&self, _transport: &'static str, _origins: &[RecordOrigin]) {}

    /// A connection negotiated permessage-deflate (`context_takeover`: it keeps
    /// compression contexts between messages), or (`opened` false) such a
    /// connection ended.
    fn deflate_connection(&self, _context_takeover: bool, _opened: bool) {}

    /// Messages written compressed: `plain_bytes` became `wire_bytes`.
    fn deflated(&self, _plain_bytes: u64, _wire_bytes: u64) {}
}

/// The observer of a runtime nobody watches.
pub struct NoObserver;

impl Observer for NoObserver {}
