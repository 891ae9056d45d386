//! The user and host of the URI the registrar functions ask about, kept
//! per thread for the last URI parsed: `www_authorize`, `www_challenge`
//! (the `$td` realm) and `save` (the AOR) all read the same To URI, and a
//! phone's refreshes carry the same one, so most calls skip the parse.

use std::cell::RefCell;
use std::ops::Range;

/// What a parsed URI gave: its user (`%` escapes decoded) and where its
/// host lies in it.
#[derive(Default)]
struct Parts {
    uri: Vec<u8>,
    /// None: the URI did not parse.
    parsed: Option<(Option<Vec<u8>>, Range<usize>)>,
}

thread_local! {
    static LAST: RefCell<Option<Parts>> = const { RefCell::new(None) };
}

/// Calls `f` with the user (None: the URI has none) and the range of the
/// host in `uri`, or with None when it does not parse.
fn with_parts<R>(uri: &[u8], f: impl FnOnce(Option<(Option<&[u8]>, Range<usize>)>) -> R) -> R {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        let p = l.get_or_insert_with(Parts::default);
        if p.uri != uri || p.uri.is_empty() {
            p.uri.clear();
            p.uri.extend_from_slice(uri);
            p.parsed = crate::sip::Uri::parse(uri).ok().and_then(|u| {
                let host = crate::sip::span::offset_in(uri, u.host)?;
                Some((u.user_unescaped().map(|c| c.into_owned()), host))
            });
        }
        f(p.parsed.as_ref().map(|(u, h)| (u.as_deref(), h.clone())))
    })
}

/// Calls `f` with the user (None: the URI has none) and host of `uri`,
/// or with None when it does not parse.
pub fn with_uri_parts<R>(uri: &[u8], f: impl FnOnce(Option<(Option<&[u8]>, &[u8])>) -> R) -> R {
    with_parts(uri, |p| {
        f(p.map(|(u, h)| (u, uri.get(h).unwrap_or_default())))
    })
}

/// The host of `uri` (None when it does not parse), borrowed from it.
pub fn host_of(uri: &[u8]) -> Option<&[u8]> {
    with_parts(uri, |p| uri.get(p?.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Option<(Option<String>, String)> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        with_uri_parts(uri.as_bytes(), |p| p.map(|(u, h)| (u.map(s), s(h))))
    }

    #[test]
    fn each_uri_gets_its_own_parts() {
        let a = Some((Some("al ice".to_string()), "a.example".to_string()));
        assert_eq!(parts("sip:al%20ice@a.example;transport=tcp"), a);
        assert_eq!(parts("sip:al%20ice@a.example;transport=tcp"), a);
        assert_eq!(parts("sip:b.example"), Some((None, "b.example".into())));
        assert_eq!(parts("not a uri"), None);
        assert_eq!(parts(""), None);
        assert_eq!(parts("sip:al%20ice@a.example;transport=tcp"), a);
        assert_eq!(host_of(b"sip:x@h.example:5060"), Some(&b"h.example"[..]));
        assert_eq!(host_of(b"sip:x@h.example:5060"), Some(&b"h.example"[..]));
        assert_eq!(host_of(b"<bad"), None);
    }
}
