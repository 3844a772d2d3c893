//! Client frames in: size limit, decoding, the token gate, then dispatch to the
//! request's handler. The first step of every client request.

use super::Gateway;
use crate::ids::ClientId;
use crate::output::close_code;
use crate::protocol::{ClientFrame, ServerFrame};

impl Gateway {
    pub(super) fn on_client_data(&mut self, now_ms: u64, client: ClientId, data: &[u8]) {
        let Some(state) = self.clients.get(client) else {
            return;
        };
        if data.len() > self.config.frame_bytes_max {
            self.stats.oversized_frame_disconnects_total += 1;
            self.close(client, close_code::TOO_BIG, "frame too large");
            return;
        }
        match state.encoding.decode_client(data) {
            Ok(frame) => self.on_client_frame(now_ms, client, frame),
            Err(_) if self.awaiting_token(client) => self.refuse_unauthenticated(client),
            Err(err) => {
                self.send(client, err.into_frame());
            }
        }
    }

    pub(super) fn on_client_frame(&mut self, now_ms: u64, client: ClientId, frame: ClientFrame) {
        if !self.clients.contains(client) {
            return;
        }
        if self.awaiting_token(client) && !matches!(frame, ClientFrame::Auth { .. }) {
            self.refuse_unauthenticated(client);
            return;
        }
        match frame {
            ClientFrame::Subscribe { id, items, options } => {
                self.subscribe(client, id, items, options)
            }
            ClientFrame::Unsubscribe { id, subjects } => self.unsubscribe(client, id, subjects),
            ClientFrame::Publish(publish) => self.publish(now_ms, client, publish),
            ClientFrame::Ping { id } => {
                self.send(client, ServerFrame::Ok { id });
            }
            ClientFrame::Auth { id, token } => self.on_auth_frame(now_ms, client, id, token),
        }
    }
}
