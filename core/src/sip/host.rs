//! `hostport` (RFC 3261 §25.1): a host name, an IPv4 address or an IPv6
//! reference in brackets (RFC 5118; RFC 5954 fixes the IPv6 ABNF, so three
//! colons in a row are rejected), and an optional port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::ParseError;
use super::lex::{find_byte, is, C_LABEL};

/// What kind of host a [`HostPort`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKind {
    #[default]
    Name,
    Ipv4,
    /// An IPv6 reference; the host bytes include the brackets.
    Ipv6,
}

/// A parsed host and optional port, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort<'a> {
    /// The host as written (IPv6 with its brackets).
    pub host: &'a [u8],
    pub kind: HostKind,
    pub port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// The host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &'a [u8] {
        unbracket(self.host)
    }

    /// The host as an IP address when it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }
}

/// Strips `[` `]` around an IPv6 reference.
pub fn unbracket(h: &[u8]) -> &[u8] {
    match h {
        [b'[', inner @ .., b']'] => inner,
        _ => h,
    }
}

/// Parses an IP literal, IPv6 with or without brackets.
pub fn parse_ip(h: &[u8]) -> Option<IpAddr> {
    if h.first().is_some_and(u8::is_ascii_digit) {
        if let Some(v4) = parse_ipv4(h) {
            return Some(IpAddr::V4(v4));
        }
    }
    let inner = unbracket(h);
    if inner.len() == h.len() && find_byte(h, b':').is_none() {
        return parse_ipv4(h).map(IpAddr::V4);
    }
    let s = std::str::from_utf8(inner).ok()?;
    s.parse().ok()
}

/// Parses a dotted-quad IPv4 address without going through `str`, with
/// the standard library's rules: four decimal octets of at most three
/// digits, no leading zeros, each at most 255.
pub fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let digit = |i: usize| -> Option<u32> {
        let d = s.get(i)?.wrapping_sub(b'0');
        (d <= 9).then_some(u32::from(d))
    };
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        // One to three digits, no leading zero, at most 255.
        let mut v = digit(i)?;
        i += 1;
        if let Some(d) = digit(i) {
            if v == 0 {
                return None;
            }
            v = v * 10 + d;
            i += 1;
            if let Some(d) = digit(i) {
                v = v * 10 + d;
                i += 1;
            }
        }
        if v > 255 {
            return None;
        }
        *octet = v as u8;
    }
    (i == s.len()).then_some(Ipv4Addr::from(octets))
}

/// Parses `host [":" port]` with nothing else around it.
pub fn parse_hostport(s: &[u8]) -> Result<HostPort<'_>, ParseError> {
    let (host, rest) = if s.first() == Some(&b'[') {
        let close = find_byte(s, b']').ok_or(ParseError::BadHost)?;
        (&s[..=close], &s[close + 1..])
    } else {
        match find_byte(s, b':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, &s[s.len()..]),
        }
    };
    let kind = classify_host(host)?;
    let port = match rest {
        [] => None,
        [b':', digits @ ..] => Some(parse_port(digits)?),
        _ => return Err(ParseError::BadHost),
    };
    Ok(HostPort { host, kind, port })
}

/// Parses a port number (1*DIGIT, at most 65535).
pub fn parse_port(digits: &[u8]) -> Result<u16, ParseError> {
    if (1..=5).contains(&digits.len()) {
        // Five digits cannot overflow a u32.
        let mut v: u32 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(ParseError::BadPort);
            }
            v = v * 10 + u32::from(d);
        }
        return u16::try_from(v).map_err(|_| ParseError::BadPort);
    }
    super::lex::parse_decimal(digits, u64::from(u16::MAX))
        .map(|p| p as u16)
        .ok_or(ParseError::BadPort)
}

