//! The application's end of the events queue. The events themselves (messages,
//! resume status, connection changes) are the client protocol's.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use sluice_client_protocol::Event;
use tokio::sync::mpsc;

/// The receiving end of a client's events. It holds at most `events_queue_max`
/// events: when it is full the client stops reading its socket until the
/// application catches up, so memory stays bounded and the gateway sees the lag.
/// Ends (`None`) once the client is closed or every [`crate::Client`] is dropped.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: mpsc::Receiver<Event>) -> Self {
        Events { rx }
    }

    /// The next event, waiting for one; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is already queued.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
