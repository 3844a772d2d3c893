//! The compact binary encoding (`sluice.v1.bin`). Layout, all integers big-endian:
//!
//! ```text
//! frame   = op:u8 body
//! str     = len:u16 utf8-bytes
//! bytes   = len:u32 raw-bytes
//! client  0x01 subscribe   id:u64 flags:u8 [history:u32 if flags&1] n:u16 n*(str resume:u8 [epoch:str seq:u64 if resume=1])
//!                          [conflate_ms:u32 if flags&4] after history (flags: 1 history present,
//!                          2 headers wanted, 4 conflated, 8 history_end wanted, 16 deltas wanted)
//!         0x02 unsubscribe id:u64 n:u16 n*str
//!         0x03 publish     id:u64 flags:u8 subject:str [reply_to:str if flags&4] [traceparent:str if flags&8] data:bytes
//!                          (flags: 1 retained, 2 qos guaranteed)
//!         0x04 ping        id:u64
//!         0x05 auth        id:u64 token:str
//! server  0x81 ok          id:u64
//!         0x82 error       flags:u8 [id:u64 if flags&1] [subject:str if flags&2] code:u8 message:str
//!         0x83 message     kind:u8 flags:u8 subject:str epoch:str seq:u64 [data:bytes unless flags&1 (tombstone)]
//!                          [n:u16 n*(name:str value:bytes) if flags&2 (headers)] (flags&4: headers truncated,
//!                          flags&8: data is a fossil delta)
//!         0x84 ack         id:u64 epoch:str seq:u64
//!         0x85 status      status:u8 (1 sync, 2 resync: subject:str | 3 token_expiring: expires_in_ms:u64
//!                          | 4 history_end: subject:str complete:u8)
//! ```
//! Trailing bytes after a frame are an error, so every frame has one encoding.

use std::sync::Arc;

use bytes::Bytes;

use super::{
    conflate_interval_ms, ClientFrame, DecodeError, ErrorCode, Message, MessageKind, PublishFrame,
    Qos, ResumePoint, ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
use crate::broker::{Epoch, Header};
use crate::ids::RequestId;

const OP_SUBSCRIBE: u8 = 0x01;
const OP_UNSUBSCRIBE: u8 = 0x02;
const OP_PUBLISH: u8 = 0x03;
const OP_PING: u8 = 0x04;
const OP_AUTH: u8 = 0x05;
const OP_OK: u8 = 0x81;
const OP_ERROR: u8 = 0x82;
const OP_MESSAGE: u8 = 0x83;
const OP_ACK: u8 = 0x84;
const OP_STATUS: u8 = 0x85;
const STATUS_SYNC: u8 = 1;
const STATUS_RESYNC: u8 = 2;
const STATUS_TOKEN_EXPIRING: u8 = 3;
const STATUS_HISTORY_END: u8 = 4;

struct Reader<'a> {
    data: &'a [u8],
    id: Option<RequestId>,
}

impl<'a> Reader<'a> {
    fn err(&self, message: impl Into<String>) -> DecodeError {
        DecodeError::new(self.id, ErrorCode::InvalidFrame, message)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.data.len() < n {
            return Err(self.err("truncated frame"));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(buf))
    }

    fn id(&mut self) -> Result<RequestId, DecodeError> {
        let id = RequestId(self.u64()?);
        self.id = Some(id);
        Ok(id)
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    fn finish<T>(self, value: T) -> Result<T, DecodeError> {
        if self.data.is_empty() {
            Ok(value)
        } else {
            Err(self.err("trailing bytes after frame"))
        }
    }
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Strings longer than a u16 can say are cut at a character boundary; every
    /// string the gateway sends (subjects, epochs, messages) is far below that.
    fn str(&mut self, v: &str) -> &mut Self {
        let mut end = v.len().min(usize::from(u16::MAX));
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16);
        self.0.extend_from_slice(&v.as_bytes()[..end]);
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Frames are bounded far below 4 GiB by the transport's frame limit.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(v);
        self
    }
}

