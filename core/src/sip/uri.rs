//! URIs (RFC 3261 §19.1, §25.1; RFC 3966 `tel`): a view borrowing the
//! bytes. SIP and SIPS URIs are split into user, password, host, port,
//! parameters and headers; `tel` keeps the number as `user`; any other
//! scheme is kept as an absolute URI (scheme + opaque part), and
//! [`Uri::require_sip`] turns it into [`ParseError::UnsupportedScheme`]
//! where a SIP URI is needed. Escapes are left in place; decode with
//! [`crate::sip::lex::unescape`] when comparing.

use std::borrow::Cow;

use super::error::ParseError;
use super::host::{parse_hostport, unbracket, HostKind};
use super::lex::{eq_ic, find_byte, is, unescape, C_SCHEME, C_URI_FORBIDDEN, C_URI_MARK};
use super::params::{self, Params};
use crate::transport::Transport;

/// A URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other scheme; the URI is opaque.
    Other,
}

/// A parsed URI borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written.
    pub raw: &'a [u8],
    pub scheme: Scheme,
    /// The scheme as written (`sip`, `SIPS`, `isbn`, ...).
    pub scheme_bytes: &'a [u8],
    /// The user part, escapes kept; for `tel` the number.
    pub user: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    /// The host as written (IPv6 with brackets); empty for tel/other.
    pub host: &'a [u8],
    pub host_kind: HostKind,
    pub port: Option<u16>,
    /// The raw parameter list, starting with `;`, or empty.
    pub params: &'a [u8],
    /// The raw header list after `?`, or empty.
    pub headers: &'a [u8],
    /// Everything after `scheme:` (the whole body for `Other`).
    pub opaque: &'a [u8],
}

/// The index of the colon ending a well-formed scheme at the start of `s`
/// (ALPHA followed by alphanumerics, `+`, `-`, `.`).
fn is_scheme_start(s: &[u8]) -> Option<usize> {
    if !s.first()?.is_ascii_alphabetic() {
        return None;
    }
    for (i, &b) in s.iter().enumerate().skip(1) {
        if b == b':' {
            return Some(i);
        }
        if !is(b, C_SCHEME) {
            return None;
        }
    }
    None
}

/// Where the delimiters of a SIP URI body lie, found in one pass: the
/// first `@`, then (after it, or from the start without one) the first
/// `?` and the first `;` before that `?`.
#[derive(Clone, Copy)]
struct Marks {
    at: Option<usize>,
    question: Option<usize>,
    semi: Option<usize>,
}

/// Checks that `body` has no byte a URI never contains unescaped
/// (controls, white space, `<>"`) and finds its [`Marks`].
#[inline]
fn scan_body(body: &[u8]) -> Result<Marks, ParseError> {
    let mut m = Marks {
        at: None,
        question: None,
        semi: None,
    };
    for (i, &b) in body.iter().enumerate() {
        if !is(b, C_URI_FORBIDDEN | C_URI_MARK) {
            continue;
        }
        match b {
            b'@' => {
                if m.at.is_none() {
                    // The host part starts here: delimiters seen in the
                    // user part do not count.
                    m = Marks {
                        at: Some(i),
                        question: None,
                        semi: None,
                    };
                }
            }
            b'?' => {
                if m.question.is_none() {
                    m.question = Some(i);
                }
            }
            b';' => {
                if m.semi.is_none() && m.question.is_none() {
                    m.semi = Some(i);
                }
            }
            _ => return Err(ParseError::BadUri),
        }
    }
    Ok(m)
}

impl<'a> Uri<'a> {
    /// Parses an absolute URI.
    #[inline]
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, ParseError> {
        Self::parse_inlined(s)
    }

    /// Checks that `s` is what [`Uri::parse`] accepts, without handing the
    /// view out (inlined, the fields nobody reads are never written).
    pub(crate) fn validate(s: &'a [u8]) -> Result<(), ParseError> {
        Self::parse_inlined(s).map(|_| ())
    }

