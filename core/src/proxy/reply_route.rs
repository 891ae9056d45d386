//! Forwarding a received response statelessly (RFC 3261 §16.7 step 3,
//! §16.11, §18.2.2; RFC 3581 §4): the top Via must be ours and is removed;
//! the next Via says where the response goes: `maddr` if present, else
//! `received` (or the sent-by host), port from `rport=<n>` (or sent-by
//! port, or the transport's default), transport from the Via.

use std::net::IpAddr;

use super::destination::Destination;
use crate::sip::host::parse_ip;
use crate::sip::host::unbracket;
use crate::sip::lex::{split_commas, trim_start, Unbalanced};
use crate::sip::{EditError, Edits, HeaderName, Message, ParseError, Via};
use crate::transport::Transport;

/// A response ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedReply {
    pub bytes: Vec<u8>,
    pub dst: Destination,
}

/// Why a response cannot be forwarded; in every case it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyRouteError {
    NotAResponse,
    /// The top Via is not one of ours (RFC 3261 §18.1.2: discard).
    NotOurVia,
    /// Ours was the only Via: the response is for us.
    NoNextVia,
    /// The next Via does not parse.
    BadVia(ParseError),
    /// The next Via names a transport we do not speak.
    UnknownTransport,
    /// The next Via sends it to a broadcast address (RFC 4475 §3.3.10).
    Broadcast,
    Edit(EditError),
}

impl std::fmt::Display for ReplyRouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyRouteError::NotAResponse => f.write_str("not a response"),
            ReplyRouteError::NotOurVia => f.write_str("top Via is not ours"),
            ReplyRouteError::NoNextVia => f.write_str("no Via left after ours"),
            ReplyRouteError::BadVia(e) => write!(f, "next Via: {e}"),
            ReplyRouteError::UnknownTransport => f.write_str("next Via has an unknown transport"),
            ReplyRouteError::Broadcast => f.write_str("next Via is a broadcast address"),
            ReplyRouteError::Edit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReplyRouteError {}

/// Where a response goes according to a Via (RFC 3261 §18.2.2 with
/// RFC 3581 §4 rport).
pub fn via_destination(via: &Via<'_>) -> Result<Destination, ReplyRouteError> {
    let (host, port, transport) = via_target(via)?;
    // Hosts are ASCII: the checked conversion is the fast path.
    let host = match std::str::from_utf8(host) {
        Ok(h) => h.to_owned(),
        Err(_) => String::from_utf8_lossy(host).into_owned(),
    };
    Ok(Destination {
        host,
        port,
        transport,
    })
}

/// [`via_destination`]'s host (unbracketed), port and transport, checked
/// the same way, without building the `String`.
fn via_target<'a>(via: &Via<'a>) -> Result<(&'a [u8], u16, Transport), ReplyRouteError> {
    let transport = via.transport.ok_or(ReplyRouteError::UnknownTransport)?;
    let host = via.maddr().or_else(|| via.received()).unwrap_or(via.host);
    let host = unbracket(host);
    let port = match via.rport() {
        Some(Some(p)) if via.maddr().is_none() => p,
        _ => via
            .port
            .unwrap_or_else(|| Destination::default_port(transport)),
    };
    if let Some(IpAddr::V4(ip)) = parse_ip(host) {
        if ip.is_broadcast() {
            return Err(ReplyRouteError::Broadcast);
        }
    }
    Ok((host, port, transport))
}

