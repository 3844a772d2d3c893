//! The JSON text encoding (`sluice.v1.json`): the exact shapes of `docs/protocol.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    conflate_interval_ms, ClientFrame, DecodeError, ErrorCode, Message, MessageKind, PublishFrame,
    Qos, ResumePoint, ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
use crate::broker::{Epoch, Header};
use crate::ids::RequestId;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every field any frame may have; which are required depends on `op`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFrame {
    op: Option<String>,
    id: Option<u64>,
    subjects: Option<Vec<String>>,
    subject: Option<String>,
    data: Option<String>,
    b64: bool,
    retained: Option<bool>,
    qos: Option<String>,
    reply_to: Option<String>,
    traceparent: Option<String>,
    history: Option<u32>,
    resume: Option<BTreeMap<String, RawResume>>,
    token: Option<String>,
    /// `subscribe`: a boolean; `message`: an object of name → value.
    headers: Option<serde_json::Value>,
    headers_truncated: bool,
    conflate_ms: Option<u32>,
    history_end: Option<bool>,
    complete: Option<bool>,
    /// `subscribe`: deltas wanted; `message`: `data` is a delta.
    delta: Option<bool>,
    // Server frames.
    code: Option<String>,
    message: Option<String>,
    seq: Option<u64>,
    epoch: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    expires_in_ms: Option<u64>,
}

#[derive(Deserialize, Serialize)]
struct RawResume {
    epoch: String,
    seq: u64,
}

fn parse_raw(data: &[u8]) -> Result<RawFrame, DecodeError> {
    // JSON text is UTF-8 (RFC 8259); serde_json would let invalid bytes through in
    // fields it ignores.
    let Ok(data) = std::str::from_utf8(data) else {
        return Err(DecodeError::new(
            None,
            ErrorCode::InvalidFrame,
            "malformed frame: not UTF-8",
        ));
    };
    match serde_json::from_str::<RawFrame>(data) {
        Ok(raw) => Ok(raw),
        Err(err) => {
            // Recover the id if the frame is an object with a numeric id, so the
            // error can name the request.
            let id = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
                .map(RequestId);
            Err(DecodeError::new(
                id,
                ErrorCode::InvalidFrame,
                format!("malformed frame: {err}"),
            ))
        }
    }
}

fn required<T>(value: Option<T>, id: Option<RequestId>, field: &str) -> Result<T, DecodeError> {
    value.ok_or_else(|| {
        DecodeError::new(
            id,
            ErrorCode::InvalidFrame,
            format!("missing field `{field}`"),
        )
    })
}

fn decode_data(data: String, b64: bool, id: Option<RequestId>) -> Result<Bytes, DecodeError> {
    if b64 {
        B64.decode(data.as_bytes()).map(Bytes::from).map_err(|err| {
            DecodeError::new(
                id,
                ErrorCode::InvalidData,
                format!("invalid base64 in `data`: {err}"),
            )
        })
    } else {
        Ok(Bytes::from(data))
    }
}

/// Decodes a client request.
pub fn decode_client(data: &[u8]) -> Result<ClientFrame, DecodeError> {
    let raw = parse_raw(data)?;
    let rid = raw.id.map(RequestId);
    let op = required(raw.op, rid, "op")?;
    let id = required(rid, None, "id")?;
    let some_id = Some(id);
    match op.as_str() {
        "subscribe" => {
            let subjects = required(raw.subjects, some_id, "subjects")?;
            let mut resume = raw.resume.unwrap_or_default();
            let items = subjects
                .into_iter()
                .map(|subject| {
                    let resume = resume.remove(&subject).map(|r| ResumePoint {
                        epoch: Epoch::new(r.epoch),
                        seq: r.seq,
                    });
                    SubscribeItem { subject, resume }
                })
                .collect();
            let headers = match raw.headers {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(on)) => on,
                Some(_) => {
                    return Err(DecodeError::new(
                        some_id,
                        ErrorCode::InvalidFrame,
                        "`headers` must be a boolean",
                    ))
                }
            };
            let conflate_ms = raw
                .conflate_ms
                .map(|raw| {
                    conflate_interval_ms(raw)
                        .map_err(|why| DecodeError::new(some_id, ErrorCode::InvalidFrame, why))
                })
                .transpose()?;
            Ok(ClientFrame::Subscribe {
                id,
                items,
                options: SubscribeOptions {
                    history: raw.history,
                    headers,
                    conflate_ms,
                    history_end: raw.history_end.unwrap_or(false),
                    delta: raw.delta.unwrap_or(false),
                },
            })
        }
        "unsubscribe" => Ok(ClientFrame::Unsubscribe {
            id,
            subjects: required(raw.subjects, some_id, "subjects")?,
        }),
        "publish" => {
            let subject = required(raw.subject, some_id, "subject")?;
            let data = decode_data(required(raw.data, some_id, "data")?, raw.b64, some_id)?;
            let qos = match raw.qos.as_deref() {
                None | Some("standard") => Qos::Standard,
                Some("guaranteed") => Qos::Guaranteed,
                Some(other) => {
                    return Err(DecodeError::new(
                        some_id,
                        ErrorCode::InvalidFrame,
                        format!("unknown qos `{other}`, expected `standard` or `guaranteed`"),
                    ))
                }
            };
            Ok(ClientFrame::Publish(PublishFrame {
                id,
                subject,
                data,
                retained: raw.retained.unwrap_or(true),
                qos,
                reply_to: raw.reply_to,
                traceparent: raw.traceparent,
            }))
        }
        "ping" => Ok(ClientFrame::Ping { id }),
        "auth" => Ok(ClientFrame::Auth {
            id,
            token: required(raw.token, some_id, "token")?,
        }),
        other => Err(DecodeError::new(
            some_id,
            ErrorCode::UnknownOp,
            format!("unknown op `{other}`"),
        )),
    }
}

