//! Our Via header, and what a proxy adds to the sender's Via: RFC 3261
//! §18.2.1 (`received` when the sent-by host differs from the packet's
//! source address) and RFC 3581 §4 (`rport=<source port>` when `rport` came
//! without a value; `received` is then added even if the address matches).

use std::net::SocketAddr;

use smallvec::SmallVec;

use crate::sip::{Edits, Message};
use crate::transport::Transport;

/// Builds `Via: SIP/2.0/<T> <host>:<port>;branch=<branch>[;rport]\r\n`.
/// An IPv6 host is bracketed (RFC 5118 §4.5).
pub fn build_via(
    transport: Transport,
    host: &str,
    port: u16,
    branch: &str,
    rport: bool,
) -> Vec<u8> {
    via_line(transport, host, port, branch, rport).to_vec()
}

/// [`build_via`] on the stack (no allocation for hosts of ordinary length).
pub fn via_line(
    transport: Transport,
    host: &str,
    port: u16,
    branch: &str,
    rport: bool,
) -> SmallVec<[u8; 128]> {
    let mut digits = [0u8; 20];
    let port = crate::sip::edit::decimal(usize::from(port), &mut digits);
    let bracket = host.contains(':') && !host.starts_with('[');
    let pieces: [&[u8]; 9] = [
        b"Via: SIP/2.0/",
        transport.via_name().as_bytes(),
        if bracket { b" [" } else { b" " },
        host.as_bytes(),
        if bracket { b"]:" } else { b":" },
        port,
        b";branch=",
        branch.as_bytes(),
        if rport { b";rport\r\n" } else { b"\r\n" },
    ];
    // Written straight into the inline buffer when the line fits (it
    // always does with an IP and our branch), one bounds check per piece.
    let mut buf = [0u8; 128];
    let mut len = 0;
    for p in pieces {
        match buf.get_mut(len..len + p.len()) {
            Some(dst) => dst.copy_from_slice(p),
            None => return pieces.concat().into_iter().collect(),
        }
        len += p.len();
    }
    SmallVec::from_buf_and_len(buf, len)
}

/// Appends an IP address as text (IPv6 without brackets) without going
/// through a `String` for IPv4.
pub fn push_ip<const N: usize>(v: &mut SmallVec<[u8; N]>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(a) => {
            for (i, o) in a.octets().iter().enumerate() {
                if i > 0 {
                    v.push(b'.');
                }
                let mut digits = [0u8; 20];
                v.extend_from_slice(crate::sip::edit::decimal(usize::from(*o), &mut digits));
            }
        }
        std::net::IpAddr::V6(a) => v.extend_from_slice(a.to_string().as_bytes()),
    }
}

/// The inserts (absolute offset, bytes) that add `rport=<port>` and
/// `received=<ip>` to the top Via of `msg` received from `src`, in the
/// order they must be queued. Empty when nothing is to be added. An
/// existing `received` is left as is.
pub fn received_rport_inserts(msg: &Message, src: SocketAddr) -> SmallVec<[(usize, Vec<u8>); 2]> {
    received_rport_inserts_with(msg, src, false)
}

/// [`received_rport_inserts`], optionally as if the top Via had `rport`
/// (`force_rport`): then `;rport=<port>` follows `received` when the Via
/// has no `rport` of its own.
pub fn received_rport_inserts_with(
    msg: &Message,
    src: SocketAddr,
    force_rport: bool,
) -> SmallVec<[(usize, Vec<u8>); 2]> {
    let mut out = SmallVec::new();
    let Some(via) = msg.top_via() else {
        return out;
    };
    let rport_empty = via.rport() == Some(None);
    if rport_empty {
        let name = via
            .params()
            .map_while(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(b"rport"));
        if let Some(span) = name.and_then(|p| msg.span_of(p.name)) {
            out.push((span.end as usize, format!("={}", src.port()).into_bytes()));
        }
    }
    let differs = via.host_ip() != Some(src.ip());
    let rport_asked = via.rport().is_some() || force_rport;
    if (differs || rport_asked) && via.received().is_none() {
        if let Some(span) = msg.span_of(via.raw) {
            out.push((
                span.end as usize,
                format!(";received={}", src.ip()).into_bytes(),
            ));
        }
    }
    if force_rport && via.rport().is_none() {
        if let Some(span) = msg.span_of(via.raw) {
            out.push((
                span.end as usize,
                format!(";rport={}", src.port()).into_bytes(),
            ));
        }
    }
    out
}

/// Queues the `received`/`rport` additions to the top Via.
pub fn add_received_rport(msg: &Message, src: SocketAddr, edits: &mut Edits) {
    for (at, bytes) in received_rport_inserts(msg, src) {
        edits.insert(at, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_lines_bracket_ipv6_and_grow_past_the_inline_buffer() {
        let b = "z9hG4bKabc";
        assert_eq!(
            &via_line(Transport::Udp, "192.0.2.1", 5060, b, false)[..],
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
        );
        assert_eq!(
            &via_line(Transport::Tls, "2001:db8::1", 5061, b, true)[..],
            b"Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKabc;rport\r\n"
        );
        assert_eq!(
            &via_line(Transport::Tcp, "[::1]", 5, b, false)[..],
            b"Via: SIP/2.0/TCP [::1]:5;branch=z9hG4bKabc\r\n"
        );
        let host = "h".repeat(200);
        let long = via_line(Transport::Udp, &host, 1, b, true);
        assert_eq!(
            long.to_vec(),
            format!("Via: SIP/2.0/UDP {host}:1;branch={b};rport\r\n").into_bytes()
        );
    }

    fn msg(via: &str) -> Message {
        let m = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        Message::parse(m.into_bytes()).unwrap()
    }

    fn apply(m: &Message, src: &str) -> String {
        let mut e = Edits::new();
        add_received_rport(m, src.parse().unwrap(), &mut e);
        String::from_utf8(e.apply(m).unwrap()).unwrap()
    }

    #[test]
    fn builds_our_via() {
        let v = build_via(Transport::Udp, "2001:db8::1", 5060, "z9hG4bKabc", true);
        assert_eq!(
            v,
            b"Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKabc;rport\r\n"
        );
        let v = build_via(Transport::Tcp, "192.0.2.1", 5070, "z9hG4bKx", false);
        assert_eq!(v, b"Via: SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bKx\r\n");
    }

    #[test]
    fn received_when_host_differs() {
        let m = msg("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1");
        assert!(apply(&m, "192.0.2.4:5060")
            .contains("Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.4\r\n"));
        let m = msg("SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1");
        assert!(
            apply(&m, "192.0.2.4:5060").contains("Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n")
        );
    }

    #[test]
    fn forced_rport_is_added_after_received() {
        let m = msg("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1");
        let ins = received_rport_inserts_with(&m, "192.0.2.4:9988".parse().unwrap(), true);
        let mut e = Edits::new();
        for (at, b) in ins {
            e.insert(at, b);
        }
        let out = String::from_utf8(e.apply(&m).unwrap()).unwrap();
        assert!(out.contains(
            "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1;received=192.0.2.4;rport=9988\r\n"
        ));
    }

    #[test]
    fn rport_filled_and_received_forced() {
        let m = msg("SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK1");
        assert!(apply(&m, "192.0.2.4:9988").contains(
            "Via: SIP/2.0/UDP 192.0.2.4:5060;rport=9988;branch=z9hG4bK1;received=192.0.2.4\r\n"
        ));
        let m = msg("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1;rport");
        assert!(apply(&m, "[2001:db8::1]:7000")
            .contains(";branch=z9hG4bK1;rport=7000;received=2001:db8::1\r\n"));
    }
}
