//! The bytes of a statelessly forwarded request (RFC 3261 §16.6 steps
//! 8-9, §16.11): our Via on top, the sender's Via completed with
//! `received`/`rport`, and the edits the script queued (rewritten
//! Request-URI, Max-Forwards, added/removed headers) spliced in one pass.
//! Max-Forwards handling itself is the caller's (`maxfwd` module).

use std::net::SocketAddr;

use super::branch::stateless_branch;
use super::via::{add_received_rport, build_via};
use crate::route_io::LocalSocket;
use crate::sip::{EditError, Edits, HeaderName, Message};

/// Applies `edits` plus `via_line` (a full header line, CRLF included)
/// inserted above the first Via.
pub fn forward_request(
    msg: &Message,
    edits: &Edits,
    via_line: &[u8],
) -> Result<Vec<u8>, EditError> {
    let mut e = edits.clone();
    match msg.header(HeaderName::Via) {
        Some(v) => e.add_header_before(&v, via_line),
        None => e.add_header_first(msg, via_line),
    }
    e.apply(msg)
}

/// Kamailio's stateless `forward()`: adds received/rport for `src`, then
/// our Via for `sock` with the deterministic branch (`rport` flag per
/// configuration), then the script's edits.
pub fn forward_stateless(
    msg: &Message,
    edits: &Edits,
    sock: &LocalSocket,
    src: SocketAddr,
    rport: bool,
) -> Result<Vec<u8>, EditError> {
    let branch = stateless_branch(msg);
    let via = build_via(
        sock.proto,
        &sock.advertise_host,
        sock.advertise_port,
        branch.as_str(),
        rport,
    );
    let mut e = edits.clone();
    add_received_rport(msg, src, &mut e);
    forward_request(msg, &e, &via)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    #[test]
    fn forwards_with_our_via_on_top() {
        let raw = b"INVITE sip:b@example.com SIP/2.0\r\nMax-Forwards: 70\r\nVia: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(raw.to_vec()).unwrap();
        let sock = LocalSocket {
            proto: Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        };
        let mut e = Edits::new();
        e.set_ruri(&m, b"sip:b@127.0.0.2:5080");
        let mf = m.header(HeaderName::MaxForwards).unwrap();
        e.set_header_value(&mf, b"69");
        let out =
            forward_stateless(&m, &e, &sock, "192.0.2.7:5062".parse().unwrap(), false).unwrap();
        let fwd = Message::parse(out.clone()).unwrap();
        assert_eq!(fwd.ruri_bytes(), b"sip:b@127.0.0.2:5080");
        assert_eq!(fwd.max_forwards(), Some(69));
        let vias: Vec<_> = fwd.vias().map(|v| v.unwrap()).collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].host, b"127.0.0.1");
        assert_eq!(vias[0].branch(), Some(stateless_branch(&m).as_bytes()));
        assert_eq!(vias[1].received(), Some(&b"192.0.2.7"[..]));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Max-Forwards: 69\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"));
    }
}