fn list_len(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Decodes a client request.
pub fn decode_client(data: &[u8]) -> Result<ClientFrame, DecodeError> {
    let mut r = Reader { data, id: None };
    let frame = match r.u8()? {
        OP_SUBSCRIBE => {
            let id = r.id()?;
            let flags = r.u8()?;
            let history = if flags & 1 != 0 { Some(r.u32()?) } else { None };
            let headers = flags & 2 != 0;
            let conflate_ms = if flags & 4 != 0 {
                let raw = r.u32()?;
                Some(conflate_interval_ms(raw).map_err(|why| r.err(why))?)
            } else {
                None
            };
            let n = r.u16()?;
            let mut items = Vec::with_capacity(usize::from(n).min(256));
            for _ in 0..n {
                let subject = r.str()?;
                let resume = match r.u8()? {
                    0 => None,
                    1 => Some(ResumePoint {
                        epoch: Epoch::new(r.str()?),
                        seq: r.u64()?,
                    }),
                    _ => return Err(r.err("resume flag must be 0 or 1")),
                };
                items.push(SubscribeItem { subject, resume });
            }
            ClientFrame::Subscribe {
                id,
                items,
                options: SubscribeOptions {
                    history,
                    headers,
                    conflate_ms,
                    history_end: flags & 8 != 0,
                    delta: flags & 16 != 0,
                },
            }
        }
        OP_UNSUBSCRIBE => {
            let id = r.id()?;
            let n = r.u16()?;
            let mut subjects = Vec::with_capacity(usize::from(n).min(256));
            for _ in 0..n {
                subjects.push(r.str()?);
            }
            ClientFrame::Unsubscribe { id, subjects }
        }
        OP_PUBLISH => {
            let id = r.id()?;
            let flags = r.u8()?;
            let subject = r.str()?;
            let reply_to = if flags & 4 != 0 { Some(r.str()?) } else { None };
            let traceparent = if flags & 8 != 0 { Some(r.str()?) } else { None };
            let data = r.bytes()?;
            ClientFrame::Publish(PublishFrame {
                id,
                subject,
                data,
                retained: flags & 1 != 0,
                qos: if flags & 2 != 0 {
                    Qos::Guaranteed
                } else {
                    Qos::Standard
                },
                reply_to,
                traceparent,
            })
        }
        OP_PING => ClientFrame::Ping { id: r.id()? },
        OP_AUTH => ClientFrame::Auth {
            id: r.id()?,
            token: r.str()?,
        },
        op => {
            return Err(DecodeError::new(
                None,
                ErrorCode::UnknownOp,
                format!("unknown op 0x{op:02x}"),
            ))
        }
    };
    r.finish(frame)
}

/// Whether a binary client frame may be acted on when it arrives as QUIC 0-RTT
/// (early) data, which an attacker can replay: only requests whose repetition
/// changes nothing (subscribe, unsubscribe, ping). A publish, and anything not
/// recognised, waits until the handshake is complete.
pub fn is_replay_safe(frame: &[u8]) -> bool {
    matches!(
        frame.first(),
        Some(&(OP_SUBSCRIBE | OP_UNSUBSCRIBE | OP_PING))
    )
}

/// Encodes a client request (used by clients).
pub fn encode_client(frame: &ClientFrame) -> Vec<u8> {
    let mut w = Writer::default();
    match frame {
        ClientFrame::Subscribe { id, items, options } => {
            let SubscribeOptions {
                history,
                headers,
                conflate_ms,
                history_end,
                delta,
            } = options;
            let flags = u8::from(history.is_some())
                | if *headers { 2 } else { 0 }
                | if conflate_ms.is_some() { 4 } else { 0 }
                | if *history_end { 8 } else { 0 }
                | if *delta { 16 } else { 0 };
            w.u8(OP_SUBSCRIBE).u64(id.0).u8(flags);
            if let Some(h) = history {
                w.u32(*h);
            }
            if let Some(ms) = conflate_ms {
                w.u32(*ms);
            }
            let n = list_len(items.len());
            w.u16(n);
            for item in items.iter().take(usize::from(n)) {
                w.str(&item.subject);
                match &item.resume {
                    None => w.u8(0),
                    Some(r) => w.u8(1).str(r.epoch.as_str()).u64(r.seq),
                };
            }
        }
        ClientFrame::Unsubscribe { id, subjects } => {
            let n = list_len(subjects.len());
            w.u8(OP_UNSUBSCRIBE).u64(id.0).u16(n);
            for s in subjects.iter().take(usize::from(n)) {
                w.str(s);
            }
        }
        ClientFrame::Publish(p) => {
            let flags = u8::from(p.retained)
                | if p.qos == Qos::Guaranteed { 2 } else { 0 }
                | if p.reply_to.is_some() { 4 } else { 0 }
                | if p.traceparent.is_some() { 8 } else { 0 };
            w.u8(OP_PUBLISH).u64(p.id.0).u8(flags).str(&p.subject);
            if let Some(r) = &p.reply_to {
                w.str(r);
            }
            if let Some(t) = &p.traceparent {
                w.str(t);
            }
            w.bytes(&p.data);
        }
        ClientFrame::Ping { id } => {
            w.u8(OP_PING).u64(id.0);
        }
        ClientFrame::Auth { id, token } => {
            w.u8(OP_AUTH).u64(id.0).str(token);
        }
    }
    w.0
}

fn kind_byte(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::Snapshot => 1,
        MessageKind::Update => 2,
        MessageKind::Recovered => 3,
        MessageKind::History => 4,
    }
}

