//! Fuzz the Security-Client parser, the offer choice and CK/IK extraction.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sipshard_ipsec::fuzzing::security_client(data);
});
