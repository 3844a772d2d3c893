//! Deltas for one subscription (protocol 1.1, `"delta": true`): the last value sent
//! on it, which the next message's value is encoded against when that is smaller.
//! The client holds the same value, so a delta chain is exact as long as both see
//! the same frames in order: it starts afresh with each connection, subscribe and
//! `resync`, and after a tombstone.

use bytes::Bytes;

use crate::protocol::{fossil_delta, Message};

/// What a delta subscription's client holds as its value.
#[derive(Debug, Clone, Default)]
pub(super) struct DeltaBase {
    /// `None`: the next value goes whole.
    value: Option<Bytes>,
}

impl DeltaBase {
    /// Turns `message` (about to be queued) into a delta against the value sent
    /// before, if the delta is smaller, and remembers its value. Values above
    /// `value_bytes_max` go whole and are not kept: a bound on the memory and CPU
    /// deltas cost per subscription. Returns the bytes the delta saved.
    pub fn encode(&mut self, message: &mut Message, value_bytes_max: usize) -> usize {
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
        let delta = fossil_delta::encode(&base, &value);
        if delta.len() >= value.len() {
            return 0;
        }
        let saved = value.len() - delta.len();
        message.data = Some(Bytes::from(delta));
        message.delta = true;
        saved
    }

    /// The client's value is void (a `resync`): the next goes whole.
    pub fn reset(&mut self) {
        self.value = None;
    }
}
