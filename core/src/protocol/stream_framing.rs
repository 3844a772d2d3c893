//! Frames over a byte stream (QUIC): each protocol frame is preceded by its length
//! as a 32-bit big-endian integer, because a stream, unlike a WebSocket, has no
//! message boundaries of its own. `docs/protocol.md` §12 is the description.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Appends `frame` to `out`, preceded by its length.
///
/// Frames are bounded by `frame_bytes_max` (at most 4 GiB - 1 by the prefix); a
/// longer one is a caller bug, and its length is clamped so the peer refuses it as
/// too large rather than misreading the stream.
pub fn write_frame(out: &mut Vec<u8>, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
}

/// A frame announced larger than the reader's limit. The stream cannot be read
/// further: the connection should close (1009 `frame too large`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {announced_bytes} bytes exceeds the limit of {limit_bytes}")]
pub struct FrameTooLarge {
    pub announced_bytes: u64,
    pub limit_bytes: usize,
}

/// Splits a byte stream back into frames. Holds at most one partial frame, so its
/// buffer is bounded by `frame_bytes_max` plus the chunk being pushed.
#[derive(Debug)]
pub struct FrameReader {
    buffer: BytesMut,
    frame_bytes_max: usize,
}

impl FrameReader {
    pub fn new(frame_bytes_max: usize) -> Self {
        FrameReader {
            buffer: BytesMut::new(),
            frame_bytes_max,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next complete frame, `None` until more bytes arrive, or an error once a
    /// prefix announces more than the limit (checked before the body is buffered).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameTooLarge> {
        let Some(prefix) = self.buffer.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; LENGTH_PREFIX_BYTES];
        len_bytes.copy_from_slice(prefix);
        let announced = u32::from_be_bytes(len_bytes);
        let len = usize::try_from(announced).unwrap_or(usize::MAX);
        if len > self.frame_bytes_max {
            return Err(FrameTooLarge {
                announced_bytes: u64::from(announced),
                limit_bytes: self.frame_bytes_max,
            });
        }
        if self.buffer.len() < LENGTH_PREFIX_BYTES + len {
            return Ok(None);
        }
        self.buffer.advance(LENGTH_PREFIX_BYTES);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let frames: [&[u8]; 3] = [b"one", b"", b"three"];
        let mut stream = Vec::new();
        for frame in frames {
            write_frame(&mut stream, frame);
        }
        for chunk_bytes in 1..stream.len() {
            let mut reader = FrameReader::new(16);
            let mut got = Vec::new();
            for chunk in stream.chunks(chunk_bytes) {
                reader.push(chunk);
                while let Some(frame) = reader.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            assert_eq!(
                got,
                frames.map(Bytes::from_static),
                "chunks of {chunk_bytes}"
            );
            assert_eq!(reader.buffered_bytes(), 0);
        }
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_its_body_arrives() {
        let mut reader = FrameReader::new(8);
        reader.push(&9u32.to_be_bytes());
        assert_eq!(
            reader.next_frame(),
            Err(FrameTooLarge {
                announced_bytes: 9,
                limit_bytes: 8
            })
        );
        let mut reader = FrameReader::new(8);
        reader.push(&u32::MAX.to_be_bytes());
        assert!(reader.next_frame().is_err());
    }
}
