//! What the client tells the application without being asked: messages, resume
//! status, and connection changes, in the order they happened.

use std::fmt;
use std::sync::Arc;

use sluice_core::protocol::{ErrorCode, Message, SyncStatus};

/// One thing that happened on the client's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message on a subscribed subject; duplicates from a resume are already dropped.
    Message(Message),
    /// The outcome of a resume: `Sync` means nothing was missed; `Resync` means the
    /// resume point could not be honoured and the snapshot follows, so the
    /// application should replace what it holds for the subject with it. And, for a
    /// subscribe with `history_end`, `HistoryEnd` after its history (protocol 1.1).
    Status {
        subject: Arc<str>,
        status: SyncStatus,
    },
    /// The gateway accepted a subscription (or its renewal): the subject's start
    /// follows — its snapshot, or with `history` up to that many past messages from
    /// the gateway's cache or the broker's log (possibly none) — then its updates. Comes before any of
    /// them.
    Subscribed {
        subject: Arc<str>,
        history: Option<u32>,
    },
    /// The application unsubscribed: nothing more of this subject follows until it
    /// subscribes again, whatever was already on its way.
    Unsubscribed { subject: Arc<str> },
    /// A connection is up (the first one, and every reconnect). Subscriptions are
    /// being restored with resume; their messages follow. A QUIC reconnect in
    /// 0-RTT is announced as it starts, before the gateway has answered; if it
    /// never does, `Disconnected` follows within `connect_timeout_ms`.
    Connected { server: String },
    /// The connection was lost; the client is reconnecting. Requests in flight
    /// failed with [`crate::RequestError::Disconnected`].
    Disconnected { reason: DisconnectReason },
    /// The connection's token expires in `expires_in_ms`; the gateway closes the
    /// connection (4002) then unless a fresh token is sent.
    TokenExpiring { expires_in_ms: u64 },
    /// The gateway refused the token: at connect (HTTP 401), or by closing the
    /// connection (4001 none given, 4002 expired, 4003 revoked). The client stops
    /// reconnecting with it; an [`crate::Request::Auth`] with a new one
    /// reconnects at once, and is answered when the gateway has accepted it.
    TokenRefused { reason: String },
    /// After a reconnect the gateway refused to restore this subscription (for
    /// example, its topic is no longer exposed). The subject is no longer subscribed.
    SubscriptionRejected {
        subject: String,
        code: ErrorCode,
        message: String,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The gateway closed the WebSocket. `code` is the close code (1008 policy,
    /// 1009 too big, 1011 internal, 4000+ Sluice-specific); `reason` says why, for
    /// example `slow_consumer`.
    ClosedByServer { code: u16, reason: String },
    /// The socket failed or ended without a close frame.
    Transport(String),
    /// The gateway sent something the client cannot accept; the client reconnects
    /// and resumes, so whatever that frame held is not silently lost.
    Protocol(String),
    /// The gateway refused, for now, to restore the subscriptions (for example the
    /// broker is unavailable); the client reconnects after a backoff and retries.
    RestoreFailed { code: ErrorCode, message: String },
    /// The application dropped the connection ([`crate::ClientSession::kill`]).
    Killed,
    /// The gateway answered the client's `auth` frame (its token, over QUIC) with
    /// an error; the client dropped the connection rather than wait to be closed.
    TokenRejected { code: ErrorCode, message: String },
}

impl DisconnectReason {
    /// The gateway closed the connection over its token: 4001 (none given in
    /// time), 4002 (expired) or 4003 (revoked).
    pub fn is_token_refused(&self) -> bool {
        matches!(
            self,
            DisconnectReason::ClosedByServer {
                code: 4001..=4003,
                ..
            } | DisconnectReason::TokenRejected { .. }
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClosedByServer { code, reason } => {
                write!(f, "closed by the server ({code}): {reason}")
            }
            DisconnectReason::Transport(detail) => write!(f, "transport: {detail}"),
            DisconnectReason::Protocol(detail) => write!(f, "protocol: {detail}"),
            DisconnectReason::RestoreFailed { code, message } => {
                write!(f, "restoring subscriptions failed: {code}: {message}")
            }
            DisconnectReason::Killed => f.write_str("killed by the application"),
            DisconnectReason::TokenRejected { code, message } => {
                write!(f, "token rejected: {code}: {message}")
            }
        }
    }
}
