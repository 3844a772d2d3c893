//! Any bytes into the binary decoders: never a panic, and a decoded frame encodes to
//! bytes that decode back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::protocol::binary;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = binary::decode_client(data) {
        let again = binary::decode_client(&binary::encode_client(&frame));
        assert_eq!(again.as_ref(), Ok(&frame));
    }
    if let Ok(frame) = binary::decode_server(data) {
        let again = binary::decode_server(&binary::encode_server(&frame));
        assert_eq!(again.as_ref(), Ok(&frame));
    }
});
