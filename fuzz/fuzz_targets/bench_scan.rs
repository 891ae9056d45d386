//! Fuzz target: a datagram as the benchmark harness receives it from a
//! server under test: its scanner, the uas's stateless answer, the client
//! side of a Digest challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipshard_bench_sip::exercise::exercise_datagram(data);
});
