//! One received datagram through everything the harness does with what a
//! server sends it: the scanner, the stateless answer the uas builds from
//! it (which must scan again), the generator's Call-ID lookup, the dialog
//! route set it takes from a 2xx, and the Digest challenge it answers.
//! Shared by the fuzz target (`fuzz/fuzz_targets/bench_scan.rs`) and the
//! corpus replay test, so a crash the fuzzer finds is a `cargo test` failure
//! once its input is saved.

use crate::callid::CallRef;
use crate::dialog::DialogRoute;
use crate::digest::{parse_challenge, write_authorization, Answer};
use crate::respond::{reason, write_response, ResponseSpec};
use crate::scan::{param, param_names, scan};
use crate::write::Out;

/// Runs `data` through the harness's receive path; panics only on a bug.
pub fn exercise_datagram(data: &[u8]) {
    let Ok(msg) = scan(data) else { return };
    let spans = [msg.from_line, msg.to_line, msg.call_id_line, msg.cseq_line];
    for s in spans
        .iter()
        .chain(&msg.via_lines[..msg.via_count])
        .chain(&msg.rr_lines[..msg.rr_count])
    {
        assert!(s.0 <= s.1 && s.1 <= data.len(), "span {s:?} outside the datagram");
    }
    assert!(msg.body_start <= data.len());
    let _ = param_names(msg.span(msg.to_line)).count();
    let _ = param(msg.span(msg.to_line), b"tag");

    if msg.method().is_some() {
        let mut buf = [0u8; 8192];
        for (code, dialog, body) in [(100, false, None), (180, true, None), (200, true, Some(crate::SDP))] {
            let spec = ResponseSpec {
                code,
                reason: reason(code),
                to_tag: b"fuzz",
                contact: b"127.0.0.1:5070",
                dialog,
                body,
            };
            let mut out = Out::new(&mut buf);
            if write_response(&mut out, &msg, &spec).is_ok() {
                let answer = scan(out.written()).expect("the uas's own answer must scan");
                assert_eq!(answer.status(), Some(code));
                assert_eq!(answer.call_id, msg.call_id);
                assert_eq!(answer.via_count, msg.via_count);
            }
        }
    }

    if let Some(c) = CallRef::parse(msg.call_id) {
        let mut buf = [0u8; 128];
        let mut out = Out::new(&mut buf);
        c.write(&mut out).expect("a Call-ID fits in 128 bytes");
        assert_eq!(CallRef::parse(out.written()), Some(c), "Call-IDs round-trip");
    }
    if msg.status().is_some_and(|c| (200..300).contains(&c)) {
        let mut route = DialogRoute::default();
        if route.set_from_2xx(&msg).is_ok() {
            assert!(!route.request_uri().is_empty(), "a dialog needs a Request-URI");
            let _ = route.route();
        }
    }

    if let Some(Ok(ch)) = msg.challenge.map(parse_challenge) {
        let mut buf = [0u8; 2048];
        let mut out = Out::new(&mut buf);
        let answer = Answer {
            user: b"alice",
            password: b"secret",
            method: b"REGISTER",
            uri: b"sip:127.0.0.1",
            cnonce: b"0a1b2c3d",
        };
        let _ = write_authorization(&mut out, &ch, &answer);
    }
}
