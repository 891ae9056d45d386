//! Fuzz target: a whole SIP message through the parser, every typed view,
//! the editor, stateless forwarding and local replies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipshard_core::sip::exercise::exercise_message(data);
});
