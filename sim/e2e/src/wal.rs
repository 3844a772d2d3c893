//! The log server's write-ahead log: every record is written here, in the order it
//! gets its offset, before it is applied to the in-memory log and acknowledged. A
//! restarted server replays it, so the log (offsets included) survives restarts.
//!
//! Entries are length-prefixed JSON. A server killed mid-write leaves a torn last
//! entry; replay stops before it. That record was never applied nor acknowledged,
//! so dropping it loses nothing anyone was promised.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sluice_core::Header;

/// One record as the log server persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalEntry {
    pub topic: String,
    pub partition: u32,
    /// The offset the record gets; replay checks it gets the same one again.
    pub offset: u64,
    pub key: Option<Bytes>,
    pub payload: Option<Bytes>,
    pub headers: Vec<Header>,
}

impl WalEntry {
    /// The entry's bytes in the file: a 4-byte big-endian length, then JSON.
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).expect("a WAL entry always serializes");
        let length = u32::try_from(body.len()).expect("WAL entries are far below 4 GiB");
        let mut bytes = Vec::with_capacity(4 + body.len());
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }
}

/// The complete entries at the start of `bytes`, and how many bytes they take. A
/// torn or unreadable tail ends the replay there.
pub fn decode_entries(bytes: &[u8]) -> (Vec<WalEntry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(length) = bytes.get(at..at + 4) {
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let Some(body) = bytes.get(at + 4..at + 4 + length) else {
            break;
        };
        let Ok(entry) = serde_json::from_slice(body) else {
            break;
        };
        entries.push(entry);
        at += 4 + length;
    }
    (entries, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64) -> WalEntry {
        WalEntry {
            topic: "t".into(),
            partition: 1,
            offset,
            key: Some(Bytes::from_static(b"k")),
            payload: Some(Bytes::from(format!("v{offset}"))),
            headers: vec![Header {
                name: "qos".into(),
                value: Bytes::from_static(b"standard"),
            }],
        }
    }

    #[test]
    fn replay_stops_before_a_torn_tail() {
        let mut file = Vec::new();
        file.extend(entry(0).encode());
        file.extend(entry(1).encode());
        let whole = file.len();
        let third = entry(2).encode();
        file.extend(&third[..third.len() - 3]);

        let (entries, used) = decode_entries(&file);
        assert_eq!(entries, vec![entry(0), entry(1)]);
        assert_eq!(used, whole);
        assert_eq!(decode_entries(&[]).0, Vec::new());
        assert_eq!(decode_entries(&[0, 0]).0, Vec::new());
    }
}
