//! Writes the generator's requests (INVITE, ACK, BYE, CANCEL, OPTIONS,
//! MESSAGE, REGISTER with or without credentials) into a send slot. Headers
//! and SDP follow sipp's default uac scenario so message sizes line up.
//!
//! Branches are derived from the Call-ID and CSeq, so a retransmission, the
//! CANCEL and the ACK of a non-2xx final carry the INVITE's branch, while
//! the ACK of a 2xx gets its own (RFC 3261 §17.1.1.3, §9.1, §13.2.2.4).
//!
//! Call-ID, branch and From tag are fixed width, so within a run every
//! request of one kind from one socket has the same length (what differs is
//! what the far end chose: its To tag, Contact, Record-Route, and a
//! challenge's nonce); equal lengths let a flush send them as one UDP GSO
//! batch.

use crate::sip::callid::CallRef;
use crate::sip::digest::{write_authorization, Answer, Challenge};
use crate::sip::write::{Out, Overflow};

/// Where the generator sends from and to.
pub struct Endpoints<'a> {
    /// Local IP as text.
    pub local_ip: &'a [u8],
    /// Local port of the socket the call uses.
    pub local_port: u16,
    /// Target `ip:port` as text (also the Request-URI host).
    pub target: &'a [u8],
    /// Via transport: `UDP` or `TCP`.
    pub transport: &'a [u8],
}

/// What varies between requests of a call.
pub struct RequestSpec<'a> {
    pub method: &'a [u8],
    pub cseq: u32,
    /// `true` for the ACK of a 2xx (a new transaction, so a new branch).
    pub new_branch: bool,
    pub to_tag: Option<&'a [u8]>,
    pub body: Option<(&'a [u8], &'a [u8])>,
    /// Digest credentials answering a challenge (REGISTER).
    pub auth: Option<(&'a Challenge<'a>, &'a [u8], &'a [u8])>,
    /// In-dialog request (ACK of a 2xx, BYE): the dialog's Request-URI and
    /// Route value (RFC 3261 §12.2.1.1); None: `sip:service@target`, no Route.
    pub dialog: Option<(&'a [u8], &'a [u8])>,
}

/// User part of From/To/Contact and the REGISTER AOR.
pub const USER: &[u8] = b"sipp";

/// Writes one request.
pub fn write_request(out: &mut Out<'_>, ep: &Endpoints<'_>, call: &CallRef, spec: &RequestSpec<'_>) -> Result<(), Overflow> {
    let register = spec.method == b"REGISTER";
    out.put(spec.method)?.put(b" ")?;
    match spec.dialog {
        Some((uri, _)) => {
            out.put(uri)?;
        }
        None => {
            out.put(b"sip:")?;
            if !register {
                out.put(b"service@")?;
            }
            out.put(ep.target)?;
        }
    }
    out.put(b" SIP/2.0\r\n")?;
    out.put(b"Via: SIP/2.0/")?
        .put(ep.transport)?
        .put(b" ")?
        .put(ep.local_ip)?
        .put(b":")?
        .num(u64::from(ep.local_port))?;
    out.put(b";branch=z9hG4bK")?;
    call.write_token(out)?;
    out.put(b"-")?.num(u64::from(spec.cseq))?;
    if spec.new_branch {
        out.put(b"a")?;
    }
    if let Some((_, route)) = spec.dialog.filter(|(_, r)| !r.is_empty()) {
        out.put(b"\r\nRoute: ")?.put(route)?;
    }
    out.put(b"\r\nFrom: sipp <sip:")?
        .put(USER)?
        .put(b"@")?
        .put(ep.local_ip)?
        .put(b":")?
        .num(u64::from(ep.local_port))?;
    out.put(b">;tag=")?
        .hex(&call.slot.to_be_bytes())?
        .put(b"x")?
        .hex(&call.generation.to_be_bytes())?;
    if register {
        out.put(b"\r\nTo: sipp <sip:")?.put(USER)?.put(b"@")?.put(ep.target)?.put(b">")?;
    } else {
        out.put(b"\r\nTo: <sip:service@")?.put(ep.target)?.put(b">")?;
    }
    if let Some(tag) = spec.to_tag {
        out.put(b";tag=")?.put(tag)?;
    }
    out.put(b"\r\nCall-ID: ")?;
    call.write(out)?;
    out.put(b"\r\nCSeq: ")?
        .num(u64::from(spec.cseq))?
        .put(b" ")?
        .put(spec.method)?
        .put(b"\r\n")?;
    out.put(b"Contact: <sip:")?
        .put(USER)?
        .put(b"@")?
        .put(ep.local_ip)?
        .put(b":")?
        .num(u64::from(ep.local_port))?
        .put(b">\r\n")?;
    out.put(b"Max-Forwards: 70\r\n")?;
    if register {
        out.put(b"Expires: 3600\r\n")?;
    } else {
        out.put(b"Subject: Performance Test\r\n")?;
    }
    if let Some((challenge, user, password)) = spec.auth {
        let mut uri = [0u8; 96];
        let mut u = Out::new(&mut uri);
        u.put(b"sip:")?.put(ep.target)?;
        let cnonce_src = [call.slot.to_be_bytes(), call.generation.to_be_bytes()].concat_array();
        let mut cnonce = [0u8; 16];
        Out::new(&mut cnonce).hex(&cnonce_src)?;
        let answer = Answer {
            user,
            password,
            method: spec.method,
            uri: u.written(),
            cnonce: &cnonce,
        };
        write_authorization(out, challenge, &answer)?;
    }
    match spec.body {
        Some((content_type, body)) => {
            out.put(b"Content-Type: ")?
                .put(content_type)?
                .put(b"\r\nContent-Length: ")?
                .num(body.len() as u64)?;
            out.put(b"\r\n\r\n")?.put(body)?;
        }
        None => {
            out.put(b"Content-Length: 0\r\n\r\n")?;
        }
    }
    Ok(())
}

