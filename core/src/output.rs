use crate::broker::BrokerCommand;
use crate::ids::{ClientId, RequestId};

/// WebSocket close codes the gateway uses (RFC 6455 §7.4 and the application range).
pub mod close_code {
    /// A text message that is not UTF-8 (RFC 6455 §8.1).
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation: used with reason `slow_consumer`.
    pub const POLICY: u16 = 1008;
    /// A frame larger than `frame_bytes_max`.
    pub const TOO_BIG: u16 = 1009;
    /// Authentication required: no valid token within `auth_timeout_ms`, or another
    /// frame before the `auth` frame.
    pub const UNAUTHENTICATED: u16 = 4001;
    /// The connection's token expired without a refresh.
    pub const TOKEN_EXPIRED: u16 = 4002;
    /// The connection's token was revoked.
    pub const TOKEN_REVOKED: u16 = 4003;
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
    /// A subject's records moved to another partition (mixed partitioners, or a
    /// partition-count change); its subscribers got `resync`. Emitted the first time
    /// a subject moves while the gateway remembers it, for the runtime to log; every
    /// move is counted in `subject_partition_moves_total`.
    SubjectMoved {
        subject: std::sync::Arc<str>,
        from_partition: u32,
        to_partition: u32,
    },
    /// Verify this token (from the client's `auth` frame `request`) and answer with
    /// [`crate::Input::Authenticated`]. Only with `auth_required`.
    Authenticate {
        client: ClientId,
        request: RequestId,
        token: String,
    },
}