#[derive(Serialize)]
struct OutMessage<'a> {
    op: &'static str,
    subject: &'a str,
    data: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    b64: bool,
    seq: u64,
    epoch: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<OutHeaders<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    headers_truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    delta: bool,
}

/// A message's headers as a JSON object: a UTF-8 value as a string, any other as
/// `{"base64": "…"}`; a name repeated in the record appears once, with its last
/// value (the one Kafka clients' "last header" accessors return).
struct OutHeaders<'a>(&'a [Header]);

impl Serialize for OutHeaders<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let headers = self.0;
        let mut map = serializer.serialize_map(None)?;
        for (i, header) in headers.iter().enumerate() {
            if headers[i + 1..]
                .iter()
                .any(|later| later.name == header.name)
            {
                continue;
            }
            match std::str::from_utf8(&header.value) {
                Ok(text) => map.serialize_entry(&header.name, text)?,
                Err(_) => map.serialize_entry(
                    &header.name,
                    &BTreeMap::from([("base64", B64.encode(&header.value))]),
                )?,
            }
        }
        map.end()
    }
}

/// Reads a `message`'s `headers` object back into headers (clients).
fn decode_headers(
    value: serde_json::Value,
    id: Option<RequestId>,
) -> Result<Arc<[Header]>, DecodeError> {
    let invalid = |why: &str| DecodeError::new(id, ErrorCode::InvalidFrame, why.to_owned());
    let serde_json::Value::Object(entries) = value else {
        return Err(invalid("`headers` must be an object"));
    };
    entries
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => Bytes::from(text),
                serde_json::Value::Object(mut binary) => match binary.remove("base64") {
                    Some(serde_json::Value::String(encoded)) => B64
                        .decode(encoded)
                        .map(Bytes::from)
                        .map_err(|_| invalid("a header's `base64` is not base64"))?,
                    _ => return Err(invalid("a binary header needs `base64`")),
                },
                _ => {
                    return Err(invalid(
                        "a header value must be a string or {\"base64\": …}",
                    ))
                }
            };
            Ok(Header { name, value })
        })
        .collect()
}

#[derive(Serialize)]
struct OutError<'a> {
    op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    code: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct OutAck<'a> {
    op: &'static str,
    id: u64,
    epoch: &'a str,
    seq: u64,
}

#[derive(Serialize)]
struct OutStatus<'a> {
    op: &'static str,
    subject: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<bool>,
}

#[derive(Serialize)]
struct OutTokenExpiring {
    op: &'static str,
    status: &'static str,
    expires_in_ms: u64,
}

#[derive(Serialize)]
struct OutAuth<'a> {
    op: &'static str,
    id: u64,
    token: &'a str,
}

/// The `status` of a `token_expiring` frame.
const TOKEN_EXPIRING: &str = "token_expiring";

#[derive(Serialize)]
struct OutOk {
    op: &'static str,
    id: u64,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs into memory has no failure path.
    serde_json::to_vec(value).expect("plain struct serializes")
}

