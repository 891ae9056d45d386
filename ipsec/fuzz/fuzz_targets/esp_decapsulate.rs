//! Fuzz ESP decapsulation (ESP only, IP packet, UDP-encapsulated).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sipshard_ipsec::fuzzing::esp_decapsulate(data);
});
