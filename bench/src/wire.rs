//! Each system's wire protocol, as far as the load needs it: subscribe, publish,
//! and finding the payloads in what arrives. Sluice speaks protocol v1's binary
//! encoding; NATS its text protocol over WebSocket; sockudo the Pusher protocol
//! (private channels, client events).

use bytes::Bytes;
use sluice_core::protocol::{
    ClientFrame, Encoding, PublishFrame, Qos, ResumePoint, ServerFrame, SubscribeItem,
    SubscribeOptions, SyncStatus,
};
use sluice_core::{Epoch, RequestId};

/// What a connection learned from one WebSocket message.
#[derive(Debug, Default)]
pub struct Received {
    /// Payloads of delivered messages.
    pub payloads: Vec<Bytes>,
    /// Subscriptions confirmed (Sluice `ok`).
    pub confirmed: usize,
    /// Messages to send back (NATS `PONG`).
    pub replies: Vec<Vec<u8>>,
    /// Publishes the system acknowledged, with where they were written (Sluice `ack`).
    pub acks: Vec<Ack>,
    /// Resumes completed (Sluice `sync`).
    pub synced: usize,
    /// Resume points refused; the snapshot follows (Sluice `resync`).
    pub resynced: usize,
}

/// A publish acknowledged: its request id, and its place in the log (a resume point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub id: u64,
    pub epoch: String,
    pub seq: u64,
}

/// One system's protocol.
pub trait Wire: Send + Sync {
    /// The WebSocket subprotocol to offer, if any.
    fn subprotocol(&self) -> Option<&'static str>;
    /// What a fresh connection sends first.
    fn hello(&self) -> Vec<Vec<u8>>;
    /// Whether messages go as text frames (else binary).
    fn text_frames(&self) -> bool {
        false
    }
    /// Whether subscribing needs a session id the server sends first.
    fn needs_session(&self) -> bool {
        false
    }
    /// The session id, if `message` is the one that names it.
    fn session(&self, _message: &[u8]) -> Option<String> {
        None
    }
    fn subscribe(&self, subject: &str, id: u64, session: Option<&str>) -> Vec<u8>;
    /// Whether the protocol resumes from a position ([`Wire::subscribe_resuming`]).
    fn resumes(&self) -> bool {
        false
    }
    /// A subscribe that resumes after `from` (an [`Ack`]'s epoch and seq); `None`
    /// for protocols without resume.
    fn subscribe_resuming(&self, _subject: &str, _id: u64, _from: &Ack) -> Option<Vec<u8>> {
        None
    }
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

    fn subscribe(&self, subject: &str, id: u64, _session: Option<&str>) -> Vec<u8> {
        sluice_subscribe(subject, id, None)
    }

    fn resumes(&self) -> bool {
        true
    }

    fn subscribe_resuming(&self, subject: &str, id: u64, from: &Ack) -> Option<Vec<u8>> {
        let resume = ResumePoint {
            epoch: Epoch::new(from.epoch.as_str()),
            seq: from.seq,
        };
        Some(sluice_subscribe(subject, id, Some(resume)))
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
            Ok(ServerFrame::Ack { id, epoch, seq }) => received.acks.push(Ack {
                id: id.0,
                epoch: epoch.as_str().to_owned(),
                seq,
            }),
            Ok(ServerFrame::Status { status, .. }) => match status {
                SyncStatus::Sync => received.synced += 1,
                SyncStatus::Resync => received.resynced += 1,
                SyncStatus::HistoryEnd { .. } => {}
            },
            _ => {}
        }
        received
    }
}

fn sluice_subscribe(subject: &str, id: u64, resume: Option<ResumePoint>) -> Vec<u8> {
    Encoding::Binary.encode_client(&ClientFrame::Subscribe {
        id: RequestId(id),
        items: vec![SubscribeItem {
            subject: subject.to_owned(),
            resume,
        }],
        options: SubscribeOptions::default(),
    })
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

    fn subscribe(&self, subject: &str, id: u64, _session: Option<&str>) -> Vec<u8> {
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

/// sockudo, over the Pusher protocol. Subjects map to private channels
/// (`/bench/s1` → `private-bench-s1`), whose subscriptions the bench signs itself
/// with the app secret, and messages are client events on them (`client-bench`):
/// the one way to publish over the WebSocket in Pusher.
pub struct PusherWire {
    pub key: String,
    pub secret: String,
}

fn pusher_channel(subject: &str) -> String {
    format!(
        "private-{}",
        subject.trim_start_matches('/').replace('/', "-")
    )
}

impl Wire for PusherWire {
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }

    fn hello(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn text_frames(&self) -> bool {
        true
    }

    fn needs_session(&self) -> bool {
        true
    }

    fn session(&self, message: &[u8]) -> Option<String> {
        let event: serde_json::Value = serde_json::from_slice(message).ok()?;
        if event["event"] != "pusher:connection_established" {
            return None;
        }
        // `data` is itself JSON, as a string.
        let data: serde_json::Value = serde_json::from_str(event["data"].as_str()?).ok()?;
        data["socket_id"].as_str().map(str::to_owned)
    }

    fn subscribe(&self, subject: &str, _id: u64, session: Option<&str>) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let channel = pusher_channel(subject);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(format!("{}:{channel}", session.unwrap_or_default()).as_bytes());
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        serde_json::json!({
            "event": "pusher:subscribe",
            "data": {"channel": channel, "auth": format!("{}:{signature}", self.key)},
        })
        .to_string()
        .into_bytes()
    }

    fn publish(&self, subject: &str, payload: &[u8], _id: u64) -> Vec<u8> {
        serde_json::json!({
            "event": "client-bench",
            "channel": pusher_channel(subject),
            "data": String::from_utf8_lossy(payload),
        })
        .to_string()
        .into_bytes()
    }

    fn receive(&self, message: &[u8], _partial: &mut Vec<u8>) -> Received {
        let mut received = Received::default();
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(message) else {
            return received;
        };
        match event["event"].as_str() {
            Some("client-bench") => {
                if let Some(data) = event["data"].as_str() {
                    received
                        .payloads
                        .push(Bytes::copy_from_slice(data.as_bytes()));
                }
            }
            Some("pusher_internal:subscription_succeeded") => received.confirmed += 1,
            Some("pusher:ping") => received
                .replies
                .push(br#"{"event":"pusher:pong","data":{}}"#.to_vec()),
            _ => {}
        }
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
    fn pusher_subscriptions_are_signed_as_pusher_documents() {
        // The example of Pusher's channel authorization docs.
        let wire = PusherWire {
            key: "278d425bdf160c739803".into(),
            secret: "7ad3773142a6692b25b8".into(),
        };
        let subscribe: serde_json::Value =
            serde_json::from_slice(&wire.subscribe("/foobar", 0, Some("1234.1234"))).unwrap();
        assert_eq!(subscribe["data"]["channel"], "private-foobar");
        assert_eq!(
            subscribe["data"]["auth"],
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let established = br#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#;
        assert_eq!(wire.session(established).as_deref(), Some("1.2"));
    }

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
