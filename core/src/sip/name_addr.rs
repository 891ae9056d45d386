//! `name-addr` / `addr-spec` values of From, To, Contact, Route,
//! Record-Route (RFC 3261 §20.10, §20.20, §20.39, §25.1): an optional
//! display name (token sequence or quoted string), a URI in `<>` or bare,
//! and header parameters (`tag`, `expires`, `q`, ...).

use std::borrow::Cow;

use super::error::ParseError;
use super::lex::{
    eq_ic, find_byte, find_top_level, is_lws, is_token, quoted_len, trim, trim_start, unquote,
};
use super::params::{self, Params};
use super::span::{offset_in, Span};
use super::uri::Uri;

/// A name-addr or addr-spec with its parameters, borrowing the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written (quotes kept), if any.
    pub display_name: Option<&'a [u8]>,
    /// The URI text (inside `<>` when bracketed).
    pub uri: &'a [u8],
    /// The raw header parameters, starting with `;`, or empty.
    pub params: &'a [u8],
    /// True when the URI was enclosed in `<>`.
    pub bracketed: bool,
}

/// A [`NameAddr`] stored as spans into its message buffer (see
/// [`super::via::ViaSpans`]), with its `tag` parameter found once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NameAddrSpans {
    display_name: Option<Span>,
    uri: Span,
    params: Span,
    bracketed: bool,
    pub(crate) tag: Option<Span>,
}

impl NameAddrSpans {
    /// The spans of `na`, whose slices all borrow `buf`, with its tag
    /// already found (by [`NameAddr::parse_tagged`]).
    pub(crate) fn of_tagged(na: &NameAddr<'_>, tag: Option<&[u8]>, buf: &[u8]) -> NameAddrSpans {
        let sp =
            |s: &[u8]| offset_in(buf, s).map_or(Span::default(), |r| Span::new(r.start, r.end));
        NameAddrSpans {
            display_name: na.display_name.map(sp),
            uri: sp(na.uri),
            params: sp(na.params),
            bracketed: na.bracketed,
            tag: tag.map(sp),
        }
    }

    /// The view again, borrowing `buf`.
    #[inline]
    pub(crate) fn view<'a>(&self, buf: &'a [u8]) -> NameAddr<'a> {
        NameAddr {
            display_name: self.display_name.map(|s| s.of(buf)),
            uri: self.uri.of(buf),
            params: self.params.of(buf),
            bracketed: self.bracketed,
        }
    }
}

impl<'a> NameAddr<'a> {
    /// Parses one value (no top-level commas expected). The URI is
    /// validated with [`Uri::parse`], any scheme accepted.
    pub fn parse(value: &'a [u8]) -> Result<NameAddr<'a>, ParseError> {
        Self::parse_tagged(value).map(|(na, _)| na)
    }

    /// [`NameAddr::parse`], also giving the `tag` parameter found while
    /// the parameters are validated (one pass instead of two).
    pub(crate) fn parse_tagged(
        value: &'a [u8],
    ) -> Result<(NameAddr<'a>, Option<&'a [u8]>), ParseError> {
        let s = trim(value);
        if s.is_empty() {
            return Err(ParseError::BadNameAddr);
        }
        let na = if s[0] == b'"' {
            let q = quoted_len(s).ok_or(ParseError::UnterminatedQuote)?;
            let rest = trim_start(&s[q..]);
            if rest.first() != Some(&b'<') {
                return Err(ParseError::BadNameAddr);
            }
            Self::bracketed(Some(&s[..q]), rest)?
        } else if let Some(lt) = find_byte(s, b'<') {
            let dn = trim(&s[..lt]);
            if !dn.iter().all(|&b| is_token(b) || is_lws(b)) {
                return Err(ParseError::BadDisplayName);
            }
            Self::bracketed((!dn.is_empty()).then_some(dn), &s[lt..])?
        } else {
            // addr-spec: the URI ends at the first ';' or white space, and
            // must not contain '?' or ',' (RFC 3261 §20.10).
            let end = s
                .iter()
                .position(|&b| b == b';' || is_lws(b))
                .unwrap_or(s.len());
            let uri = &s[..end];
            if uri.iter().any(|&b| matches!(b, b'?' | b',' | b'"' | b'>')) {
                return Err(ParseError::BadNameAddr);
            }
            let params = trim_start(&s[end..]);
            NameAddr {
                display_name: None,
                uri,
                params,
                bracketed: false,
            }
        };
        Uri::validate(na.uri)?;
        let mut tag = None;
        for p in Params::new(na.params) {
            let p = p?;
            if tag.is_none() && eq_ic(p.name, b"tag") {
                // `tag()` is the first `tag` parameter's value (None when
                // it has none).
                tag = Some(p.value);
            }
        }
        Ok((na, tag.flatten()))
    }

    fn bracketed(dn: Option<&'a [u8]>, s: &'a [u8]) -> Result<NameAddr<'a>, ParseError> {
        debug_assert_eq!(s[0], b'<');
        let gt = memchr::memchr(b'>', s).ok_or(ParseError::BadNameAddr)?;
        // White space inside the brackets is `BadUri`: the caller parses
        // the URI right after, and `Uri::parse` rejects it with that error.
        let uri = &s[1..gt];
        Ok(NameAddr {
            display_name: dn,
            uri,
            params: trim_start(&s[gt + 1..]),
            bracketed: true,
        })
    }

