//! Deltas for one subscription (protocol 1.1, `"delta": true`): the last value sent
//! on it, which the next message's value is encoded against when that is smaller.
//! The client holds the same value, so a delta chain is exact as long as both see
//! the same frames in order: it starts afresh with each connection, subscribe and
//! `resync`, and after a tombstone.

use bytes::Bytes;

use crate::protocol::{fossil_delta, Message, SharedEncoding};

/// What a delta subscription's client holds as its value.
#[derive(Debug, Clone, Default)]
pub(super) struct DeltaBase {
    /// `None`: the next value goes whole.
    value: Option<Bytes>,
}

/// The last delta encoded, for the next subscriber of the same fan-out: the
/// subscribers of a subject mostly hold the same previous value (the same bytes,
/// shared from the record), so one encoding serves them all — and so do the wire
/// bytes of the frame it makes (a [`SharedEncoding`] of its own: the fan-out's
/// one is for the whole value). Holding the bytes it was made from keeps their
/// addresses from being reused while it is kept.
#[derive(Debug, Default)]
pub(super) struct DeltaMemo {
    last: Option<Memo>,
}

#[derive(Debug)]
struct Memo {
    base: Bytes,
    value: Bytes,
    seq: u64,
    delta: Option<Bytes>,
    shared: SharedEncoding,
}

impl DeltaMemo {
    /// The delta from `base` to `value` (`None`: not smaller) and the shared
    /// encoding of its frames, made once per (buffers, seq).
    fn delta(&mut self, base: &Bytes, value: &Bytes, seq: u64) -> Option<(Bytes, SharedEncoding)> {
        let same = |a: &Bytes, b: &Bytes| a.as_ptr() == b.as_ptr() && a.len() == b.len();
        let hit = self
            .last
            .as_ref()
            .is_some_and(|m| same(&m.base, base) && same(&m.value, value) && m.seq == seq);
        if !hit {
            let delta = fossil_delta::encode(base, value);
            self.last = Some(Memo {
                base: base.clone(),
                value: value.clone(),
                seq,
                delta: (delta.len() < value.len()).then(|| Bytes::from(delta)),
                shared: SharedEncoding::default(),
            });
        }
        let memo = self.last.as_ref()?;
        Some((memo.delta.clone()?, memo.shared.clone()))
    }
}

impl DeltaBase {
    /// Turns `message` (about to be queued) into a delta against the value sent
    /// before, if the delta is smaller, and remembers its value. Values above
    /// `value_bytes_max` go whole and are not kept: a bound on the memory and CPU
    /// deltas cost per subscription. Returns the bytes the delta saved.
    pub fn encode(
        &mut self,
        message: &mut Message,
        value_bytes_max: usize,
        memo: &mut DeltaMemo,
    ) -> usize {
        let Some(value) = message.data.clone() else {
            self.value = None;
            return 0;
        };
        if value.len() > value_bytes_max {
            self.value = None;
            return 0;
        }
        let Some(base) = self.value.replace(value.clone()) else {
            return 0;
        };
        let Some((delta, shared)) = memo.delta(&base, &value, message.seq) else {
            return 0;
        };
        let saved = value.len() - delta.len();
        message.data = Some(delta);
        message.delta = true;
        // A live update's frames share their wire bytes through the fan-out's
        // encoding: the delta frames get one of their own.
        if let Some(origin) = message.origin.as_mut() {
            if origin.shared_encoding.is_some() {
                origin.shared_encoding = Some(shared);
            }
        }
        saved
    }

    /// The client's value is void (a `resync`): the next goes whole.
    pub fn reset(&mut self) {
        self.value = None;
    }
}
