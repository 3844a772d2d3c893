//! Any bytes into the JSON decoders: never a panic, and a decoded frame encodes to
//! JSON that decodes back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::protocol::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = json::decode_client(data) {
        let again = json::decode_client(&json::encode_client(&frame));
        assert_eq!(again.as_ref(), Ok(&frame));
    }
    if let Ok(frame) = json::decode_server(data) {
        let again = json::decode_server(&json::encode_server(&frame));
        assert_eq!(again.as_ref(), Ok(&frame));
    }
});
