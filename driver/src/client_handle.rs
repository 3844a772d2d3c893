use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sluice_core::protocol::{Encoding, ServerFrame};
use sluice_core::{ClientId, Input};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::runtime::Runtime;

/// Why the gateway ended a client's session: a WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: &'static str,
}

/// What the runtime shares with one connection's writer.
#[derive(Default)]
pub(crate) struct ClientSlot {
    pub notify: Notify,
    closed: Mutex<Option<Closed>>,
}

impl ClientSlot {
    pub fn close(&self, code: u16, reason: &'static str) {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Closed { code, reason });
        self.notify.notify_one();
    }

    fn closed(&self) -> Option<Closed> {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's view of the gateway. Dropping it disconnects the client.
pub struct ClientHandle {
    runtime: Runtime,
    id: ClientId,
    encoding: Encoding,
    slot: Arc<ClientSlot>,
}

impl ClientHandle {
    pub(crate) fn new(
        runtime: Runtime,
        id: ClientId,
        encoding: Encoding,
        slot: Arc<ClientSlot>,
    ) -> Self {
        ClientHandle {
            runtime,
            id,
            encoding,
            slot,
        }
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Hands one complete frame from the client to the gateway.
    pub fn receive(&self, data: Bytes) {
        self.runtime.input(Input::ClientData {
            client: self.id,
            data,
        });
    }

    /// Moves up to `max` of the gateway's frames for this client into `out`, without
    /// waiting (none may be there). Fails once the gateway closed the session.
    pub fn take_frames(&self, out: &mut Vec<ServerFrame>, max: usize) -> Result<(), Closed> {
        if let Some(closed) = self.slot.closed() {
            return Err(closed);
        }
        self.runtime
            .with_gateway(|gw| gw.poll_transmit_into(self.id, out, max));
        Ok(())
    }

    /// Resolves once the gateway may have frames for this client or has closed it:
    /// then [`ClientHandle::take_frames`] again. A wake-up given before this is
    /// created is kept for it, so none is lost between the two.
    pub fn notified(&self) -> Notified<'_> {
        self.slot.notify.notified()
    }

    /// Waits until the gateway has frames for this client and moves up to `max` of
    /// them into `out`. Fails once the gateway closed the session.
    pub async fn next_frames(&self, out: &mut Vec<ServerFrame>, max: usize) -> Result<(), Closed> {
        loop {
            self.take_frames(out, max)?;
            if !out.is_empty() {
                return Ok(());
            }
            self.notified().await;
        }
    }

    /// Resolves once the gateway has closed the session. A writer blocked on a
    /// full socket (a slow consumer's) selects on it, so the close still happens.
    pub async fn closed(&self) -> Closed {
        loop {
            if let Some(closed) = self.slot.closed() {
                return closed;
            }
            self.slot.notify.notified().await;
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.runtime.disconnect(self.id);
    }
}
