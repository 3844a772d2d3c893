//! What a [`crate::Client`] handle asks of its connection task.

use sluice_client_protocol::{Answer, Request};
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::error::ClientError;

/// Where the connection task sends a call's answer.
pub(crate) type ReplyTx = oneshot::Sender<Result<Answer, ClientError>>;

#[derive(Debug)]
pub(crate) enum Command {
    /// `permit` holds one of the `requests_in_flight_max` slots until the request
    /// is answered, fails or expires at `deadline`.
    Request {
        request: Request,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
        reply: ReplyTx,
    },
    /// Drop the socket without a close frame; `done` once it is dropped.
    Kill { done: oneshot::Sender<()> },
    /// Close the connection and end the task; `done` once everything is released.
    Close { done: oneshot::Sender<()> },
}