/// Encodes a gateway frame.
pub fn encode_server(frame: &ServerFrame) -> Vec<u8> {
    match frame {
        ServerFrame::Ok { id } => to_vec(&OutOk { op: "ok", id: id.0 }),
        ServerFrame::Error {
            id,
            subject,
            code,
            message,
        } => to_vec(&OutError {
            op: "error",
            id: id.map(|i| i.0),
            subject: subject.as_deref(),
            code: code.as_str(),
            message,
        }),
        ServerFrame::Message(m) => {
            let encoded;
            let (data, b64) = match &m.data {
                None => (None, false),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => (Some(text), false),
                    Err(_) => {
                        encoded = B64.encode(bytes);
                        (Some(encoded.as_str()), true)
                    }
                },
            };
            to_vec(&OutMessage {
                op: "message",
                subject: &m.subject,
                data,
                b64,
                seq: m.seq,
                epoch: m.epoch.as_str(),
                kind: m.kind.as_str(),
                headers: m.headers.as_deref().map(OutHeaders),
                headers_truncated: m.headers_truncated,
                delta: m.delta,
            })
        }
        ServerFrame::Ack { id, epoch, seq } => to_vec(&OutAck {
            op: "ack",
            id: id.0,
            epoch: epoch.as_str(),
            seq: *seq,
        }),
        ServerFrame::Status { subject, status } => to_vec(&OutStatus {
            op: "status",
            subject,
            status: status.as_str(),
            complete: match status {
                SyncStatus::HistoryEnd { complete } => Some(*complete),
                _ => None,
            },
        }),
        ServerFrame::TokenExpiring { expires_in_ms } => to_vec(&OutTokenExpiring {
            op: "status",
            status: TOKEN_EXPIRING,
            expires_in_ms: *expires_in_ms,
        }),
    }
}

/// Decodes a gateway frame (used by clients).
pub fn decode_server(data: &[u8]) -> Result<ServerFrame, DecodeError> {
    let raw = parse_raw(data)?;
    let rid = raw.id.map(RequestId);
    match required(raw.op, rid, "op")?.as_str() {
        "ok" => Ok(ServerFrame::Ok {
            id: required(rid, None, "id")?,
        }),
        "error" => {
            let code = required(raw.code, rid, "code")?;
            Ok(ServerFrame::Error {
                id: rid,
                subject: raw.subject,
                code: ErrorCode::parse(&code).ok_or_else(|| {
                    DecodeError::new(
                        rid,
                        ErrorCode::InvalidFrame,
                        format!("unknown error code `{code}`"),
                    )
                })?,
                message: raw.message.unwrap_or_default(),
            })
        }
        "message" => {
            let kind = required(raw.kind, rid, "type")?;
            let kind = MessageKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| {
                    DecodeError::new(
                        rid,
                        ErrorCode::InvalidFrame,
                        format!("unknown type `{kind}`"),
                    )
                })?;
            let data = raw.data.map(|d| decode_data(d, raw.b64, rid)).transpose()?;
            let headers = match raw.headers {
                None | Some(serde_json::Value::Null) => None,
                Some(value) => Some(decode_headers(value, rid)?),
            };
            Ok(ServerFrame::Message(Message {
                subject: Arc::from(required(raw.subject, rid, "subject")?),
                data,
                seq: required(raw.seq, rid, "seq")?,
                epoch: Epoch::new(required(raw.epoch, rid, "epoch")?),
                kind,
                headers,
                headers_truncated: raw.headers_truncated,
                delta: raw.delta.unwrap_or(false),
                origin: None,
            }))
        }
        "ack" => Ok(ServerFrame::Ack {
            id: required(rid, None, "id")?,
            epoch: Epoch::new(required(raw.epoch, rid, "epoch")?),
            seq: required(raw.seq, rid, "seq")?,
        }),
        "status" => {
            let status = match required(raw.status, rid, "status")?.as_str() {
                TOKEN_EXPIRING => {
                    return Ok(ServerFrame::TokenExpiring {
                        expires_in_ms: required(raw.expires_in_ms, rid, "expires_in_ms")?,
                    })
                }
                "sync" => SyncStatus::Sync,
                "resync" => SyncStatus::Resync,
                "history_end" => SyncStatus::HistoryEnd {
                    complete: required(raw.complete, rid, "complete")?,
                },
                other => {
                    return Err(DecodeError::new(
                        rid,
                        ErrorCode::InvalidFrame,
                        format!("unknown status `{other}`"),
                    ))
                }
            };
            Ok(ServerFrame::Status {
                subject: Arc::from(required(raw.subject, rid, "subject")?),
                status,
            })
        }
        other => Err(DecodeError::new(
            rid,
            ErrorCode::UnknownOp,
            format!("unknown op `{other}`"),
        )),
    }
}

#[derive(Serialize)]
struct OutSubscribe<'a> {
    op: &'static str,
    id: u64,
    subjects: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    resume: BTreeMap<&'a str, RawResume>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    headers: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    conflate_ms: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    history_end: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    delta: bool,
}

#[derive(Serialize)]
struct OutUnsubscribe<'a> {
    op: &'static str,
    id: u64,
    subjects: &'a [String],
}

#[derive(Serialize)]
struct OutPublish<'a> {
    op: &'static str,
    id: u64,
    subject: &'a str,
    data: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    b64: bool,
    #[serde(skip_serializing_if = "Clone::clone")]
    retained: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    qos: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
}

