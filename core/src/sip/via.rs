//! Via values (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`): protocol,
//! transport, sent-by and parameters. LWS is allowed around `/`, `:`, `;`
//! and `=` (RFC 3261 §25.1 SLASH, COLON, SEMI, EQUAL).

use std::net::IpAddr;

use super::error::ParseError;
use super::host::{classify_host, parse_ip, parse_port, unbracket, HostKind};
use super::lex::{eq_ic, is_lws, parse_decimal, skip_class, trim, trim_start, C_TOKEN};
use super::params::{self, Params};
use super::span::{offset_in, Span};
use crate::transport::Transport;

/// The RFC 3261 branch prefix (§8.1.1.7).
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// One Via value, borrowing the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The whole value as written.
    pub raw: &'a [u8],
    /// `SIP`.
    pub protocol: &'a [u8],
    /// `2.0`.
    pub version: &'a [u8],
    /// The transport as written (`UDP`, `UNKNOWN`, ...).
    pub transport_bytes: &'a [u8],
    /// The transport when it is one we know.
    pub transport: Option<Transport>,
    /// The sent-by host as written (IPv6 with brackets).
    pub host: &'a [u8],
    pub host_kind: HostKind,
    pub port: Option<u16>,
    /// `host[:port]` as written (covers any LWS around the colon).
    pub sent_by: &'a [u8],
    /// The raw parameters, starting with `;`, or empty.
    pub params: &'a [u8],
    /// `branch`, `received`, `rport`, `maddr` as [`Via::param`] gives them,
    /// found while [`Via::parse`] validates the list.
    known: Known<'a>,
}

impl std::fmt::Debug for Via<'_> {
    /// The public fields (`known` repeats what `params` holds).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Via")
            .field("raw", &self.raw)
            .field("protocol", &self.protocol)
            .field("version", &self.version)
            .field("transport_bytes", &self.transport_bytes)
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("host_kind", &self.host_kind)
            .field("port", &self.port)
            .field("sent_by", &self.sent_by)
            .field("params", &self.params)
            .finish()
    }
}

/// The parameters the proxy reads on every message: `None` when absent,
/// `Some(None)` when present without a value, else the first one's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Known<'a> {
    branch: Option<Option<&'a [u8]>>,
    received: Option<Option<&'a [u8]>>,
    rport: Option<Option<&'a [u8]>>,
    maddr: Option<Option<&'a [u8]>>,
}

/// [`Known`] as spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct KnownSpans {
    branch: Option<Option<Span>>,
    received: Option<Option<Span>>,
    rport: Option<Option<Span>>,
    maddr: Option<Option<Span>>,
}

/// A [`Via`] stored as spans into its message buffer, so a message can
/// keep the top Via it validated during parse and hand it out again
/// without parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ViaSpans {
    raw: Span,
    protocol: Span,
    version: Span,
    transport_bytes: Span,
    transport: Option<Transport>,
    host: Span,
    host_kind: HostKind,
    port: Option<u16>,
    sent_by: Span,
    params: Span,
    known: KnownSpans,
}

impl ViaSpans {
    /// The spans of `v`, whose slices all borrow `buf`.
    pub(crate) fn of(v: &Via<'_>, buf: &[u8]) -> ViaSpans {
        let sp =
            |s: &[u8]| offset_in(buf, s).map_or(Span::default(), |r| Span::new(r.start, r.end));
        ViaSpans {
            raw: sp(v.raw),
            protocol: sp(v.protocol),
            version: sp(v.version),
            transport_bytes: sp(v.transport_bytes),
            transport: v.transport,
            host: sp(v.host),
            host_kind: v.host_kind,
            port: v.port,
            sent_by: sp(v.sent_by),
            params: sp(v.params),
            known: KnownSpans {
                branch: v.known.branch.map(|o| o.map(sp)),
                received: v.known.received.map(|o| o.map(sp)),
                rport: v.known.rport.map(|o| o.map(sp)),
                maddr: v.known.maddr.map(|o| o.map(sp)),
            },
        }
    }

