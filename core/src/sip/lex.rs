//! Lexical helpers shared by the header parsers (RFC 3261 §25.1): linear
//! white space (folding included), tokens, quoted strings, comma splitting
//! that respects quotes and angle brackets, bounded decimal numbers.

/// Byte classes, one bit each in [`CLASS`], so the scanners test a byte
/// with one load instead of a chain of comparisons.
pub(crate) const C_TOKEN: u8 = 1;
/// SP, HTAB, CR, LF.
pub(crate) const C_LWS: u8 = 2;
/// Bytes of a parameter name (not LWS, not `;=,"<>?`).
pub(crate) const C_PNAME: u8 = 4;
/// Bytes of an unquoted parameter value (not LWS, not `;,"<>`).
pub(crate) const C_PVALUE: u8 = 8;
/// Bytes a URI never contains unescaped: controls, white space, `<>"`, DEL.
pub(crate) const C_URI_FORBIDDEN: u8 = 16;
/// Bytes of a host name label: alphanumerics, `-`, `_`.
pub(crate) const C_LABEL: u8 = 32;
/// Scheme characters after the first: alphanumerics, `+`, `-`, `.`.
pub(crate) const C_SCHEME: u8 = 64;

/// The delimiters of a SIP URI: `@`, `?`, `;`.
pub(crate) const C_URI_MARK: u8 = 128;

/// The byte class table (RFC 3261 §25.1 classes).
pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut k = 0;
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            k |= C_TOKEN;
        }
        let lws = matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        if lws {
            k |= C_LWS;
        }
        if !lws && !matches!(c, b';' | b'=' | b',' | b'"' | b'<' | b'>' | b'?') {
            k |= C_PNAME;
        }
        if !lws && !matches!(c, b';' | b',' | b'"' | b'<' | b'>') {
            k |= C_PVALUE;
        }
        if c <= b' ' || c == 0x7f || matches!(c, b'<' | b'>' | b'"') {
            k |= C_URI_FORBIDDEN;
        }
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            k |= C_LABEL;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.') {
            k |= C_SCHEME;
        }
        if matches!(c, b'@' | b'?' | b';') {
            k |= C_URI_MARK;
        }
        t[b] = k;
        b += 1;
    }
    t
};

/// True when `b` is in class `c` (one of the `C_*` bits).
#[inline(always)]
pub(crate) fn is(b: u8, c: u8) -> bool {
    CLASS[usize::from(b)] & c != 0
}

/// SP, HTAB, CR, LF: inside a header value a CRLF is always followed by
/// white space (folding), so all four count as LWS.
#[inline]
pub fn is_lws(b: u8) -> bool {
    is(b, C_LWS)
}

/// `token` characters (RFC 3261 §25.1).
#[inline]
pub fn is_token(b: u8) -> bool {
    is(b, C_TOKEN)
}

/// The first index at or after `i` whose byte is not in class `c`
/// (`s.len()` if none).
#[inline(always)]
pub(crate) fn skip_class(s: &[u8], mut i: usize, c: u8) -> usize {
    while i < s.len() && is(s[i], c) {
        i += 1;
    }
    i
}

/// Index of the first `needle` in a short slice: a plain loop, cheaper
/// than `memchr`'s dispatch for the few dozen bytes of a URI or a value.
#[inline]
pub(crate) fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    s.iter().position(|&b| b == needle)
}

/// True when `s` is a non-empty run of token characters.
pub fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// `s` without leading and trailing LWS.
#[inline]
pub fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

#[inline]
pub fn trim_start(s: &[u8]) -> &[u8] {
    &s[skip_lws(s, 0)..]
}

#[inline]
pub fn trim_end(s: &[u8]) -> &[u8] {
    let mut n = s.len();
    while n > 0 && is_lws(s[n - 1]) {
        n -= 1;
    }
    &s[..n]
}