/// Encodes a client request (used by clients).
pub fn encode_client(frame: &ClientFrame) -> Vec<u8> {
    match frame {
        ClientFrame::Subscribe { id, items, options } => to_vec(&OutSubscribe {
            op: "subscribe",
            id: id.0,
            subjects: items.iter().map(|i| i.subject.as_str()).collect(),
            history: options.history,
            headers: options.headers,
            conflate_ms: options.conflate_ms,
            history_end: options.history_end,
            delta: options.delta,
            resume: items
                .iter()
                .filter_map(|i| {
                    let r = i.resume.as_ref()?;
                    Some((
                        i.subject.as_str(),
                        RawResume {
                            epoch: r.epoch.as_str().to_owned(),
                            seq: r.seq,
                        },
                    ))
                })
                .collect(),
        }),
        ClientFrame::Unsubscribe { id, subjects } => to_vec(&OutUnsubscribe {
            op: "unsubscribe",
            id: id.0,
            subjects,
        }),
        ClientFrame::Publish(p) => {
            let encoded;
            let (data, b64) = match std::str::from_utf8(&p.data) {
                Ok(text) => (text, false),
                Err(_) => {
                    encoded = B64.encode(&p.data);
                    (encoded.as_str(), true)
                }
            };
            to_vec(&OutPublish {
                op: "publish",
                id: p.id.0,
                subject: &p.subject,
                data,
                b64,
                retained: p.retained,
                qos: (p.qos != Qos::Standard).then(|| p.qos.as_str()),
                reply_to: p.reply_to.as_deref(),
                traceparent: p.traceparent.as_deref(),
            })
        }
        ClientFrame::Ping { id } => to_vec(&OutOk {
            op: "ping",
            id: id.0,
        }),
        ClientFrame::Auth { id, token } => to_vec(&OutAuth {
            op: "auth",
            id: id.0,
            token,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_shapes() {
        let f = decode_client(br#"{"op":"subscribe","id":3,"subjects":["/A/k1"],"resume":{"/A/k1":{"epoch":"E","seq":41}}}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Subscribe {
                id: RequestId(3),
                items: vec![SubscribeItem {
                    subject: "/A/k1".into(),
                    resume: Some(ResumePoint {
                        epoch: Epoch::new("E"),
                        seq: 41
                    }),
                }],
                options: SubscribeOptions::default(),
            }
        );
        let f = decode_client(br#"{"op":"publish","id":5,"subject":"/A/k1","data":"aGk=","b64":true,"retained":false}"#).unwrap();
        let ClientFrame::Publish(p) = f else {
            panic!("not a publish: {f:?}")
        };
        assert_eq!(&p.data[..], b"hi");
        assert!(!p.retained);
    }

    #[test]
    fn errors_name_the_request_when_they_can() {
        let e = decode_client(br#"{"op":"dance","id":9}"#).unwrap_err();
        assert_eq!((e.id, e.code), (Some(RequestId(9)), ErrorCode::UnknownOp));
        let e =
            decode_client(br#"{"op":"publish","id":7,"subject":"/a/b","data":"!!","b64":true}"#)
                .unwrap_err();
        assert_eq!((e.id, e.code), (Some(RequestId(7)), ErrorCode::InvalidData));
        let e = decode_client(br#"{"op":"subscribe","id":"x"}"#).unwrap_err();
        assert_eq!((e.id, e.code), (None, ErrorCode::InvalidFrame));
        let e = decode_client(br#"{"op":"subscribe","id":4,"subjects":7}"#).unwrap_err();
        assert_eq!(
            (e.id, e.code),
            (Some(RequestId(4)), ErrorCode::InvalidFrame)
        );
        let e = decode_client(b"{nope").unwrap_err();
        assert_eq!((e.id, e.code), (None, ErrorCode::InvalidFrame));
    }

    #[test]
    fn encodes_the_documented_shapes() {
        let m = ServerFrame::Message(Message {
            delta: false,
            subject: Arc::from("/A/k1"),
            data: Some(Bytes::from_static(b"hello")),
            seq: 42,
            epoch: Epoch::new("E"),
            kind: MessageKind::Update,
            headers: None,
            headers_truncated: false,
            origin: None,
        });
        assert_eq!(
            String::from_utf8(encode_server(&m)).unwrap(),
            r#"{"op":"message","subject":"/A/k1","data":"hello","seq":42,"epoch":"E","type":"update"}"#
        );
        let a = ServerFrame::Ack {
            id: RequestId(5),
            epoch: Epoch::new("E"),
            seq: 43,
        };
        assert_eq!(
            String::from_utf8(encode_server(&a)).unwrap(),
            r#"{"op":"ack","id":5,"epoch":"E","seq":43}"#
        );
    }
}
