//! Locally generated replies (RFC 3261 §8.2.6, §16.7; Kamailio `sl`):
//! `SIP/2.0 <code> <reason>`, every Via copied (the top one completed with
//! `received`/`rport`, RFC 3581), From, To (with a local tag when the
//! request had none and the code is above 100: stable across
//! retransmissions, `<32 hex>.<8 hex>` like Kamailio's sl), Call-ID, CSeq,
//! headers the script queued (`append_to_reply`), `Server`, and
//! Content-Length. Also where to send it, and a best-effort 400 for a
//! request that failed to parse.

use std::net::SocketAddr;

use md5::{Digest, Md5};

use super::branch::hex_into;
use super::destination::Destination;
use super::via::received_rport_inserts_with;
use crate::sip::edit::decimal;
use crate::sip::lex::{eq_ic, find_top_level, trim, trim_end};
use crate::sip::{HeaderName, Message, ParseError};
use crate::transport::Transport;

/// Our Server header value.
pub const SERVER: &str = concat!("sipshard (", env!("CARGO_PKG_VERSION"), ")");

/// What to put in a local reply.
#[derive(Debug, Clone, Copy)]
pub struct LocalReply<'a> {
    pub code: u16,
    pub reason: &'a [u8],
    /// Complete header lines, each ending in CRLF (`append_to_reply`).
    pub extra_headers: &'a [u8],
    /// The instance's To-tag prefix (see [`to_tag_prefix`]).
    pub to_tag_prefix: &'a [u8; 32],
    /// Server header value ([`SERVER`] by default); None for no header.
    pub server: Option<&'a str>,
    /// Content-Type and body, if any.
    pub body: Option<(&'a [u8], &'a [u8])>,
    /// Treat the top Via as if it had `rport` (Kamailio `force_rport()`):
    /// `;rport=<source port>` is added and `received` always set.
    pub force_rport: bool,
}

impl<'a> LocalReply<'a> {
    pub fn new(code: u16, reason: &'a [u8], to_tag_prefix: &'a [u8; 32]) -> LocalReply<'a> {
        LocalReply {
            code,
            reason,
            extra_headers: b"",
            to_tag_prefix,
            server: Some(SERVER),
            body: None,
            force_rport: false,
        }
    }
}

/// A per-instance To-tag prefix: 32 hex digits of MD5 over `seed` (for
/// example the listen addresses), constant for the life of the process.
pub fn to_tag_prefix(seed: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex_into(&Md5::digest(seed), &mut out);
    out
}

/// The To-tag of a local reply to `req`: `<prefix>.<8 hex>`, the suffix
/// hashed from Call-ID, From tag and top Via branch so that a
/// retransmitted request gets the same tag.
pub fn local_to_tag(req: &Message, prefix: &[u8; 32]) -> [u8; 41] {
    let mut h = Md5::new();
    h.update(req.call_id().unwrap_or(b""));
    h.update([0u8]);
    h.update(req.from_tag().unwrap_or(b""));
    h.update([0u8]);
    h.update(req.top_via().and_then(|v| v.branch()).unwrap_or(b""));
    let digest = h.finalize();
    let mut out = [0u8; 41];
    out[..32].copy_from_slice(prefix);
    out[32] = b'.';
    hex_into(&digest[..4], &mut out[33..]);
    out
}

