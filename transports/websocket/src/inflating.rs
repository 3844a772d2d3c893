//! The client's side of permessage-deflate, under tungstenite (which refuses the
//! RSV1 bit): the socket's bytes are read as frames, and each frame of a compressed
//! message is handed up inflated, as the plain frame tungstenite expects. Frames of
//! uncompressed messages and control frames pass as they are. Until permessage-deflate
//! is negotiated (and on connections that never negotiate it) this is a plain
//! pass-through holding nothing.
//!
//! What a message may inflate to is bounded (`frame_bytes_max`, checked as it
//! inflates, so a deflate bomb costs at most that); a malformed stream, a compressed
//! control frame or an RSV1 bit on a continuation frame fails the connection, with
//! the close code [`InflateError::close_code`] says.

use std::fmt;
use std::io::{self, Cursor};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Decompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

use crate::permessage_deflate::Negotiated;

/// The end every compressed message's data lacks (RFC 7692 §7.2.2).
const MESSAGE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// How much inflated output is made room for at a time.
const INFLATE_STEP_BYTES: usize = 16 * 1024;

/// Why a client's compressed data was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than this many bytes.
    TooBig(usize),
    /// Not a deflate stream.
    Malformed,
    /// Framing permessage-deflate forbids.
    Protocol(&'static str),
}

impl InflateError {
    /// The WebSocket close code the connection ends with.
    pub fn close_code(self) -> u16 {
        match self {
            InflateError::TooBig(_) => 1009,
            InflateError::Malformed => 1007,
            InflateError::Protocol(_) => 1002,
        }
    }

