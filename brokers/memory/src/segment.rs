//! How records are laid out in a segment file, and how a segment is read back.
//!
//! A segment is named by its first offset (`00000000000000001234.log`) and holds
//! frames back to back: `body length: u32 LE`, `crc32 of body: u32 LE`, body. The
//! body is the record: `offset u64, timestamp_ms i64, key, payload, headers`, where
//! key and payload are an `i32` length (`-1` for none) then the bytes, and headers
//! are a `u32` count of (`u32` name length, name, `u32` value length, value).
//! Integers are little-endian. A frame that is cut short or whose checksum fails is
//! where the readable log ends.

use std::sync::Arc;

use bytes::Bytes;
use sluice_core::{BrokerRecord, Header};

/// Bytes before a frame's body: its length and its checksum.
pub(crate) const FRAME_HEADER_BYTES: usize = 8;

/// A body longer than this is damage, not a record: the broker refuses records
/// bigger than its retention, and no sane retention comes near it.
const BODY_BYTES_MAX: usize = 1 << 30;

const EXTENSION: &str = ".log";

/// The file name of the segment whose first offset is `base_offset`.
pub(crate) fn file_name(base_offset: u64) -> String {
    format!("{base_offset:020}{EXTENSION}")
}

/// The first offset of the segment called `name`; `None` for other files.
pub(crate) fn base_offset_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `record` as one frame, appended to `out`.
pub(crate) fn encode(record: &BrokerRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    out.extend_from_slice(&record.offset.to_le_bytes());
    out.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    put_optional(out, record.key.as_deref());
    put_optional(out, record.payload.as_deref());
    put_len(out, record.headers.len());
    for header in record.headers.iter() {
        put_len(out, header.name.len());
        out.extend_from_slice(header.name.as_bytes());
        put_len(out, header.value.len());
        out.extend_from_slice(&header.value);
    }
    let body = &out[start + FRAME_HEADER_BYTES..];
    let body_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + FRAME_HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_optional(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
}

/// What reading a segment found.
#[derive(Debug)]
pub(crate) struct ReadSegment {
    pub records: Vec<BrokerRecord>,
    /// Bytes of whole, valid frames from the start; the rest is not log.
    pub valid_bytes: usize,
    /// Why reading stopped before the end, if it did.
    pub damage: Option<Damage>,
}

/// Why a segment's bytes stop being records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The last frame is cut short: a write the crash interrupted.
    Torn,
    /// A whole frame fails its checksum or does not parse.
    Corrupt,
    /// A frame's offset does not follow the one before it.
    OutOfOrder,
}

/// The records of a segment whose first offset is `base_offset`, stopping at the
/// first frame that is torn, corrupt or out of order.
pub(crate) fn read(
    bytes: &[u8],
    base_offset: u64,
    topic: &Arc<str>,
    partition: u32,
) -> ReadSegment {
    let mut records = Vec::new();
    let mut position = 0;
    let mut expected_offset = base_offset;
    let damage = loop {
        let rest = &bytes[position..];
        if rest.is_empty() {
            break None;
        }
        let Some((body, frame_len)) = frame(rest) else {
            break Some(
                if rest.len() < FRAME_HEADER_BYTES || declared_past_end(rest) {
                    Damage::Torn
                } else {
                    Damage::Corrupt
                },
            );
        };
        let Some(record) = decode_body(body, topic, partition) else {
            break Some(Damage::Corrupt);
        };
        if record.offset != expected_offset {
            break Some(Damage::OutOfOrder);
        }
        expected_offset += 1;
        records.push(record);
        position += frame_len;
    };
    ReadSegment {
        records,
        valid_bytes: position,
        damage,
    }
}

/// True when the frame at the start of `rest` claims more bytes than there are.
fn declared_past_end(rest: &[u8]) -> bool {
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    len <= BODY_BYTES_MAX && FRAME_HEADER_BYTES + len > rest.len()
}

/// The body of the frame at the start of `rest` and the frame's whole length, if
/// it is complete and its checksum holds.
fn frame(rest: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?);
    if len > BODY_BYTES_MAX {
        return None;
    }
    let body = rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len)?;
    (crc32fast::hash(body) == crc).then_some((body, FRAME_HEADER_BYTES + len))
}

