//! Any bytes as a protocol 1.1 fossil delta against any base: never a panic, never
//! more than the bound, and a delta the encoder made rebuilds its value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::protocol::fossil_delta;

fuzz_target!(|data: &[u8]| {
    let (base, delta) = data.split_at(data.len() / 2);
    if let Ok(value) = fossil_delta::apply(base, delta, 1 << 16) {
        assert!(value.len() <= 1 << 16);
    }
    let made = fossil_delta::encode(base, delta);
    assert_eq!(fossil_delta::apply(base, &made, usize::MAX).as_deref(), Ok(delta));
});