    /// The view again, borrowing `buf` (always inlined: callers reading a
    /// few fields do not pay for the others).
    #[inline(always)]
    pub(crate) fn view<'a>(&self, buf: &'a [u8]) -> Via<'a> {
        Via {
            raw: self.raw.of(buf),
            protocol: self.protocol.of(buf),
            version: self.version.of(buf),
            transport_bytes: self.transport_bytes.of(buf),
            transport: self.transport,
            host: self.host.of(buf),
            host_kind: self.host_kind,
            port: self.port,
            sent_by: self.sent_by.of(buf),
            params: self.params.of(buf),
            known: Known {
                branch: self.known.branch.map(|o| o.map(|s| s.of(buf))),
                received: self.known.received.map(|o| o.map(|s| s.of(buf))),
                rport: self.known.rport.map(|o| o.map(|s| s.of(buf))),
                maddr: self.known.maddr.map(|o| o.map(|s| s.of(buf))),
            },
        }
    }
}

fn take_token(s: &[u8]) -> (&[u8], &[u8]) {
    let n = skip_class(s, 0, C_TOKEN);
    (&s[..n], trim_start(&s[n..]))
}

fn expect_slash(s: &[u8]) -> Result<&[u8], ParseError> {
    match s.first() {
        Some(b'/') => Ok(trim_start(&s[1..])),
        _ => Err(ParseError::BadVia),
    }
}