    /// The reason the close frame carries.
    pub fn close_reason(self) -> &'static str {
        match self {
            InflateError::TooBig(_) => "frame too large",
            InflateError::Malformed => "malformed deflate data",
            InflateError::Protocol(why) => why,
        }
    }

    /// The error a failed read carries, if it is one of these.
    pub fn of(err: &io::Error) -> Option<InflateError> {
        err.get_ref()?.downcast_ref::<InflateError>().copied()
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooBig(max) => write!(f, "a compressed message over {max} bytes"),
            InflateError::Malformed => f.write_str("malformed deflate data"),
            InflateError::Protocol(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for InflateError {}

pub struct Inflating<S> {
    inner: S,
    /// `None`: not negotiated, everything passes.
    inflate: Option<Box<Inflate>>,
}

struct Inflate {
    /// The client keeps its compression context: so must the decompressor.
    client_takeover: bool,
    /// Only while a compressed message is read, unless `client_takeover`.
    decompress: Option<Decompress>,
    message_bytes_max: usize,
    /// Bytes from the socket not yet turned into frames for tungstenite.
    input: Vec<u8>,
    /// Frames for tungstenite, and how much of them it has read.
    output: Vec<u8>,
    output_read: usize,
    /// A data message is in progress; whether it is compressed.
    message: Option<bool>,
    /// Bytes inflated so far of the compressed message in progress.
    message_bytes: usize,
    /// Once failed, every read fails.
    failed: Option<InflateError>,
}

impl<S> Inflating<S> {
    pub fn new(inner: S) -> Self {
        Inflating {
            inner,
            inflate: None,
        }
    }

    /// permessage-deflate was negotiated: compressed messages follow.
    pub fn enable(&mut self, negotiated: Negotiated, message_bytes_max: usize) {
        self.inflate = Some(Box::new(Inflate::new(
            negotiated.client_takeover,
            message_bytes_max,
        )));
    }
}

/// The frames tungstenite would read after `input` arrived on a connection with
/// permessage-deflate (no context takeover): the fuzz target's entry point.
pub fn inflate_frames(input: &[u8], message_bytes_max: usize) -> Result<Vec<u8>, InflateError> {
    let mut state = Inflate::new(false, message_bytes_max);
    state.input = input.to_vec();
    while state.next_frame()? {}
    Ok(state.output)
}

impl Inflate {
    fn new(client_takeover: bool, message_bytes_max: usize) -> Self {
        Inflate {
            client_takeover,
            decompress: None,
            message_bytes_max,
            input: Vec::new(),
            output: Vec::new(),
            output_read: 0,
            message: None,
            message_bytes: 0,
            failed: None,
        }
    }

    /// Turns the next whole frame of `input` into output; false if it is not all
    /// there yet.
    fn next_frame(&mut self) -> Result<bool, InflateError> {
        let mut cursor = Cursor::new(&self.input[..]);
        let Some((header, length)) = FrameHeader::parse(&mut cursor)
            .map_err(|_| InflateError::Protocol("malformed frame header"))?
        else {
            return Ok(false);
        };
        let header_len = cursor.position() as usize;
        // The wire form of a message is never larger than what it inflates to
        // allows, give or take deflate's overhead on incompressible data.
        let frame_max = self.message_bytes_max + self.message_bytes_max / 8 + 1024;
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l <= frame_max)
            .ok_or(InflateError::TooBig(self.message_bytes_max))?;
        let end = header_len + length;
        if self.input.len() < end {
            return Ok(false);
        }
        let compressed = match header.opcode {
            OpCode::Control(_) if header.rsv1 => {
                return Err(InflateError::Protocol("a compressed control frame"))
            }
            OpCode::Control(_) => false,
            OpCode::Data(Data::Continue) if header.rsv1 => {
                return Err(InflateError::Protocol("RSV1 on a continuation frame"))
            }
            OpCode::Data(Data::Continue) => self.message.unwrap_or(false),
            OpCode::Data(_) => *self.message.insert(header.rsv1),
        };
        if compressed {
            let Some(mask) = header.mask else {
                return Err(InflateError::Protocol("an unmasked client frame"));
            };
            let mut payload = self.input[header_len..end].to_vec();
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
            let inflated = self.inflate(&payload, header.is_final)?;
            let plain = FrameHeader {
                rsv1: false,
                // Masked with zeros: tungstenite insists on client frames being
                // masked, and the bytes stay as they are.
                mask: Some([0; 4]),
                ..header
            };
            plain
                .format(inflated.len() as u64, &mut self.output)
                .map_err(|_| InflateError::Protocol("frame too large"))?;
            self.output.extend_from_slice(&inflated);
        } else {
            self.output.extend_from_slice(&self.input[..end]);
        }
        if header.is_final && matches!(header.opcode, OpCode::Data(_)) {
            self.message = None;
            self.message_bytes = 0;
            if !self.client_takeover {
                self.decompress = None;
            }
        }
        self.input.drain(..end);
        if self.input.is_empty() {
            self.input = Vec::new();
        }
        Ok(true)
    }

    /// Inflates one frame's data of a compressed message, within the bound.
    fn inflate(&mut self, data: &[u8], last: bool) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        self.inflate_into(data, &mut out)?;
        if last {
            self.inflate_into(&MESSAGE_TAIL, &mut out)?;
        }
        self.message_bytes += out.len();
        Ok(out)
    }

    fn inflate_into(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
        let max = self.message_bytes_max;
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new(false));
        loop {
            if out.len() == out.capacity() {
                let room = max.saturating_sub(self.message_bytes + out.len());
                if room == 0 && !data.is_empty() {
                    return Err(InflateError::TooBig(max));
                }
                // One byte past the bound shows a message that goes over it.
                out.reserve(room.min(INFLATE_STEP_BYTES) + 1);
            }
            let (before_in, before_out) = (decompress.total_in(), decompress.total_out());
            let status = decompress
                .decompress_vec(data, out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Malformed)?;
            let consumed = (decompress.total_in() - before_in) as usize;
            let produced = decompress.total_out() - before_out;
            data = &data[consumed..];
            if self.message_bytes + out.len() > max {
                return Err(InflateError::TooBig(max));
            }
            if status == Status::StreamEnd {
                // A final deflate block: the next message starts a new stream.
                decompress.reset(false);
                return Ok(());
            }
            if data.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if consumed == 0 && produced == 0 && out.len() < out.capacity() {
                return Err(InflateError::Malformed);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Inflating<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Inflating { inner, inflate } = self.get_mut();
        let Some(state) = inflate.as_mut() else {
            return Pin::new(inner).poll_read(cx, buf);
        };
        loop {
            if state.output_read < state.output.len() {
                let ready = &state.output[state.output_read..];
                let n = ready.len().min(buf.remaining());
                buf.put_slice(&ready[..n]);
                state.output_read += n;
                if state.output_read == state.output.len() {
                    state.output = Vec::new();
                    state.output_read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(err) = state.failed {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, err)));
            }
            match state.next_frame() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    state.failed = Some(err);
                    continue;
                }
            }
            let mut chunk = [0u8; 4096];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The socket ended: hand over what is left as it is (tungstenite
                // reports a partial frame), then the end.
                if state.input.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                state.output = std::mem::take(&mut state.input);
                continue;
            }
            state.input.extend_from_slice(read.filled());
        }
    }
}