    /// Parses a header value holding one or more comma-separated
    /// name-addrs (Contact, Route, Record-Route) and returns the first one.
    pub fn parse_first(value: &'a [u8]) -> Result<NameAddr<'a>, ParseError> {
        match find_top_level(value, b',') {
            Ok(Some(i)) => NameAddr::parse(&value[..i]),
            Ok(None) => NameAddr::parse(value),
            Err(super::lex::Unbalanced::Quote) => Err(ParseError::UnterminatedQuote),
            Err(super::lex::Unbalanced::Angle) => Err(ParseError::BadNameAddr),
        }
    }

    /// The URI, parsed.
    pub fn parsed_uri(&self) -> Result<Uri<'a>, ParseError> {
        Uri::parse(self.uri)
    }

    /// The display name without quotes and quoted-pair backslashes.
    pub fn display_name_unquoted(&self) -> Option<Cow<'a, [u8]>> {
        let dn = self.display_name?;
        Some(match dn {
            [b'"', inner @ .., b'"'] => unquote(inner),
            _ => Cow::Borrowed(dn),
        })
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.param(b"tag").flatten()
    }

    /// A header parameter by name: `Some(None)` when present without value.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.params, name)
    }

    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name_with_escapes() {
        let na = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(na.uri, b"sip:jdrosen@example.com");
        assert_eq!(na.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(&*na.display_name_unquoted().unwrap(), b"J Rosenberg \\\"");
    }

    #[test]
    fn addr_spec_with_params() {
        let na =
            NameAddr::parse(b"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert!(!na.bracketed);
        assert_eq!(na.uri, b"sip:vivekg@chair-dnrc.example.com");
        assert_eq!(na.tag(), Some(&b"1918181833n"[..]));
        let na = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(na.display_name, Some(&b"caller"[..]));
    }

    #[test]
    fn rejects_torture_cases() {
        assert_eq!(
            NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").unwrap_err(),
            ParseError::UnterminatedQuote
        );
        assert_eq!(
            NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43").unwrap_err(),
            ParseError::BadDisplayName
        );
        assert_eq!(
            NameAddr::parse(b"\"Watson, Thomas\" < sip:t.watson@example.org >").unwrap_err(),
            ParseError::BadUri
        );
        assert_eq!(
            NameAddr::parse(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E").unwrap_err(),
            ParseError::BadNameAddr
        );
        assert_eq!(
            NameAddr::parse(b"<sip:a@b").unwrap_err(),
            ParseError::BadNameAddr
        );
        assert_eq!(
            NameAddr::parse(b"<sip:a@b>;;").unwrap_err(),
            ParseError::BadParam
        );
        assert_eq!(NameAddr::parse(b"").unwrap_err(), ParseError::BadNameAddr);
    }

    #[test]
    fn first_of_a_list() {
        let na = NameAddr::parse_first(b"<sip:a@b;lr>, <sip:c@d>").unwrap();
        assert_eq!(na.uri, b"sip:a@b;lr");
        assert!(na.parsed_uri().unwrap().has_lr());
    }
}
