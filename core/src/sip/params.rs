//! `;name[=value]` parameter lists as they follow a URI (RFC 3261 §19.1.1
//! `uri-parameters`) or a header value (`generic-param`, §25.1). LWS around
//! `;` and `=` is accepted (header syntax); values may be quoted strings.

use super::error::ParseError;
use super::lex::{eq_ic, is, quoted_len, skip_lws, CLASS, C_PNAME, C_PVALUE};

/// One parameter: its name and its raw value (quotes kept), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// Iterator over a raw parameter list (`;a=1;b` or empty). Yields
/// `Err(BadParam)` once and stops at the first malformed parameter.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Params<'a> {
    pub fn new(raw: &'a [u8]) -> Params<'a> {
        Params {
            rest: raw,
            failed: false,
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    is(b, C_PNAME)
}

impl<'a> Params<'a> {
    /// The next parameter and the AND of the byte classes (`lex::C_*`) of
    /// its unquoted value (0 for a quoted value or none): one pass tells
    /// whether the whole value is, say, a token.
    #[inline]
    pub(crate) fn next_classed(&mut self) -> Option<Result<(Param<'a>, u8), ParseError>> {
        if self.failed {
            return None;
        }
        let s = self.rest;
        let i = skip_lws(s, 0);
        if i == s.len() {
            return None;
        }
        match next_param(s, i) {
            Ok((p, rest, class)) => {
                self.rest = &s[rest..];
                Some(Ok((p, class)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_classed().map(|r| r.map(|(p, _)| p))
    }
}

/// The parameter starting at `s[i]` (which is not LWS), the index just
/// past it (past the LWS after a name without value) and the classes all
/// bytes of its unquoted value share.
fn next_param(s: &[u8], i: usize) -> Result<(Param<'_>, usize, u8), ParseError> {
    if s[i] != b';' {
        return Err(ParseError::BadParam);
    }
    let start = skip_lws(s, i + 1);
    let mut end = start;
    while end < s.len() && is_name_byte(s[end]) {
        end += 1;
    }
    if end == start {
        return Err(ParseError::BadParam);
    }
    let name = &s[start..end];
    let after = skip_lws(s, end);
    if after == s.len() || s[after] != b'=' {
        return Ok((Param { name, value: None }, after, 0));
    }
    let v = skip_lws(s, after + 1);
    let (vlen, class) = if s.get(v) == Some(&b'"') {
        (quoted_len(&s[v..]).ok_or(ParseError::UnterminatedQuote)?, 0)
    } else {
        let mut e = v;
        let mut class = 0xff;
        // Four bytes per test while they all are value bytes (branches
        // and tags run to tens of bytes), then one at a time.
        while e + 4 <= s.len() {
            let k = CLASS[usize::from(s[e])]
                & CLASS[usize::from(s[e + 1])]
                & CLASS[usize::from(s[e + 2])]
                & CLASS[usize::from(s[e + 3])];
            if k & C_PVALUE == 0 {
                break;
            }
            class &= k;
            e += 4;
        }
        while e < s.len() {
            let k = CLASS[usize::from(s[e])];
            if k & C_PVALUE == 0 {
                break;
            }
            class &= k;
            e += 1;
        }
        (e - v, class)
    };
    if vlen == 0 {
        return Err(ParseError::BadParam);
    }
    let value = Some(&s[v..v + vlen]);
    Ok((Param { name, value }, v + vlen, class))
}

/// The rest of `raw` from where the value of the first `name` parameter
/// (case-insensitive) starts, without scanning that value: None when the
/// parameter is absent, has no value, or the list is malformed before it.
pub(crate) fn value_tail<'a>(raw: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut i = skip_lws(raw, 0);
    while i < raw.len() {
        if raw[i] != b';' {
            return None;
        }
        let start = skip_lws(raw, i + 1);
        let mut end = start;
        while end < raw.len() && is(raw[end], C_PNAME) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let after = skip_lws(raw, end);
        let has_value = after < raw.len() && raw[after] == b'=';
        if eq_ic(&raw[start..end], name) {
            return has_value.then(|| &raw[skip_lws(raw, after + 1)..]);
        }
        let (_, next, _) = next_param(raw, i).ok()?;
        i = skip_lws(raw, next);
    }
    None
}

/// Checks that a whole parameter list is well-formed.
pub fn validate(raw: &[u8]) -> Result<(), ParseError> {
    Params::new(raw).try_for_each(|p| p.map(|_| ()))
}

/// Finds a parameter by name (case-insensitive): `Some(None)` when present
/// without a value, `Some(Some(v))` with one. Malformed lists end the search.
pub fn find<'a>(raw: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
    Params::new(raw)
        .map_while(Result::ok)
        .find(|p| eq_ic(p.name, name))
        .map(|p| p.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params_with_lws_and_quotes() {
        let raw = b" ;\r\n  tag = 98asjd8 ; q = 0.33;lr;x=\"a;b\"";
        let ps: Vec<_> = Params::new(raw).map(|p| p.unwrap()).collect();
        assert_eq!(ps.len(), 4);
        assert_eq!(
            ps[0],
            Param {
                name: b"tag",
                value: Some(b"98asjd8")
            }
        );
        assert_eq!(
            ps[2],
            Param {
                name: b"lr",
                value: None
            }
        );
        assert_eq!(ps[3].value, Some(&b"\"a;b\""[..]));
        assert_eq!(find(raw, b"TAG"), Some(Some(&b"98asjd8"[..])));
        assert_eq!(find(raw, b"lr"), Some(None));
        assert_eq!(find(raw, b"nope"), None);
    }

    #[test]
    fn value_tail_starts_where_find_finds_the_value() {
        for raw in [
            &b";a=1;branch=z9hG4bKx;c"[..],
            b" ; BRANCH = z9hG4bKx ;c=\"q;r\"",
            b";x=\"a;branch=no\";branch=z9hG4bKy",
            b";branch;branch=z9hG4bKz",
            b";lr;branch=",
            b";;branch=z9hG4bKx",
            b";a=1",
            b"",
        ] {
            let found = find(raw, b"branch").flatten();
            let tail = value_tail(raw, b"branch");
            if let Some(v) = found {
                let t = tail.expect("a value has a tail");
                assert!(t.starts_with(v), "{raw:?}");
            }
            if found.is_none() {
                // No value found: the tail (if any) does not start with a
                // complete unquoted value.
                assert!(
                    tail.is_none_or(|t| t.first().is_none_or(|&b| !is(b, C_PVALUE))),
                    "{raw:?}"
                );
            }
        }
    }

    #[test]
    fn values_of_every_length_end_at_the_first_delimiter() {
        for n in 1..20 {
            for (tail, token) in [(";x", true), (" ;x", true), (",y", true), ("", true)] {
                let v = "ab%!-.~".repeat(3)[..n].to_string();
                let raw = format!(";p={v}{tail}");
                let mut ps = Params::new(raw.as_bytes());
                let (p, class) = ps.next_classed().unwrap().unwrap();
                assert_eq!(p.value, Some(v.as_bytes()), "{raw}");
                assert_eq!(class & crate::sip::lex::C_TOKEN != 0, token, "{raw}");
            }
            let raw = format!(";p={}/x;q", "a".repeat(n));
            let (p, class) = Params::new(raw.as_bytes()).next_classed().unwrap().unwrap();
            assert_eq!(p.value.map(<[u8]>::len), Some(n + 2), "{raw}");
            assert_eq!(class & crate::sip::lex::C_TOKEN, 0, "{raw}");
        }
    }

    #[test]
    fn malformed_lists_are_rejected() {
        assert_eq!(validate(b";;"), Err(ParseError::BadParam));
        assert_eq!(validate(b";a="), Err(ParseError::BadParam));
        assert_eq!(validate(b";a=\"x"), Err(ParseError::UnterminatedQuote));
        assert_eq!(validate(b"junk"), Err(ParseError::BadParam));
        assert_eq!(validate(b""), Ok(()));
        assert_eq!(validate(b";received=[2001:db8::9:255]"), Ok(()));
    }
}