/// Builds a reply to `req`, received from `src`.
pub fn build_reply(req: &Message, src: SocketAddr, r: &LocalReply<'_>) -> Vec<u8> {
    let buf = req.as_bytes();
    let mut out = Vec::with_capacity(256 + buf.len() / 2);
    push_status_line(&mut out, r.code, r.reason);
    let inserts = received_rport_inserts_with(req, src, r.force_rport);
    let mut first_via = true;
    for h in req.headers() {
        match h.name {
            HeaderName::Via => {
                out.extend_from_slice(b"Via: ");
                if first_via {
                    let mut pos = h.value_range.start;
                    for (at, bytes) in inserts
                        .iter()
                        .filter(|(at, _)| h.value_range.contains(at) || *at == h.value_range.end)
                    {
                        out.extend_from_slice(&buf[pos..*at]);
                        out.extend_from_slice(bytes);
                        pos = *at;
                    }
                    out.extend_from_slice(&buf[pos..h.value_range.end]);
                    first_via = false;
                } else {
                    out.extend_from_slice(h.value);
                }
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                out.extend_from_slice(h.name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value);
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::To => {
                out.extend_from_slice(b"To: ");
                out.extend_from_slice(h.value);
                // `parse` validated To (there is one) and kept its tag.
                if req.to_tag().is_none() && r.code > 100 {
                    out.extend_from_slice(b";tag=");
                    out.extend_from_slice(&local_to_tag(req, r.to_tag_prefix));
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
    out.extend_from_slice(r.extra_headers);
    if let Some(server) = r.server {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = match r.body {
        Some((ctype, body)) => {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ctype);
            out.extend_from_slice(b"\r\n");
            body
        }
        None => b"",
    };
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(decimal(body.len(), &mut [0u8; 20]));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

fn push_status_line(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(decimal(usize::from(code), &mut [0u8; 20]));
    out.push(b' ');
    // A reason phrase cannot hold line breaks.
    out.extend(reason.iter().copied().filter(|&b| b != b'\r' && b != b'\n'));
    out.extend_from_slice(b"\r\n");
}

/// Where a local reply to `req` (received from `src` over `proto`) goes:
/// back to the source address (it equals `received`), to the source port
/// when the top Via asked for rport or on a stream, else to the sent-by
/// port or the transport's default (RFC 3261 §18.2.2, RFC 3581 §4).
pub fn reply_destination(req: &Message, src: SocketAddr, proto: Transport) -> Destination {
    let via = req.top_via();
    let port = if proto.is_stream() || via.is_some_and(|v| v.rport().is_some()) {
        src.port()
    } else {
        via.and_then(|v| v.port)
            .unwrap_or(Destination::default_port(proto))
    };
    Destination {
        host: super::destination::ip_text(src.ip()),
        port,
        transport: proto,
    }
}

/// A best-effort `400 <reason>` (or 505 / 416 per [`ParseError::status`])
/// for a request that failed to parse, whenever its Via, From, To, Call-ID
/// and CSeq lines exist (RFC 4475 §3.1.2.x, §3.3.x expect a 400 or 505
/// even when the Via itself is malformed, e.g. `badinv01`, `badvers`).
/// The Via lines are copied as written; the first value gets
/// `;received=<src ip>` unless it has a `received` parameter. None for
/// responses, ACKs, or when a needed header is missing. Send it back to
/// `src` on the connection it came on.
pub fn reply_to_malformed(bytes: &[u8], err: ParseError, src: SocketAddr) -> Option<Vec<u8>> {
    let mut lines = LineIter { rest: bytes };
    let start = loop {
        let l = lines.next()?;
        if !l.is_empty() {
            break l;
        }
    };
    if start.len() < 4 || eq_ic(&start[..4], b"SIP/") {
        return None;
    }
    let method = start.split(|&b| b == b' ').next()?;
    if method == b"ACK" {
        return None;
    }
    let mut vias: Vec<&[u8]> = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let value = trim(&line[colon + 1..]);
        let slot = match HeaderName::from_bytes(trim(&line[..colon])) {
            HeaderName::Via => {
                vias.push(value);
                continue;
            }
            HeaderName::From => &mut from,
            HeaderName::To => &mut to,
            HeaderName::CallId => &mut call_id,
            HeaderName::CSeq => &mut cseq,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let (from, to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    let first = *vias.first()?;
    // The first value of the first line ends at a top-level comma.
    let top_len = match find_top_level(first, b',') {
        Ok(Some(i)) => trim_end(&first[..i]).len(),
        _ => first.len(),
    };
    let mut out = Vec::with_capacity(256 + bytes.len() / 2);
    push_status_line(&mut out, err.status(), err.reason().as_bytes());
    for (i, v) in vias.iter().enumerate() {
        out.extend_from_slice(b"Via: ");
        if i == 0 {
            out.extend_from_slice(&v[..top_len]);
            if !has_param_named(&v[..top_len], b"received") {
                out.extend_from_slice(b";received=");
                out.extend_from_slice(src.ip().to_string().as_bytes());
            }
            out.extend_from_slice(&v[top_len..]);
        } else {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, v) in [
        (&b"From: "[..], from),
        (b"To: ", to),
        (b"Call-ID: ", call_id),
        (b"CSeq: ", cseq),
    ] {
        out.extend_from_slice(name);
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Server: {SERVER}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    Some(out)
}

/// True when a `;name[=...]` parameter appears in a raw Via value, without
/// requiring the value to parse.
fn has_param_named(via: &[u8], name: &[u8]) -> bool {
    via.split(|&b| b == b';').skip(1).any(|p| {
        let n = p.split(|&b| b == b'=').next().unwrap_or(p);
        eq_ic(trim(n), name)
    })
}

/// Lines without their CR/LF; a continuation line is returned as is.
struct LineIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:b@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com:5062;rport;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK0\r\n\
Max-Forwards: 70\r\n\
f: Alice <sip:a@example.com>;tag=88\r\n\
To: <sip:b@example.com>\r\n\
Call-ID: c1@pc33\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    const PREFIX: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

    #[test]
    fn builds_a_404_with_stable_to_tag() {
        let m = Message::parse(REQ.to_vec()).unwrap();
        let src: SocketAddr = "192.0.2.33:6000".parse().unwrap();
        let mut r = LocalReply::new(404, b"Not Found", &PREFIX);
        r.extra_headers = b"X-Why: nobody\r\n";
        let out = build_reply(&m, src, &r);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP pc33.example.com:5062;rport=6000;branch=z9hG4bK1;received=192.0.2.33\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK0\r\n"));
        assert!(text.contains("From: Alice <sip:a@example.com>;tag=88\r\n"));
        assert!(text.contains("X-Why: nobody\r\nServer: sipshard ("));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let reply = Message::parse(out.clone()).unwrap();
        assert_eq!(reply.status(), Some(404));
        let tag = reply.to_tag().unwrap().to_vec();
        assert_eq!(tag.len(), 41);
        assert!(tag.starts_with(&PREFIX));
        // Retransmission: same tag.
        assert_eq!(build_reply(&m, src, &r), out);
        // 100 Trying gets no tag.
        let trying = Message::parse(build_reply(
            &m,
            src,
            &LocalReply::new(100, b"Trying", &PREFIX),
        ))
        .unwrap();
        assert_eq!(trying.to_tag(), None);
        assert_eq!(
            reply_destination(&m, src, Transport::Udp),
            Destination {
                host: "192.0.2.33".into(),
                port: 6000,
                transport: Transport::Udp
            }
        );
    }

    #[test]
    fn malformed_via_or_version_still_gets_a_reply() {
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        for (raw, status, via) in [
            (
                &include_bytes!("../../tests/data/rfc4475/badinv01.dat")[..],
                400,
                "Via: SIP/2.0/UDP 192.0.2.15;;;received=192.0.2.1,;,,\r\n",
            ),
            (
                &include_bytes!("../../tests/data/rfc4475/badvers.dat")[..],
                505,
                "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw;received=192.0.2.1\r\n",
            ),
        ] {
            let err = Message::parse(raw.to_vec()).unwrap_err();
            assert_eq!(err.status(), status, "{err:?}");
            let out = reply_to_malformed(raw, err, src).expect("a reply");
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&format!("SIP/2.0 {status} ")), "{text}");
            assert!(text.contains(via), "{text}");
            assert!(text.contains("\r\nCall-ID: ") && text.contains("\r\nCSeq: "));
            assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        }
    }

    #[test]
    fn destination_without_rport_uses_sent_by_port() {
        let raw = String::from_utf8(REQ.to_vec())
            .unwrap()
            .replace(";rport", "");
        let m = Message::parse(raw.into_bytes()).unwrap();
        let src: SocketAddr = "192.0.2.33:6000".parse().unwrap();
        assert_eq!(reply_destination(&m, src, Transport::Udp).port, 5062);
        assert_eq!(reply_destination(&m, src, Transport::Tcp).port, 6000);
        assert_ne!(to_tag_prefix(b"a"), to_tag_prefix(b"b"));
    }

    #[test]
    fn malformed_requests_get_a_400_when_readable() {
        let bad = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 999\r\n\r\n";
        let err = Message::parse(bad.to_vec()).unwrap_err();
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let out = reply_to_malformed(bad, err, src).unwrap();
        let reply = Message::parse(out).unwrap();
        assert_eq!(reply.status(), Some(400));
        assert_eq!(reply.reason(), b"Bad Max-Forwards");
        assert_eq!(reply.top_via().unwrap().received(), Some(&b"192.0.2.1"[..]));
        let ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 ACK\r\nMax-Forwards: 999\r\n\r\n";
        assert_eq!(
            reply_to_malformed(ack, ParseError::BadMaxForwards, src),
            None
        );
        let received = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;received=192.0.2.1 , SIP/2.0/UDP g\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 999\r\n\r\n";
        let out = reply_to_malformed(received, ParseError::BadMaxForwards, src).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\nVia: SIP/2.0/UDP h;received=192.0.2.1 , SIP/2.0/UDP g\r\n"));
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        assert_eq!(reply_to_malformed(resp, ParseError::BadVia, src), None);
        let no_callid = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert_eq!(
            reply_to_malformed(
                no_callid,
                ParseError::MissingHeader(HeaderName::CallId),
                src
            ),
            None
        );
    }
}