/// Joins two 4-byte arrays without allocating.
trait ConcatArray {
    fn concat_array(&self) -> [u8; 8];
}

impl ConcatArray for [[u8; 4]; 2] {
    fn concat_array(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self[0]);
        out[4..].copy_from_slice(&self[1]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::scan::scan;

    fn ep() -> Endpoints<'static> {
        Endpoints {
            local_ip: b"127.0.0.1",
            local_port: 40000,
            target: b"127.0.0.1:5060",
            transport: b"UDP",
        }
    }

    #[test]
    fn invite_cancel_and_ack_share_or_split_branches() {
        let call = CallRef {
            slot: 5,
            generation: 2,
            thread: 0,
            run: 9,
        };
        let mut a = [0u8; 2048];
        let mut b = [0u8; 2048];
        let mut c = [0u8; 2048];
        let inv = RequestSpec {
            method: b"INVITE",
            cseq: 1,
            new_branch: false,
            to_tag: None,
            body: Some((b"application/sdp", crate::sip::SDP)),
            auth: None,
            dialog: None,
        };
        let cancel = RequestSpec {
            method: b"CANCEL",
            body: None,
            ..inv
        };
        let ack2xx = RequestSpec {
            method: b"ACK",
            new_branch: true,
            to_tag: Some(b"t"),
            body: None,
            ..inv
        };
        let mut oa = Out::new(&mut a);
        write_request(&mut oa, &ep(), &call, &inv).unwrap();
        let mut ob = Out::new(&mut b);
        write_request(&mut ob, &ep(), &call, &cancel).unwrap();
        let mut oc = Out::new(&mut c);
        write_request(&mut oc, &ep(), &call, &ack2xx).unwrap();
        let (si, sc, sa) = (
            scan(oa.written()).unwrap(),
            scan(ob.written()).unwrap(),
            scan(oc.written()).unwrap(),
        );
        assert_eq!(si.branch, sc.branch);
        assert_ne!(si.branch, sa.branch);
        // RFC 3261 token characters only: a strict parser rejects the Via otherwise.
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b);
        for b in [si.branch.unwrap(), sa.branch.unwrap()] {
            assert!(b.iter().all(token), "{:?}", String::from_utf8_lossy(b));
        }
        assert_eq!(sa.to_tag, Some(&b"t"[..]));
        assert_eq!(si.max_forwards, Some(70));
        assert_eq!(CallRef::parse(si.call_id), Some(call));
        assert_eq!(&oa.written()[si.body_start..], crate::sip::SDP);
    }

    #[test]
    fn requests_of_one_kind_have_one_length_whatever_the_call() {
        let calls = [(0, 1, 0, 1), (7, 9, 0, 1), (123_456, 98_765, 3, 4_000_000_000)].map(|(slot, generation, thread, run)| CallRef {
            slot,
            generation,
            thread,
            run,
        });
        let bye_dialog = (&b"sip:uas@127.0.0.1:5070"[..], &b""[..]);
        let kinds: [(&[u8], u32, bool, bool); 3] = [(b"INVITE", 1, false, false), (b"ACK", 1, true, true), (b"BYE", 2, false, true)];
        for (method, cseq, new_branch, in_dialog) in kinds {
            let lens: Vec<usize> = calls
                .iter()
                .map(|call| {
                    let spec = RequestSpec {
                        method,
                        cseq,
                        new_branch,
                        to_tag: in_dialog.then_some(&b"4711SIPpTag011"[..]),
                        body: (method == b"INVITE").then_some((&b"application/sdp"[..], crate::sip::SDP)),
                        auth: None,
                        dialog: in_dialog.then_some(bye_dialog),
                    };
                    let mut buf = [0u8; 2048];
                    let mut o = Out::new(&mut buf);
                    write_request(&mut o, &ep(), call, &spec).unwrap();
                    let m = scan(o.written()).expect("valid SIP");
                    assert_eq!(CallRef::parse(m.call_id), Some(*call));
                    assert_eq!(m.method(), Some(method));
                    o.len()
                })
                .collect();
            assert!(lens.iter().all(|&l| l == lens[0]), "{}: {lens:?}", String::from_utf8_lossy(method));
        }
    }

    #[test]
    fn register_with_credentials_carries_authorization() {
        let call = CallRef {
            slot: 1,
            generation: 1,
            thread: 0,
            run: 1,
        };
        let ch = Challenge {
            realm: b"127.0.0.1",
            nonce: b"n0nce",
            opaque: None,
            qop_auth: false,
        };
        let spec = RequestSpec {
            method: b"REGISTER",
            cseq: 2,
            new_branch: false,
            to_tag: None,
            body: None,
            auth: Some((&ch, b"sipp", b"secret")),
            dialog: None,
        };
        let mut buf = [0u8; 2048];
        let mut o = Out::new(&mut buf);
        write_request(&mut o, &ep(), &call, &spec).unwrap();
        let text = std::str::from_utf8(o.written()).unwrap();
        assert!(text.starts_with("REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"), "{text}");
        assert!(
            text.contains("Authorization: Digest username=\"sipp\", realm=\"127.0.0.1\", nonce=\"n0nce\", uri=\"sip:127.0.0.1:5060\""),
            "{text}"
        );
    }

    #[test]
    fn in_dialog_requests_carry_the_dialog_uri_and_route() {
        let call = CallRef {
            slot: 3,
            generation: 1,
            thread: 0,
            run: 2,
        };
        let bye = RequestSpec {
            method: b"BYE",
            cseq: 2,
            new_branch: false,
            to_tag: Some(b"t"),
            body: None,
            auth: None,
            dialog: Some((b"sip:uas@127.0.0.1:5070", b"<sip:127.0.0.1:5060;lr>")),
        };
        let mut buf = [0u8; 2048];
        let mut o = Out::new(&mut buf);
        write_request(&mut o, &ep(), &call, &bye).unwrap();
        let text = std::str::from_utf8(o.written()).unwrap();
        assert!(text.starts_with("BYE sip:uas@127.0.0.1:5070 SIP/2.0\r\nVia: "), "{text}");
        assert!(text.contains("\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n"), "{text}");
        assert!(scan(o.written()).is_ok());
        let no_route = RequestSpec {
            dialog: Some((b"sip:uas@h", b"")),
            ..bye
        };
        let mut o = Out::new(&mut buf);
        write_request(&mut o, &ep(), &call, &no_route).unwrap();
        assert!(!std::str::from_utf8(o.written()).unwrap().contains("Route:"));
    }
}