impl<'a> Via<'a> {
    /// Parses one Via value (one element of a comma-separated list).
    pub fn parse(value: &'a [u8]) -> Result<Via<'a>, ParseError> {
        let raw = trim(value);
        let (protocol, version, s) = if raw.starts_with(b"SIP/2.0/") {
            // What every implementation sends: no LWS inside the protocol.
            (&raw[..3], &raw[4..7], trim_start(&raw[8..]))
        } else {
            let (protocol, s) = take_token(raw);
            let s = expect_slash(s)?;
            let (version, s) = take_token(s);
            (protocol, version, expect_slash(s)?)
        };
        let n = skip_class(s, 0, C_TOKEN);
        let transport_bytes = &s[..n];
        if !eq_ic(protocol, b"SIP") || version != b"2.0" || n == 0 {
            return Err(ParseError::BadVia);
        }
        let after = &s[n..];
        if !after.first().is_some_and(|&b| is_lws(b)) {
            return Err(ParseError::BadVia);
        }
        let sent_by_start = trim_start(after);
        let host_len = if sent_by_start.first() == Some(&b'[') {
            memchr::memchr(b']', sent_by_start).ok_or(ParseError::BadVia)? + 1
        } else {
            sent_by_start
                .iter()
                .position(|&b| is_lws(b) || b == b':' || b == b';')
                .unwrap_or(sent_by_start.len())
        };
        let host = &sent_by_start[..host_len];
        let host_kind = classify_host(host).map_err(|_| ParseError::BadVia)?;
        let mut rest = trim_start(&sent_by_start[host_len..]);
        let mut sent_by_len = host_len;
        let mut port = None;
        if rest.first() == Some(&b':') {
            let p = trim_start(&rest[1..]);
            let digits = p.iter().take_while(|b| b.is_ascii_digit()).count();
            port = Some(parse_port(&p[..digits]).map_err(|_| ParseError::BadVia)?);
            let port_end = &p[digits..];
            sent_by_len = sent_by_start.len() - port_end.len();
            rest = trim_start(port_end);
        }
        let mut via = Via {
            raw,
            protocol,
            version,
            transport_bytes,
            transport: Transport::from_bytes(transport_bytes),
            host,
            host_kind,
            port,
            sent_by: &sent_by_start[..sent_by_len],
            params: rest,
            known: Known::default(),
        };
        via.known = via.validate_params()?;
        Ok(via)
    }

    /// Checks the parameters the proxy interprets, noting where the first
    /// of each of them is.
    fn validate_params(&self) -> Result<Known<'a>, ParseError> {
        let mut known = Known::default();
        let mut params = self.params();
        while let Some(p) = params.next_classed() {
            let (p, class) = p.map_err(|_| ParseError::BadVia)?;
            let first = |slot: &mut Option<Option<&'a [u8]>>| {
                if slot.is_none() {
                    *slot = Some(p.value);
                }
            };
            // Dispatch on the length so most names cost one comparison.
            let ok = match p.name.len() {
                6 if eq_ic(p.name, b"branch") => {
                    first(&mut known.branch);
                    // Every byte of the (unquoted) value is a token byte.
                    p.value.is_some() && class & C_TOKEN != 0
                }
                8 if eq_ic(p.name, b"received") => {
                    first(&mut known.received);
                    p.value.and_then(parse_ip).is_some()
                }
                5 if eq_ic(p.name, b"rport") => {
                    first(&mut known.rport);
                    p.value.is_none_or(|v| parse_port(v).is_ok())
                }
                3 if eq_ic(p.name, b"ttl") => p.value.and_then(|v| parse_decimal(v, 255)).is_some(),
                5 if eq_ic(p.name, b"maddr") => {
                    first(&mut known.maddr);
                    p.value.is_some_and(|v| classify_host(v).is_ok())
                }
                _ => true,
            };
            if !ok {
                return Err(ParseError::BadVia);
            }
        }
        Ok(known)
    }

    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// A parameter by name: `Some(None)` when present without value.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.params, name)
    }

    pub fn branch(&self) -> Option<&'a [u8]> {
        self.known.branch.flatten()
    }

    /// True when the branch starts with the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// `received=` as written (RFC 5118 allows IPv6 with or without
    /// brackets).
    pub fn received(&self) -> Option<&'a [u8]> {
        self.known.received.flatten()
    }

    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received().and_then(parse_ip)
    }

    /// RFC 3581 rport: None when absent, `Some(None)` when present without
    /// a value, `Some(Some(port))` with one.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.known.rport.map(|v| v.and_then(|p| parse_port(p).ok()))
    }

    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.known.maddr.flatten()
    }

    pub fn ttl(&self) -> Option<u8> {
        self.param(b"ttl")
            .flatten()
            .and_then(|v| parse_decimal(v, 255))
            .map(|v| v as u8)
    }

    /// The sent-by host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &'a [u8] {
        unbracket(self.host)
    }

    /// The sent-by host as an IP when it is a literal.
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_via_with_lws_everywhere() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, Some(Transport::Udp));
        assert_eq!(v.host, b"192.0.2.2");
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.host, b"spindle.example.com");
        assert_eq!(v.branch(), Some(&b"z9hG4bK9ikj8"[..]));
    }

    #[test]
    fn sent_by_port_rport_received() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9:1]:6050;rport;received=2001:db8::9:255;branch=z9hG4bKx",
        )
        .unwrap();
        assert_eq!(v.host_kind, HostKind::Ipv6);
        assert_eq!(v.host_unbracketed(), b"2001:db8::9:1");
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.sent_by, b"[2001:db8::9:1]:6050");
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received_ip(), Some("2001:db8::9:255".parse().unwrap()));
        let v = Via::parse(b"SIP/2.0/TCP h : 5062 ;rport=1234;received=[2001:db8::9:255];ttl=3")
            .unwrap();
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.sent_by, b"h : 5062");
        assert_eq!(v.rport(), Some(Some(1234)));
        assert_eq!(v.ttl(), Some(3));
        assert!(v.received_ip().is_some());
        let v = Via::parse(b"SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en").unwrap();
        assert_eq!(v.transport, None);
        assert_eq!(v.transport_bytes, b"UNKNOWN");
    }

    #[test]
    fn malformed_vias() {
        for bad in [
            &b"SIP/2.0/UDP 192.0.2.15;;"[..],
            b"SIP/7.0/UDP c.example.com",
            b"SIP/2.0/UDP",
            b"SIP/2.0 host",
            b"SIP/2.0/UDP host:70000",
            b"SIP/2.0/UDP host;branch",
            b"SIP/2.0/UDP host;received=example.com",
            b"SIP/2.0/UDP host;rport=x",
            b"SIP/2.0/UDP host junk",
            b"SIP/2.0/UDPhost",
        ] {
            assert_eq!(
                Via::parse(bad),
                Err(ParseError::BadVia),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