/// Encodes a gateway frame.
pub fn encode_server(frame: &ServerFrame) -> Vec<u8> {
    let mut w = Writer::default();
    match frame {
        ServerFrame::Ok { id } => {
            w.u8(OP_OK).u64(id.0);
        }
        ServerFrame::Error {
            id,
            subject,
            code,
            message,
        } => {
            let flags = u8::from(id.is_some()) | if subject.is_some() { 2 } else { 0 };
            w.u8(OP_ERROR).u8(flags);
            if let Some(id) = id {
                w.u64(id.0);
            }
            if let Some(s) = subject {
                w.str(s);
            }
            w.u8(code.to_byte()).str(message);
        }
        ServerFrame::Message(m) => {
            let flags = u8::from(m.data.is_none())
                | if m.headers.is_some() { 2 } else { 0 }
                | if m.headers_truncated { 4 } else { 0 }
                | if m.delta { 8 } else { 0 };
            w.u8(OP_MESSAGE)
                .u8(kind_byte(m.kind))
                .u8(flags)
                .str(&m.subject)
                .str(m.epoch.as_str())
                .u64(m.seq);
            if let Some(d) = &m.data {
                w.bytes(d);
            }
            if let Some(headers) = &m.headers {
                let n = list_len(headers.len());
                w.u16(n);
                for header in headers.iter().take(usize::from(n)) {
                    w.str(&header.name).bytes(&header.value);
                }
            }
        }
        ServerFrame::Ack { id, epoch, seq } => {
            w.u8(OP_ACK).u64(id.0).str(epoch.as_str()).u64(*seq);
        }
        ServerFrame::Status { subject, status } => {
            let s = match status {
                SyncStatus::Sync => STATUS_SYNC,
                SyncStatus::Resync => STATUS_RESYNC,
                SyncStatus::HistoryEnd { .. } => STATUS_HISTORY_END,
            };
            w.u8(OP_STATUS).u8(s).str(subject);
            if let SyncStatus::HistoryEnd { complete } = status {
                w.u8(u8::from(*complete));
            }
        }
        ServerFrame::TokenExpiring { expires_in_ms } => {
            w.u8(OP_STATUS)
                .u8(STATUS_TOKEN_EXPIRING)
                .u64(*expires_in_ms);
        }
    }
    w.0
}

