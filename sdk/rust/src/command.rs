//! What a [`crate::Client`] handle asks of its connection task.

use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::in_flight::ReplyTx;
use crate::options::PublishOptions;

/// A request the application makes; the task gives it an id and sends it.
#[derive(Debug)]
pub(crate) enum Op {
    Subscribe {
        subjects: Vec<String>,
        history: Option<u32>,
    },
    Unsubscribe {
        subjects: Vec<String>,
    },
    Publish {
        subject: String,
        data: Bytes,
        options: PublishOptions,
    },
    Ping,
    /// A fresh token: sent as `auth`, and used for every later (re)connect.
    Auth {
        token: String,
    },
}

#[derive(Debug)]
pub(crate) enum Command {
    /// `permit` holds one of the `requests_in_flight_max` slots until the request
    /// is answered, fails or expires at `deadline`.
    Request {
        op: Op,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
        reply: ReplyTx,
    },
    /// Drop the socket without a close frame; `done` once it is dropped.
    Kill { done: oneshot::Sender<()> },
    /// Close the connection and end the task; `done` once everything is released.
    Close { done: oneshot::Sender<()> },
}