/// Removes our top Via, applies the script's `edits` and computes the
/// destination from the next Via.
pub fn route_reply(
    msg: &Message,
    edits: &Edits,
    is_ours: impl Fn(&Via<'_>) -> bool,
) -> Result<RoutedReply, ReplyRouteError> {
    let (next_raw, e) = strip_top_via(msg, edits, is_ours)?;
    let next = Via::parse(next_raw).map_err(ReplyRouteError::BadVia)?;
    let dst = via_destination(&next)?;
    let bytes = e.apply(msg).map_err(ReplyRouteError::Edit)?;
    Ok(RoutedReply { bytes, dst })
}

/// A Via parsed and checked before (the top Via of a request a proxy
/// relays), so that a response's next Via with the same text is not
/// parsed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownVia<'a> {
    /// The value as [`Via::raw`] gives it.
    pub(crate) raw: &'a [u8],
    /// [`route_reply`] accepts it as the next Via.
    pub(crate) relayable: bool,
}

impl<'a> KnownVia<'a> {
    pub fn new(via: &Via<'a>) -> KnownVia<'a> {
        KnownVia {
            raw: via.raw,
            relayable: via_target(via).is_ok(),
        }
    }
}

/// The bytes [`route_reply`] sends, refused in the same cases, without
/// building the destination: a stateful proxy sends a response to its
/// transaction's upstream. When the next Via is `known`'s text it is not
/// parsed again.
pub fn reply_bytes(
    msg: &Message,
    edits: &Edits,
    is_ours: impl Fn(&Via<'_>) -> bool,
    known: Option<KnownVia<'_>>,
) -> Result<Vec<u8>, ReplyRouteError> {
    let (next_raw, e) = strip_top_via(msg, edits, is_ours)?;
    match known {
        // `Via::parse` of the same trimmed text gives the same view, which
        // passed `via_target`.
        Some(k) if k.relayable && k.raw == next_raw => {}
        _ => {
            via_target(&Via::parse(next_raw).map_err(ReplyRouteError::BadVia)?)?;
        }
    }
    e.apply(msg).map_err(ReplyRouteError::Edit)
}

/// Checks that the top Via is ours and finds the next one (trimmed, not
/// parsed); returns it and `edits` plus the removal of ours.
fn strip_top_via<'m>(
    msg: &'m Message,
    edits: &Edits,
    is_ours: impl Fn(&Via<'_>) -> bool,
) -> Result<(&'m [u8], Edits), ReplyRouteError> {
    if !msg.is_response() {
        return Err(ReplyRouteError::NotAResponse);
    }
    // The top Via was validated (and kept) by `parse`.
    let top = msg
        .top_via()
        .ok_or(ReplyRouteError::BadVia(ParseError::BadVia))?;
    if !is_ours(&top) {
        return Err(ReplyRouteError::NotOurVia);
    }
    let first = msg
        .header(HeaderName::Via)
        .ok_or(ReplyRouteError::NoNextVia)?;
    let top_end = msg
        .span_of(top.raw)
        .map_or(first.value_range.end, |s| s.end as usize);
    // What follows ours on its line: nothing, or `, <next>[, ...]`.
    let rest =
        trim_start(&msg.as_bytes()[top_end.min(first.value_range.end)..first.value_range.end]);
    let (next_raw, same_line) = match rest.split_first() {
        Some((b',', after)) => (split_commas(after).next(), true),
        Some(_) => (Some(Err(Unbalanced::Angle)), true),
        None => (
            msg.headers_of(HeaderName::Via)
                .nth(1)
                .and_then(|h| split_commas(h.value).next()),
            false,
        ),
    };
    let next_raw = next_raw
        .ok_or(ReplyRouteError::NoNextVia)?
        .map_err(|_| ReplyRouteError::BadVia(ParseError::BadVia))?;
    // Without script edits, a fresh list holds only ours (no copy).
    let mut e = if edits.is_empty() {
        Edits::new()
    } else {
        edits.clone()
    };
    if same_line {
        // Several values on one line: remove ours and the comma after it.
        let start = first.value_range.start;
        let end = msg.span_of(next_raw).map_or(start, |s| s.start as usize);
        e.delete(start..end);
    } else {
        // Ours is the only value on its line: remove the line.
        e.remove_header(&first);
    }
    Ok((next_raw, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    fn reply(vias: &str) -> Message {
        let m = format!(
            "SIP/2.0 200 OK\r\n{vias}From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(m.into_bytes()).unwrap()
    }

    fn ours(v: &Via<'_>) -> bool {
        v.host == b"127.0.0.1"
    }

    #[test]
    fn removes_our_line_and_routes_by_received_and_rport() {
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP pc.example.com:5062;rport=9000;received=192.0.2.5;branch=z9hG4bKb\r\n");
        let r = route_reply(&m, &Edits::new(), ours).unwrap();
        assert_eq!(
            r.dst,
            Destination {
                host: "192.0.2.5".into(),
                port: 9000,
                transport: Transport::Udp
            }
        );
        let out = String::from_utf8(r.bytes).unwrap();
        assert!(out.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc.example.com"));
        assert_eq!(out.matches("Via:").count(), 1);
    }

    #[test]
    fn removes_first_of_comma_separated_vias() {
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa , SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKb\r\n");
        let r = route_reply(&m, &Edits::new(), ours).unwrap();
        assert_eq!(
            r.dst,
            Destination {
                host: "2001:db8::1".into(),
                port: 5060,
                transport: Transport::Tcp
            }
        );
        assert!(String::from_utf8(r.bytes)
            .unwrap()
            .contains("\r\nVia: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKb\r\n"));
    }

    #[test]
    fn maddr_and_tls_default_port() {
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/TLS h.example.com;maddr=239.1.1.1;rport=7\r\n");
        let r = route_reply(&m, &Edits::new(), ours).unwrap();
        assert_eq!(
            r.dst,
            Destination {
                host: "239.1.1.1".into(),
                port: 5061,
                transport: Transport::Tls
            }
        );
    }

    /// `reply_bytes` sends what `route_reply` sends and refuses alike.
    fn same_as_route_reply(m: &Message) {
        let routed = route_reply(m, &Edits::new(), ours).map(|r| r.bytes);
        assert_eq!(reply_bytes(m, &Edits::new(), ours, None), routed);
        // The next Via known beforehand (parsed once) changes nothing.
        if let Some(Ok(v)) = m.vias().nth(1) {
            let k = Some(KnownVia::new(&v));
            assert_eq!(reply_bytes(m, &Edits::new(), ours, k), routed);
        }
        let other = Via::parse(b"SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKz").unwrap();
        let k = Some(KnownVia::new(&other));
        assert_eq!(reply_bytes(m, &Edits::new(), ours, k), routed);
    }

    #[test]
    fn refusals() {
        let m = reply("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP h\r\n");
        assert_eq!(
            route_reply(&m, &Edits::new(), ours),
            Err(ReplyRouteError::NotOurVia)
        );
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa\r\n");
        assert_eq!(
            route_reply(&m, &Edits::new(), ours),
            Err(ReplyRouteError::NoNextVia)
        );
        let m = reply(
            "Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1\r\n",
        );
        assert_eq!(
            route_reply(&m, &Edits::new(), ours),
            Err(ReplyRouteError::Broadcast)
        );
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/QUIC h\r\n");
        assert_eq!(
            route_reply(&m, &Edits::new(), ours),
            Err(ReplyRouteError::UnknownTransport)
        );
        let m = reply("Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/UDP h;;\r\n");
        assert_eq!(
            route_reply(&m, &Edits::new(), ours),
            Err(ReplyRouteError::BadVia(ParseError::BadVia))
        );
    }

    #[test]
    fn reply_bytes_agree_with_route_reply() {
        for vias in [
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP pc.example.com:5062;rport=9000;received=192.0.2.5\r\n",
            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa , SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKb\r\n",
            "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP h\r\n",
            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa\r\n",
            "Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1\r\n",
            "Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/QUIC h\r\n",
            "Via: SIP/2.0/UDP 127.0.0.1\r\nVia: SIP/2.0/UDP h;;\r\n",
        ] {
            same_as_route_reply(&reply(vias));
        }
    }
}
