use bytes::Bytes;

use crate::broker::BrokerEvent;
use crate::ids::ClientId;
use crate::protocol::{ClientFrame, Encoding};

/// Something that happened outside the core, fed in with [`crate::Gateway::handle_input`].
#[derive(Debug, Clone)]
pub enum Input {
    /// A client connected and chose an encoding. The id must be new.
    Connect {
        client: ClientId,
        encoding: Encoding,
    },
    /// A complete frame from a client, still encoded.
    ClientData { client: ClientId, data: Bytes },
    /// A client frame already decoded (simulators and tests skip the codec with it).
    ClientFrame {
        client: ClientId,
        frame: ClientFrame,
    },
    /// The client's connection is gone. Its subscriptions and queue are dropped.
    Disconnect { client: ClientId },
    /// News from the broker.
    Broker(BrokerEvent),
}
