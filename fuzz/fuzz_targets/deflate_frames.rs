//! Any bytes as a permessage-deflate client's frames: never a panic, and what is
//! handed to tungstenite never inflates past the bound (a deflate bomb stops there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_websocket::inflate_frames;

const MESSAGE_BYTES_MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = inflate_frames(data, MESSAGE_BYTES_MAX) {
        // Headers and every frame's payload, for at most a few messages' worth.
        assert!(frames.len() <= data.len() + 64 * (MESSAGE_BYTES_MAX + 16));
    }
});