// Writes go straight to the socket.
write_through!(Inflating);

#[cfg(test)]
mod tests {
    use flate2::{Compress, Compression, FlushCompress};

    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut compress = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        compress
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&MESSAGE_TAIL));
        out.truncate(out.len() - 4);
        out
    }

    /// A masked client frame.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let header = FrameHeader::parse(&mut Cursor::new([first, 0]))
            .unwrap()
            .unwrap()
            .0;
        let header = FrameHeader {
            mask: Some(mask),
            ..header
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn state(max: usize) -> Inflate {
        Inflate::new(false, max)
    }

    /// Frames tungstenite gets: each as (first byte, unmasked payload).
    fn plain_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let mut cursor = Cursor::new(bytes);
            let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            let start = cursor.position() as usize;
            let end = start + len as usize;
            let mask = header.mask.unwrap_or([0; 4]);
            let payload = bytes[start..end]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            frames.push((bytes[0], payload));
            bytes = &bytes[end..];
        }
        frames
    }

    #[test]
    fn compressed_frames_are_handed_up_plain_and_others_as_they_are() {
        let mut s = state(1 << 20);
        let text = br#"{"op":"subscribe","id":1,"subjects":["/demo/a"]}"#;
        s.input.extend(frame(0xc1, &deflate(text))); // FIN, RSV1, text
        s.input.extend(frame(0x89, b"ping")); // a ping passes
        s.input.extend(frame(0x81, b"plain")); // an uncompressed message passes
        while s.next_frame().unwrap() {}
        let frames = plain_frames(&s.output);
        assert_eq!(
            frames,
            [
                (0x81, text.to_vec()),
                (0x89, b"ping".to_vec()),
                (0x81, b"plain".to_vec())
            ]
        );
    }

    #[test]
    fn a_fragmented_compressed_message_inflates_across_its_frames() {
        let mut s = state(1 << 20);
        let text = "a long message, ".repeat(100);
        let data = deflate(text.as_bytes());
        let (a, b) = data.split_at(data.len() / 2);
        s.input.extend(frame(0x41, a)); // RSV1, text, not final
        s.input.extend(frame(0x80, b)); // continuation, final
        while s.next_frame().unwrap() {}
        let frames = plain_frames(&s.output);
        let whole: Vec<u8> = frames.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(whole, text.as_bytes());
        assert_eq!((frames[0].0, frames[1].0), (0x01, 0x80));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_bound() {
        let mut s = state(64 * 1024);
        let bomb = deflate(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        s.input.extend(frame(0xc2, &bomb));
        assert_eq!(s.next_frame(), Err(InflateError::TooBig(64 * 1024)));
    }

    #[test]
    fn bad_input_is_refused() {
        let mut s = state(1 << 20);
        s.input.extend(frame(0xc1, b"\xff\xff\xff\xff not deflate"));
        assert_eq!(s.next_frame(), Err(InflateError::Malformed));
        let mut s = state(1 << 20);
        s.input.extend(frame(0xc9, b"ping"));
        assert!(matches!(s.next_frame(), Err(InflateError::Protocol(_))));
        let mut s = state(1 << 20);
        s.input.extend(frame(0x41, &deflate(b"x")));
        s.input.extend(frame(0xc0, b"x"));
        assert!(s.next_frame().unwrap());
        assert!(matches!(s.next_frame(), Err(InflateError::Protocol(_))));
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let mut s = state(1 << 20);
        let whole = frame(0xc1, &deflate(b"hello"));
        s.input.extend(&whole[..whole.len() - 1]);
        assert!(!s.next_frame().unwrap());
        s.input.push(*whole.last().unwrap());
        assert!(s.next_frame().unwrap());
        assert_eq!(plain_frames(&s.output), [(0x81, b"hello".to_vec())]);
    }
}