    #[inline(always)]
    fn parse_inlined(s: &'a [u8]) -> Result<Uri<'a>, ParseError> {
        let colon = is_scheme_start(s).ok_or(ParseError::BadUri)?;
        let scheme_bytes = &s[..colon];
        let body = &s[colon + 1..];
        // Scheme characters are never forbidden, so scanning the body is
        // scanning the URI. The same pass finds the delimiters of a SIP URI.
        let marks = scan_body(body)?;
        let scheme = if eq_ic(scheme_bytes, b"sip") {
            Scheme::Sip
        } else if eq_ic(scheme_bytes, b"sips") {
            Scheme::Sips
        } else if eq_ic(scheme_bytes, b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let mut uri = Uri {
            raw: s,
            scheme,
            scheme_bytes,
            user: None,
            password: None,
            host: &[],
            host_kind: HostKind::Name,
            port: None,
            params: &[],
            headers: &[],
            opaque: body,
        };
        if body.is_empty() {
            return Err(ParseError::BadUri);
        }
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(body, marks)?,
            Scheme::Tel => {
                let semi = find_byte(body, b';').unwrap_or(body.len());
                if semi == 0 {
                    return Err(ParseError::BadUri);
                }
                uri.user = Some(&body[..semi]);
                uri.params = &body[semi..];
                params::validate(uri.params)?;
            }
            Scheme::Other => {}
        }
        Ok(uri)
    }

    #[inline(always)]
    fn parse_sip(&mut self, body: &'a [u8], marks: Marks) -> Result<(), ParseError> {
        let hostpart = match marks.at {
            Some(at) => {
                let userinfo = &body[..at];
                let (user, password) = match find_byte(userinfo, b':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(ParseError::BadUri);
                }
                self.user = Some(user);
                self.password = password;
                &body[at + 1..]
            }
            None => body,
        };
        // `marks` index `body`; `hostpart` is the tail of `body`.
        let base = body.len() - hostpart.len();
        let question = marks.question.map(|q| q - base);
        let (before_headers, headers) = match question {
            Some(q) => (&hostpart[..q], &hostpart[q + 1..]),
            None => (hostpart, &hostpart[hostpart.len()..]),
        };
        let semi = marks.semi.map_or(before_headers.len(), |i| i - base);
        let hp = parse_hostport(&before_headers[..semi])?;
        self.host = hp.host;
        self.host_kind = hp.kind;
        self.port = hp.port;
        self.params = &before_headers[semi..];
        params::validate(self.params)?;
        if question.is_some() && headers.is_empty() {
            return Err(ParseError::BadUri);
        }
        self.headers = headers;
        Ok(())
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// This URI if it is `sip:`/`sips:`, else `UnsupportedScheme`.
    pub fn require_sip(self) -> Result<Uri<'a>, ParseError> {
        if self.is_sip() {
            Ok(self)
        } else {
            Err(ParseError::UnsupportedScheme)
        }
    }

    /// The host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &'a [u8] {
        unbracket(self.host)
    }

    /// The user part with `%HH` escapes decoded.
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(unescape)
    }

    /// Iterates the URI parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// A parameter by name: `Some(None)` when present without value.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.params, name)
    }

    /// The `transport=` parameter, when it names a transport we know.
    pub fn transport(&self) -> Option<Transport> {
        self.param(b"transport")
            .flatten()
            .and_then(Transport::from_bytes)
    }

    /// The `transport=` parameter as written.
    pub fn transport_bytes(&self) -> Option<&'a [u8]> {
        self.param(b"transport").flatten()
    }

    /// True when the `lr` parameter is present (RFC 3261 §19.1.1).
    pub fn has_lr(&self) -> bool {
        self.param(b"lr").is_some()
    }

    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.param(b"maddr").flatten()
    }

    /// Iterates `?name=value&...` headers as (name, value) pairs, escapes
    /// kept.
    pub fn header_fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        let h = self.headers;
        h.split(|&b| b == b'&')
            .filter(|f| !f.is_empty())
            .map(|f| match memchr::memchr(b'=', f) {
                Some(i) => (&f[..i], &f[i + 1..]),
                None => (f, &f[f.len()..]),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse(b"sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?Subject=hi&X=y")
            .unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"pw"[..]));
        assert_eq!(u.host, b"[2001:db8::1]");
        assert_eq!(u.host_unbracketed(), b"2001:db8::1");
        assert_eq!(u.host_kind, HostKind::Ipv6);
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some(Transport::Tcp));
        assert!(u.has_lr());
        let h: Vec<_> = u.header_fields().collect();
        assert_eq!(
            h,
            vec![(&b"Subject"[..], &b"hi"[..]), (&b"X"[..], &b"y"[..])]
        );
    }

    #[test]
    fn user_with_reserved_characters() {
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host, b"example.com");
        let u = Uri::parse(b"sip:%75se%72@example.com").unwrap();
        assert_eq!(&*u.user_unescaped().unwrap(), b"user");
    }

    #[test]
    fn tel_and_other_schemes() {
        let u = Uri::parse(b"tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user, Some(&b"+1-201-555-0123"[..]));
        assert_eq!(u.param(b"phone-context"), Some(Some(&b"example.com"[..])));
        let u = Uri::parse(b"soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other);
        assert_eq!(u.opaque, b"//192.0.2.103:3002");
        assert_eq!(u.require_sip().unwrap_err(), ParseError::UnsupportedScheme);
    }

    #[test]
    fn malformed_uris() {
        assert_eq!(Uri::parse(b"<sip:a@b>").unwrap_err(), ParseError::BadUri);
        assert_eq!(Uri::parse(b"sip:a@b c").unwrap_err(), ParseError::BadUri);
        assert_eq!(Uri::parse(b"sip:").unwrap_err(), ParseError::BadUri);
        assert_eq!(Uri::parse(b"sip:@host").unwrap_err(), ParseError::BadUri);
        assert_eq!(
            Uri::parse(b"sip:2001:db8::10").unwrap_err(),
            ParseError::BadHost
        );
        assert_eq!(
            Uri::parse(b"sip:host;;x").unwrap_err(),
            ParseError::BadParam
        );
        assert_eq!(Uri::parse(b"sip:host?").unwrap_err(), ParseError::BadUri);
        assert_eq!(Uri::parse(b"1abc:x").unwrap_err(), ParseError::BadUri);
    }
}
