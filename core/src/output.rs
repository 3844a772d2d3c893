use crate::broker::BrokerCommand;
use crate::ids::ClientId;

/// WebSocket close codes the gateway uses (RFC 6455 §7.4 and the application range).
pub mod close_code {
    /// Policy violation: used with reason `slow_consumer`.
    pub const POLICY: u16 = 1008;
    /// A frame larger than `frame_bytes_max`.
    pub const TOO_BIG: u16 = 1009;
}

/// Work for the caller, drained with [`crate::Gateway::poll_output`] after every input
/// and after [`crate::Gateway::poll_transmit`] (continuing a paced start may fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The client has frames queued: call [`crate::Gateway::poll_transmit`] until it
    /// returns `None`. Emitted once per empty → non-empty transition.
    Wake { client: ClientId },
    /// Close the client's connection with this code and reason. The core has already
    /// forgotten the client; further input for it is ignored.
    Close {
        client: ClientId,
        code: u16,
        reason: &'static str,
    },
    /// Ask the broker to do something.
    Broker(BrokerCommand),
}
