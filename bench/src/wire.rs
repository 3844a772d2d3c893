//! Each system's wire protocol, as far as the load needs it: subscribe, publish,
//! and finding the payloads in what arrives. Sluice speaks protocol v1's binary
//! encoding; NATS its text protocol over WebSocket.

use bytes::Bytes;
use sluice_core::protocol::{ClientFrame, Encoding, PublishFrame, Qos, ServerFrame, SubscribeItem};
use sluice_core::RequestId;

/// What a connection learned from one WebSocket message.
#[derive(Debug, Default)]
pub struct Received {
    /// Payloads of delivered messages.
    pub payloads: Vec<Bytes>,
    /// Subscriptions confirmed (Sluice `ok`).
    pub confirmed: usize,
    /// Messages to send back (NATS `PONG`).
    pub replies: Vec<Vec<u8>>,
}

/// One system's protocol.
pub trait Wire: Send + Sync {
    /// The WebSocket subprotocol to offer, if any.
    fn subprotocol(&self) -> Option<&'static str>;
    /// What a fresh connection sends first.
    fn hello(&self) -> Vec<Vec<u8>>;
    fn subscribe(&self, subject: &str, id: u64) -> Vec<u8>;
    fn publish(&self, subject: &str, payload: &[u8], id: u64) -> Vec<u8>;
    /// Parses one incoming WebSocket message; `partial` carries bytes of a
    /// protocol that splits frames across messages.
    fn receive(&self, message: &[u8], partial: &mut Vec<u8>) -> Received;
}

/// Sluice, protocol v1 binary (`sluice.v1.bin`).
pub struct SluiceWire;

impl Wire for SluiceWire {
    fn subprotocol(&self) -> Option<&'static str> {
        Some(Encoding::Binary.subprotocol())
    }

    fn hello(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn subscribe(&self, subject: &str, id: u64) -> Vec<u8> {
        Encoding::Binary.encode_client(&ClientFrame::Subscribe {
            id: RequestId(id),
            items: vec![SubscribeItem {
                subject: subject.to_owned(),
                resume: None,
            }],
            history: None,
        })
    }

    fn publish(&self, subject: &str, payload: &[u8], id: u64) -> Vec<u8> {
        Encoding::Binary.encode_client(&ClientFrame::Publish(PublishFrame {
            id: RequestId(id),
            subject: subject.to_owned(),
            data: Bytes::copy_from_slice(payload),
            retained: true,
            qos: Qos::Standard,
            reply_to: None,
            traceparent: None,
        }))
    }

    fn receive(&self, message: &[u8], _partial: &mut Vec<u8>) -> Received {
        let mut received = Received::default();
        match Encoding::Binary.decode_server(message) {
            Ok(ServerFrame::Message(m)) => received.payloads.extend(m.data),
            Ok(ServerFrame::Ok { .. }) => received.confirmed += 1,
            _ => {}
        }
        received
    }
}

/// NATS over WebSocket: the text protocol, split across messages at will.
pub struct NatsWire;

/// Sluice subjects are paths; NATS subjects are dot-separated tokens.
fn nats_subject(subject: &str) -> String {
    subject.trim_start_matches('/').replace('/', ".")
}

impl Wire for NatsWire {
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }

    fn hello(&self) -> Vec<Vec<u8>> {
        vec![b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n".to_vec()]
    }

    fn subscribe(&self, subject: &str, id: u64) -> Vec<u8> {
        // A PING after the SUB: its PONG confirms the subscription is in place.
        format!("SUB {} {id}\r\nPING\r\n", nats_subject(subject)).into_bytes()
    }

    fn publish(&self, subject: &str, payload: &[u8], _id: u64) -> Vec<u8> {
        let mut frame = format!("PUB {} {}\r\n", nats_subject(subject), payload.len()).into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        frame
    }

    fn receive(&self, message: &[u8], partial: &mut Vec<u8>) -> Received {
        partial.extend_from_slice(message);
        let mut received = Received::default();
        let mut at = 0;
        while let Some(end) = find_crlf(&partial[at..]) {
            let line = &partial[at..at + end];
            if let Some(rest) = line.strip_prefix(b"MSG ") {
                // MSG <subject> <sid> [reply-to] <#bytes>
                let Some(length) = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|r| r.split_whitespace().last())
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    break;
                };
                let body_start = at + end + 2;
                if partial.len() < body_start + length + 2 {
                    break; // the payload is in a later message
                }
                received.payloads.push(Bytes::copy_from_slice(
                    &partial[body_start..body_start + length],
                ));
                at = body_start + length + 2;
                continue;
            }
            if line == b"PING" {
                received.replies.push(b"PONG\r\n".to_vec());
            } else if line == b"PONG" {
                received.confirmed += 1;
            }
            at += end + 2;
        }
        partial.drain(..at);
        received
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_messages_split_across_websocket_messages_are_reassembled() {
        let wire = NatsWire;
        let mut partial = Vec::new();
        let first = wire.receive(b"INFO {}\r\nMSG bench.s1 7 5\r\nhel", &mut partial);
        assert!(first.payloads.is_empty());
        let second = wire.receive(b"lo\r\nPING\r\nPONG\r\nMSG a 1 2\r\nhi\r\n", &mut partial);
        assert_eq!(
            second.payloads,
            vec![Bytes::from("hello"), Bytes::from("hi")]
        );
        assert_eq!(second.replies, vec![b"PONG\r\n".to_vec()]);
        assert_eq!(second.confirmed, 1);
        assert!(partial.is_empty());
    }

    #[test]
    fn sluice_publishes_decode_as_the_gateway_reads_them() {
        let frame = SluiceWire.publish("/bench/s1", b"xyz", 9);
        let ClientFrame::Publish(p) = Encoding::Binary.decode_client(&frame).unwrap() else {
            panic!("not a publish");
        };
        assert_eq!(
            (p.subject.as_str(), &p.data[..]),
            ("/bench/s1", &b"xyz"[..])
        );
    }
}
