//! Fuzz target: bytes as a URI, a Via value, a name-addr and a value list.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipshard_core::sip::exercise::exercise_uri(data);
});
