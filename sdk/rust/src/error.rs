//! What can go wrong with a call on a [`crate::Client`].

use sluice_client_protocol::RequestError;
use sluice_core::protocol::ErrorCode;

/// The error of a [`crate::Client`] call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The gateway refused the whole request. `code` is stable; match on it.
    #[error("rejected by the gateway: {code}: {message}")]
    Rejected { code: ErrorCode, message: String },
    /// The connection dropped while the request was in flight. For a publish the
    /// outcome is unknown: the gateway may or may not have written it to Kafka. The
    /// client never replays a publish by itself.
    #[error("the connection dropped before the request was answered")]
    Disconnected,
    /// No answer within `request_timeout_ms`. As with `Disconnected`, a publish may
    /// still have been written.
    #[error("no answer within the request timeout")]
    Timeout,
    /// The client was closed with [`crate::Client::close`], or every handle was dropped.
    #[error("the client is closed")]
    Closed,
    /// No server accepted a connection; says why for each one tried.
    #[error("could not connect: {0}")]
    Connect(String),
    /// A server URL in the config cannot be used.
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A config value is out of range.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The gateway answered with a frame this request cannot end with (a bug on one
    /// side or the other).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl From<RequestError> for ClientError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Rejected { code, message } => ClientError::Rejected { code, message },
            RequestError::Disconnected => ClientError::Disconnected,
            RequestError::Timeout => ClientError::Timeout,
            RequestError::Closed => ClientError::Closed,
            RequestError::Protocol(detail) => ClientError::Protocol(detail),
        }
    }
}
