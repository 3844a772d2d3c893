//! The gateway's side of permessage-deflate: each message to the client is
//! compressed (raw deflate, flushed, without the 4-byte tail RFC 7692 drops) when it
//! is at least `websocket.deflate_min_bytes` and compression makes it smaller; else
//! it goes plain, which the extension allows per message. Without context takeover
//! the compressor is the thread's, reset after each message, so no connection keeps
//! one, and the bytes depend only on the message: a live update is compressed once
//! for all its subscribers.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress};

use crate::permessage_deflate::Negotiated;

/// The end of a flushed deflate stream, left off on the wire.
const MESSAGE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

thread_local! {
    /// The compressor of connections without context takeover on this thread.
    static SHARED: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// A connection's outbound compression.
pub struct Deflater {
    /// With context takeover only: the connection's own compressor.
    own: Option<Box<Compress>>,
    min_bytes: usize,
}

impl Deflater {
    pub fn new(negotiated: Negotiated, min_bytes: usize) -> Self {
        Deflater {
            own: negotiated
                .server_takeover
                .then(|| Box::new(Compress::new(Compression::default(), false))),
            min_bytes,
        }
    }

    pub fn min_bytes(&self) -> usize {
        self.min_bytes
    }

    /// Whether a message's compressed form is the same for every connection (then
    /// it may be shared).
    pub fn is_stateless(&self) -> bool {
        self.own.is_none()
    }

    /// The message compressed, or `None` when it goes plain (too small, or not
    /// smaller compressed).
    pub fn compress(&mut self, message: &[u8]) -> Option<Vec<u8>> {
        if message.len() < self.min_bytes {
            return None;
        }
        match self.own.as_deref_mut() {
            Some(own) => compress_with(own, message),
            None => compress_stateless(message, self.min_bytes),
        }
    }
}

/// `message` compressed on its own (no context taken over), or `None` when it
/// is below `min_bytes` or not smaller compressed.
pub fn compress_stateless(message: &[u8], min_bytes: usize) -> Option<Vec<u8>> {
    if message.len() < min_bytes {
        return None;
    }
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        let compress = shared.get_or_insert_with(|| Compress::new(Compression::default(), false));
        let out = compress_with(compress, message);
        compress.reset();
        out
    })
}

fn compress_with(compress: &mut Compress, message: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(message.len() / 2 + 64);
    let mut input = message;
    loop {
        let before = compress.total_in();
        compress
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .ok()?;
        input = &input[(compress.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
        if out.len() > message.len() {
            // Not worth it; the stream is reset or, with takeover, continues
            // from here (the client never saw this output, so reset it too).
            compress.reset();
            return None;
        }
        out.reserve(out.capacity().max(64));
    }
    if !out.ends_with(&MESSAGE_TAIL) {
        compress.reset();
        return None;
    }
    out.truncate(out.len() - MESSAGE_TAIL.len());
    if out.len() >= message.len() {
        // Plain is smaller. With takeover the client will not have seen these
        // bytes: start the context afresh, which it is allowed to be.
        compress.reset();
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use flate2::{Decompress, FlushDecompress};

    use super::*;

    fn inflate(data: &[u8], decompress: &mut Decompress) -> Vec<u8> {
        let mut with_tail = data.to_vec();
        with_tail.extend(MESSAGE_TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        decompress
            .decompress_vec(&with_tail, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn messages_compress_on_their_own_and_small_ones_go_plain() {
        let json = br#"{"op":"message","subject":"/prices/EURUSD","data":"{\"bid\":1.0841,\"ask\":1.0843,\"venue\":\"primary\"}","seq":42,"epoch":"k3x9-2","type":"update"}"#;
        let mut deflater = Deflater::new(
            Negotiated {
                server_takeover: false,
                client_takeover: false,
            },
            64,
        );
        let one = deflater.compress(json).unwrap();
        let two = deflater.compress(json).unwrap();
        assert_eq!(one, two, "no context taken over: the same bytes each time");
        assert!(one.len() < json.len());
        assert_eq!(inflate(&one, &mut Decompress::new(false)), json);
        assert_eq!(deflater.compress(b"{\"op\":\"ok\",\"id\":1}"), None);
    }

    #[test]
    fn with_context_takeover_a_repeat_costs_almost_nothing() {
        let json = "{\"field\":\"a value that repeats across messages\"}".repeat(4);
        let mut deflater = Deflater::new(
            Negotiated {
                server_takeover: true,
                client_takeover: true,
            },
            16,
        );
        let mut decompress = Decompress::new(false);
        let first = deflater.compress(json.as_bytes()).unwrap();
        let second = deflater.compress(json.as_bytes()).unwrap();
        assert!(
            second.len() < first.len() / 2,
            "{} then {}",
            first.len(),
            second.len()
        );
        assert_eq!(inflate(&first, &mut decompress), json.as_bytes());
        assert_eq!(inflate(&second, &mut decompress), json.as_bytes());
    }
}