/// The first index at or after `i` that is not LWS (`s.len()` if none).
#[inline]
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// Length of the quoted string starting at `s[0] == b'"'`, quotes included,
/// honouring `\` quoted-pairs. None if unterminated.
pub fn quoted_len(s: &[u8]) -> Option<usize> {
    debug_assert_eq!(s.first(), Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Index of the first `needle` in `s` that is outside quoted strings and
/// outside `<...>`. `Err(())` if a quote or bracket is unbalanced.
pub fn find_top_level(s: &[u8], needle: u8) -> Result<Option<usize>, Unbalanced> {
    let mut i = 0;
    while i < s.len() {
        // Jump to the next byte that matters.
        match memchr::memchr3(needle, b'"', b'<', &s[i..]) {
            Some(k) => i += k,
            None => return Ok(None),
        }
        match s[i] {
            b'"' => i += quoted_len(&s[i..]).ok_or(Unbalanced::Quote)?,
            b'<' => {
                let close = memchr::memchr(b'>', &s[i..]).ok_or(Unbalanced::Angle)?;
                i += close + 1;
            }
            b if b == needle => return Ok(Some(i)),
            _ => i += 1,
        }
    }
    Ok(None)
}

/// What made [`find_top_level`] or [`split_commas`] give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbalanced {
    Quote,
    Angle,
}

/// Iterator over the comma-separated elements of a header value, each
/// trimmed, commas inside quotes and `<...>` ignored (RFC 3261 §7.3.1).
/// Yields `Err` once and stops if a quote or bracket is unbalanced.
pub fn split_commas(s: &[u8]) -> CommaSplit<'_> {
    CommaSplit { rest: Some(s) }
}

pub struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = Result<&'a [u8], Unbalanced>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        match find_top_level(rest, b',') {
            Ok(Some(i)) => {
                self.rest = Some(&rest[i + 1..]);
                Some(Ok(trim(&rest[..i])))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(trim(rest)))
            }
            Err(e) => {
                self.rest = None;
                Some(Err(e))
            }
        }
    }
}

/// Parses `1*DIGIT` into a u64 no larger than `max`. None on an empty
/// string, a non-digit or an overflow.
pub fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// ASCII case-insensitive equality.
#[inline]
pub fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Decodes `%HH` escapes (RFC 3261 §25.1 `escaped`). Borrows when there is
/// nothing to decode; a `%` not followed by two hex digits is kept as is.
pub fn unescape(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(b'%', s).is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// Decodes a quoted string's content (without the surrounding quotes):
/// `\x` becomes `x`. Borrows when there is no backslash.
pub fn unquote(inner: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(b'\\', inner).is_none() {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && i + 1 < inner.len() {
            i += 1;
        }
        out.push(inner[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

pub fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_folded_whitespace() {
        assert_eq!(trim(b" \r\n  abc \t"), b"abc");
        assert_eq!(trim(b"   "), b"");
    }

    #[test]
    fn splits_commas_outside_quotes_and_brackets() {
        let v: Vec<_> = split_commas(b"\"a,b\" <sip:x;p=1,2>;q=1 , <sip:y>")
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(v, vec![&b"\"a,b\" <sip:x;p=1,2>;q=1"[..], &b"<sip:y>"[..]]);
        let bad: Vec<_> = split_commas(b"\"open, x").collect();
        assert_eq!(bad, vec![Err(Unbalanced::Quote)]);
        let bad: Vec<_> = split_commas(b"<sip:x, y").collect();
        assert_eq!(bad, vec![Err(Unbalanced::Angle)]);
    }

    #[test]
    fn quoted_strings_honour_escapes() {
        assert_eq!(quoted_len(b"\"a\\\"b\" rest"), Some(6));
        assert_eq!(quoted_len(b"\"abc"), None);
        assert_eq!(&*unquote(b"J \\\"R\\\\"), b"J \"R\\");
    }

    #[test]
    fn decimals_are_bounded() {
        assert_eq!(parse_decimal(b"0068", 255), Some(68));
        assert_eq!(parse_decimal(b"300", 255), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
        assert_eq!(parse_decimal(b"", 10), None);
        assert_eq!(parse_decimal(b"-1", 10), None);
    }

    #[test]
    fn unescapes_percent_sequences() {
        assert_eq!(&*unescape(b"%75se%72"), b"user");
        assert_eq!(&*unescape(b"null-%00-null"), b"null-\0-null");
        assert_eq!(&*unescape(b"%Z%45"), b"%ZE");
        assert_eq!(&*unescape(b"end%4"), b"end%4");
        assert!(matches!(unescape(b"plain"), std::borrow::Cow::Borrowed(_)));
    }
}