/// Decodes a gateway frame (used by clients).
pub fn decode_server(data: &[u8]) -> Result<ServerFrame, DecodeError> {
    let mut r = Reader { data, id: None };
    let frame = match r.u8()? {
        OP_OK => ServerFrame::Ok { id: r.id()? },
        OP_ERROR => {
            let flags = r.u8()?;
            let id = if flags & 1 != 0 { Some(r.id()?) } else { None };
            let subject = if flags & 2 != 0 { Some(r.str()?) } else { None };
            let code = ErrorCode::from_byte(r.u8()?).ok_or_else(|| r.err("unknown error code"))?;
            ServerFrame::Error {
                id,
                subject,
                code,
                message: r.str()?,
            }
        }
        OP_MESSAGE => {
            let kind = match r.u8()? {
                1 => MessageKind::Snapshot,
                2 => MessageKind::Update,
                3 => MessageKind::Recovered,
                4 => MessageKind::History,
                _ => return Err(r.err("unknown message kind")),
            };
            let flags = r.u8()?;
            let subject = Arc::from(r.str()?);
            let epoch = Epoch::new(r.str()?);
            let seq = r.u64()?;
            let data = if flags & 1 != 0 {
                None
            } else {
                Some(r.bytes()?)
            };
            let headers = if flags & 2 != 0 {
                let n = r.u16()?;
                let mut headers = Vec::with_capacity(usize::from(n).min(64));
                for _ in 0..n {
                    headers.push(Header {
                        name: r.str()?,
                        value: r.bytes()?,
                    });
                }
                Some(Arc::from(headers))
            } else {
                None
            };
            ServerFrame::Message(Message {
                subject,
                data,
                seq,
                epoch,
                kind,
                headers,
                headers_truncated: flags & 4 != 0,
                delta: flags & 8 != 0,
                origin: None,
            })
        }
        OP_ACK => ServerFrame::Ack {
            id: r.id()?,
            epoch: Epoch::new(r.str()?),
            seq: r.u64()?,
        },
        OP_STATUS => {
            let status = match r.u8()? {
                STATUS_TOKEN_EXPIRING => {
                    let expires_in_ms = r.u64()?;
                    return r.finish(ServerFrame::TokenExpiring { expires_in_ms });
                }
                STATUS_SYNC => SyncStatus::Sync,
                STATUS_RESYNC => SyncStatus::Resync,
                STATUS_HISTORY_END => {
                    let subject = Arc::from(r.str()?);
                    let complete = match r.u8()? {
                        0 => false,
                        1 => true,
                        _ => return Err(r.err("history_end complete must be 0 or 1")),
                    };
                    let status = SyncStatus::HistoryEnd { complete };
                    return r.finish(ServerFrame::Status { subject, status });
                }
                _ => return Err(r.err("unknown status")),
            };
            ServerFrame::Status {
                status,
                subject: Arc::from(r.str()?),
            }
        }
        op => {
            return Err(DecodeError::new(
                None,
                ErrorCode::UnknownOp,
                format!("unknown op 0x{op:02x}"),
            ))
        }
    };
    r.finish(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;

    #[test]
    fn only_idempotent_requests_are_replay_safe() {
        let subscribe = ClientFrame::Subscribe {
            id: RequestId(1),
            items: vec![],
            options: SubscribeOptions::default(),
        };
        let publish = ClientFrame::Publish(PublishFrame {
            id: RequestId(2),
            subject: "/demo/x".into(),
            data: bytes::Bytes::from_static(b"x"),
            retained: true,
            qos: Qos::Standard,
            reply_to: None,
            traceparent: None,
        });
        assert!(is_replay_safe(&encode_client(&subscribe)));
        assert!(is_replay_safe(&encode_client(&ClientFrame::Ping {
            id: RequestId(3)
        })));
        assert!(!is_replay_safe(&encode_client(&publish)));
        assert!(!is_replay_safe(&[]));
        assert!(!is_replay_safe(&[0x7f]));
    }
}