/// Validates a host and says which kind it is.
pub fn classify_host(host: &[u8]) -> Result<HostKind, ParseError> {
    if host.first() == Some(&b'[') {
        let inner = unbracket(host);
        if inner.len() + 2 != host.len() {
            return Err(ParseError::BadHost);
        }
        let ok = std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some();
        return if ok {
            Ok(HostKind::Ipv6)
        } else {
            Err(ParseError::BadHost)
        };
    }
    if host.is_empty() {
        return Err(ParseError::BadHost);
    }
    // A literal is tried first (the usual case for SIP over IP); a host of
    // digits and dots that is no IPv4 address is an error.
    if host[0].is_ascii_digit() {
        if parse_ipv4(host).is_some() {
            return Ok(HostKind::Ipv4);
        }
        if host.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            return Err(ParseError::BadHost);
        }
    }
    // hostname = *( domainlabel "." ) toplabel [ "." ]; '_' tolerated as
    // deployed software emits it. One pass: labels are non-empty runs of
    // alphanumerics, `-`, `_` separated by single dots.
    let name = host.strip_suffix(b".").unwrap_or(host);
    let mut label_len = 0usize;
    let mut labels_ok = true;
    for &b in name {
        if b == b'.' {
            if label_len == 0 {
                labels_ok = false;
                break;
            }
            label_len = 0;
        } else if is(b, C_LABEL) {
            label_len += 1;
        } else {
            labels_ok = false;
            break;
        }
    }
    let labels_ok = labels_ok && label_len > 0;
    if labels_ok {
        Ok(HostKind::Name)
    } else {
        Err(ParseError::BadHost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ipv4_ipv6() {
        let h = parse_hostport(b"example.com:5070").unwrap();
        assert_eq!(
            (h.host, h.kind, h.port),
            (&b"example.com"[..], HostKind::Name, Some(5070))
        );
        let h = parse_hostport(b"192.0.2.1").unwrap();
        assert_eq!((h.kind, h.port), (HostKind::Ipv4, None));
        let h = parse_hostport(b"[2001:db8::10]:5070").unwrap();
        assert_eq!(h.host_unbracketed(), b"2001:db8::10");
        assert_eq!(h.port, Some(5070));
        let h = parse_hostport(b"[2001:db8::10:5070]").unwrap();
        assert_eq!(h.port, None);
        assert_eq!(h.ip(), Some("2001:db8::10:5070".parse().unwrap()));
    }

    #[test]
    fn ipv4_parser_agrees_with_std() {
        for s in [
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "01.1.1.1",
            "1.1.1.01",
            "1.1.1",
            "1.1.1.1.",
            "1.1.1.1.1",
            "1..1.1",
            "1111.1.1.1",
            "1.1.1.1 ",
            "",
            "a.b.c.d",
            "10.0.0.100",
        ] {
            assert_eq!(
                parse_ipv4(s.as_bytes()),
                s.parse::<Ipv4Addr>().ok(),
                "{s:?}"
            );
        }
        assert_eq!(parse_ip(b"[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip(b"::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip(b"[1.2.3.4]"), Some("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_hosts_and_ports() {
        assert_eq!(
            parse_hostport(b"2001:db8::10").unwrap_err(),
            ParseError::BadHost
        );
        assert_eq!(
            parse_hostport(b"[2001:db8:::192.0.2.1]").unwrap_err(),
            ParseError::BadHost
        );
        assert_eq!(
            parse_hostport(b"host:99999").unwrap_err(),
            ParseError::BadPort
        );
        assert_eq!(parse_hostport(b"host:").unwrap_err(), ParseError::BadPort);
        assert_eq!(parse_hostport(b"").unwrap_err(), ParseError::BadHost);
        assert_eq!(parse_hostport(b"a..b").unwrap_err(), ParseError::BadHost);
        assert_eq!(
            parse_hostport(b"999.1.1.1").unwrap_err(),
            ParseError::BadHost
        );
        assert_eq!(parse_hostport(b"[::1]x").unwrap_err(), ParseError::BadHost);
    }
}
