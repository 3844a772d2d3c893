use bytes::Bytes;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::auth::{AuthFailure, Grant};
use crate::broker::BrokerEvent;
use crate::gateway::ExposureChange;
use crate::ids::{ClientId, RequestId};
#[cfg(feature = "testing")]
use crate::protocol::ClientFrame;
use crate::protocol::Encoding;

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
    /// Test-only: the `testing` feature.
    #[cfg(feature = "testing")]
    ClientFrame {
        client: ClientId,
        frame: ClientFrame,
    },
    /// The client's connection is gone. Its subscriptions and queue are dropped.
    Disconnect { client: ClientId },
    /// News from the broker.
    Broker(BrokerEvent),
    /// The verdict on a token: the answer to [`crate::Output::Authenticate`]
    /// (`request` is the `auth` frame's id), or a token the transport verified in the
    /// handshake (`request: None`).
    Authenticated {
        client: ClientId,
        request: Option<RequestId>,
        result: Result<Grant, AuthFailure>,
    },
    /// The whole list of revoked token ids (`jti`), replacing the previous one.
    /// Connections holding one of them are closed (4003).
    RevokedTokens(Arc<BTreeSet<String>>),
    /// Expose a topic or a topic pattern, or stop exposing it (the Portal). When a
    /// topic stops being exposed its subscribers get `not_exposed` and their
    /// subscriptions end; nobody else is disturbed.
    Exposure(ExposureChange),
}