fn decode_body(body: &[u8], topic: &Arc<str>, partition: u32) -> Option<BrokerRecord> {
    let mut reader = Reader { body, at: 0 };
    let offset = u64::from_le_bytes(reader.take(8)?.try_into().ok()?);
    let timestamp_ms = i64::from_le_bytes(reader.take(8)?.try_into().ok()?);
    let key = reader.optional()?;
    let payload = reader.optional()?;
    let count = reader.len()?;
    let mut headers = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let name_len = reader.len()?;
        let name = std::str::from_utf8(reader.take(name_len)?).ok()?.to_owned();
        let value_len = reader.len()?;
        let value = Bytes::copy_from_slice(reader.take(value_len)?);
        headers.push(Header { name, value });
    }
    (reader.at == body.len()).then(|| BrokerRecord {
        topic: topic.clone(),
        partition,
        offset,
        key,
        payload,
        headers: headers.into(),
        timestamp_ms,
        handed_over_unix_us: 0,
    })
}

struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let taken = self.body.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(taken)
    }

    fn len(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    fn optional(&mut self) -> Option<Option<Bytes>> {
        let len = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
        if len == -1 {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        Some(Some(Bytes::copy_from_slice(self.take(len)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> Arc<str> {
        Arc::from("t")
    }

    fn record(offset: u64, key: Option<&str>, payload: Option<&str>) -> BrokerRecord {
        BrokerRecord {
            topic: topic(),
            partition: 3,
            offset,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            payload: payload.map(|p| Bytes::copy_from_slice(p.as_bytes())),
            headers: vec![Header {
                name: "reply_to".into(),
                value: Bytes::from_static(b"\xff/_inbox/a"),
            }]
            .into(),
            handed_over_unix_us: 0,
            timestamp_ms: 1_700_000_000_123,
        }
    }

    fn segment(records: &[BrokerRecord]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in records {
            encode(record, &mut bytes);
        }
        bytes
    }

    #[test]
    fn records_read_back_as_written() {
        let written = [
            record(7, Some("1/speed"), Some("42")),
            record(8, None, Some("")),
            record(9, Some("k"), None),
        ];
        let read = read(&segment(&written), 7, &topic(), 3);
        assert_eq!(read.records, written);
        assert_eq!(read.damage, None);
        assert_eq!(read.valid_bytes, segment(&written).len());
    }

    #[test]
    fn every_cut_of_the_last_frame_is_torn_and_keeps_the_frames_before() {
        let written = [
            record(0, Some("a"), Some("1")),
            record(1, Some("b"), Some("2")),
        ];
        let bytes = segment(&written);
        let first_len = segment(&written[..1]).len();
        for cut in first_len + 1..bytes.len() {
            let read = read(&bytes[..cut], 0, &topic(), 3);
            assert_eq!(read.records, written[..1], "cut at {cut}");
            assert_eq!(read.valid_bytes, first_len);
            assert_eq!(read.damage, Some(Damage::Torn), "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_is_corrupt() {
        let written = [
            record(0, Some("a"), Some("1")),
            record(1, Some("b"), Some("2")),
        ];
        let mut bytes = segment(&written);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let read = read(&bytes, 0, &topic(), 3);
        assert_eq!(read.records, written[..1]);
        assert_eq!(read.damage, Some(Damage::Corrupt));
    }

    #[test]
    fn an_offset_out_of_sequence_ends_the_log() {
        let written = [
            record(0, Some("a"), Some("1")),
            record(5, Some("b"), Some("2")),
        ];
        let read = read(&segment(&written), 0, &topic(), 3);
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.damage, Some(Damage::OutOfOrder));
    }

    #[test]
    fn names_carry_the_base_offset() {
        assert_eq!(file_name(1234), "00000000000000001234.log");
        assert_eq!(base_offset_of(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(base_offset_of("00000000000000001234.tmp"), None);
        assert_eq!(base_offset_of("1234.log"), None);
    }
}
