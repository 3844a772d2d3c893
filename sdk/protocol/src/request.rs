//! What the application asks of the session, and how each request ends.

use bytes::Bytes;
use sluice_core::protocol::ErrorCode;

use crate::options::{PublishOptions, SubscribeOptions};
use crate::outcome::{Ack, SubscribeOutcome};

/// A request the application makes; the session gives it an id and sends it
/// once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Subscribe {
        subjects: Vec<String>,
        options: SubscribeOptions,
    },
    /// Takes effect at once, whatever the gateway answers: no message of these
    /// subjects is delivered after it, and they are not restored.
    Unsubscribe {
        subjects: Vec<String>,
    },
    Publish {
        subject: String,
        data: Bytes,
        options: PublishOptions,
    },
    Ping,
    /// A new token: sent as an `auth` refresh, and used for every later connect.
    /// While the session waits for a token (the last was refused) it reconnects at
    /// once.
    Auth {
        token: String,
    },
}

/// How a request that went through ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `ok` to an unsubscribe, a ping or an `auth`.
    Done,
    Subscribed(SubscribeOutcome),
    Acked(Ack),
}

/// How a request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The gateway refused the whole request.
    Rejected { code: ErrorCode, message: String },
    /// The connection dropped while the request was in flight; for a publish the
    /// outcome is unknown.
    Disconnected,
    /// No answer by the request's deadline.
    Timeout,
    /// The session was closed.
    Closed,
    /// The gateway answered with a frame this request cannot end with.
    Protocol(String),
}
