//! Fossil deltas (protocol 1.1, `"delta": true`): a value as copies from the
//! previous value and literal bytes, in the format Fossil SCM defined and
//! Centrifugo's clients apply, so any fossil-delta library can read it.
//!
//! ```text
//! delta   = size "\n" command* checksum ";"
//! command = count "@" offset ","   copy `count` bytes of the base from `offset`
//!         | count ":" bytes        `count` literal bytes
//! ```
//! Integers are base-64 digits (`0-9 A-Z _ a-z ~`), most significant first; the
//! checksum is Fossil's 32-bit sum of the value. Encoding uses the `fossil-delta`
//! crate; applying is written here because a client must refuse a malformed delta
//! with an error, never a panic or an allocation it was told to make.

/// A delta that turns `base` into `value`.
pub fn encode(base: &[u8], value: &[u8]) -> Vec<u8> {
    // The crate's `delta(a, b)` encodes `a` in terms of `b`.
    fossil_delta::delta(value, base)
}

/// Why a delta could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("malformed delta: {0}")]
    Malformed(&'static str),
    #[error("the delta's value ({0} bytes) is larger than allowed")]
    TooLarge(u64),
    #[error("the delta copies beyond its base")]
    OutOfBase,
    #[error("the delta's value does not match its size or checksum")]
    Mismatch,
}

/// The value `delta` makes of `base`; a value larger than `value_bytes_max` is
/// refused before anything is allocated for it.
pub fn apply(base: &[u8], delta: &[u8], value_bytes_max: usize) -> Result<Vec<u8>, DeltaError> {
    let mut r = Reader(delta);
    let size = r.int()?;
    r.expect(b'\n')?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= value_bytes_max)
        .ok_or(DeltaError::TooLarge(size))?;
    let mut value = Vec::with_capacity(size);
    loop {
        let count = r.int()?;
        match r.byte()? {
            b'@' => {
                let offset = r.int()?;
                r.expect(b',')?;
                let end = offset.checked_add(count).ok_or(DeltaError::OutOfBase)?;
                let part = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(from, to)| base.get(from..to))
                    .ok_or(DeltaError::OutOfBase)?;
                push(&mut value, part, size)?;
            }
            b':' => {
                let count = usize::try_from(count).map_err(|_| DeltaError::Mismatch)?;
                let part = r.take(count)?;
                push(&mut value, part, size)?;
            }
            b';' => {
                if value.len() != size || u64::from(checksum(&value)) != count {
                    return Err(DeltaError::Mismatch);
                }
                return Ok(value);
            }
            _ => return Err(DeltaError::Malformed("unknown command")),
        }
    }
}

fn push(value: &mut Vec<u8>, part: &[u8], size: usize) -> Result<(), DeltaError> {
    if value.len() + part.len() > size {
        return Err(DeltaError::Mismatch);
    }
    value.extend_from_slice(part);
    Ok(())
}

/// Fossil's checksum: four byte lanes summed, folded big-endian.
pub fn checksum(value: &[u8]) -> u32 {
    let mut lanes = [0u32; 4];
    let mut words = value.chunks_exact(4);
    for word in &mut words {
        for (lane, &byte) in lanes.iter_mut().zip(word) {
            *lane = lane.wrapping_add(u32::from(byte));
        }
    }
    let [s0, s1, s2, mut sum] = lanes;
    sum = sum
        .wrapping_add(s2 << 8)
        .wrapping_add(s1 << 16)
        .wrapping_add(s0 << 24);
    for (i, &byte) in words.remainder().iter().enumerate() {
        sum = sum.wrapping_add(u32::from(byte) << (24 - 8 * i));
    }
    sum
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DeltaError> {
        let (&first, rest) = self
            .0
            .split_first()
            .ok_or(DeltaError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(first)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), DeltaError> {
        match self.byte()? {
            b if b == wanted => Ok(()),
            _ => Err(DeltaError::Malformed("unexpected character")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DeltaError> {
        if self.0.len() < n {
            return Err(DeltaError::Malformed("truncated literal"));
        }
        let (part, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(part)
    }

    /// A base-64 integer of at least one digit; more than 64 bits is malformed.
    fn int(&mut self) -> Result<u64, DeltaError> {
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(digit) = self.0.first().and_then(|&b| digit_value(b)) {
            if value >> 58 != 0 {
                return Err(DeltaError::Malformed("integer too large"));
            }
            value = (value << 6) | u64::from(digit);
            digits += 1;
            self.0 = &self.0[1..];
        }
        if digits == 0 {
            return Err(DeltaError::Malformed("expected an integer"));
        }
        Ok(value)
    }
}

fn digit_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'Z' => Some(b - b'A' + 10),
        b'_' => Some(36),
        b'a'..=b'z' => Some(b - b'a' + 37),
        b'~' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_small_change_of_a_json_value_is_a_small_delta() {
        let base = br#"{"price":100,"name":"widget","desc":"a description that stays the same"}"#;
        let value = br#"{"price":101,"name":"widget","desc":"a description that stays the same"}"#;
        let delta = encode(base, value);
        assert!(
            delta.len() < value.len() / 2,
            "{}",
            String::from_utf8_lossy(&delta)
        );
        assert_eq!(apply(base, &delta, 1 << 20).unwrap(), value);
    }

    #[test]
    fn fossils_own_example_applies() {
        // From Fossil's delta format documentation: "Hello" becomes "Hello, World".
        let delta = encode(b"Hello", b"Hello, World");
        assert_eq!(apply(b"Hello", &delta, 100).unwrap(), b"Hello, World");
        assert!(delta.starts_with(b"C\n"), "size 12 is `C`");
    }

    #[test]
    fn malformed_deltas_are_errors() {
        let base = b"0123456789";
        for (delta, why) in [
            (&b""[..], "empty"),
            (b"A", "no newline"),
            (b"A\n5@0,", "no checksum"),
            (b"A\nZ@0,", "copy beyond the base"),
            (b"A\n5@~~~~~~~~~~~~,", "offset overflow"),
            (b"3\n9:abc", "literal truncated"),
            (b"3\n3:abc0;", "bad checksum"),
            (b"3\n3:abcd;", "unknown command"),
            (b"~~~~~~~~~~\n", "too large"),
            (b"2\n3:abc", "more than the size"),
        ] {
            assert!(apply(base, delta, 1 << 20).is_err(), "{why}");
        }
    }

    proptest! {
        #[test]
        fn every_delta_rebuilds_its_value(
            base in proptest::collection::vec(any::<u8>(), 0..600),
            edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut value = base.clone();
            for (at, byte) in edits {
                if !value.is_empty() {
                    let i = usize::from(at) % value.len();
                    value[i] = byte;
                }
            }
            value.extend(tail);
            let delta = encode(&base, &value);
            prop_assert_eq!(apply(&base, &delta, 1 << 20).unwrap(), value);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            base in proptest::collection::vec(any::<u8>(), 0..64),
            delta in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = apply(&base, &delta, 1 << 16);
        }
    }
}
