//! The user and host of the URI the registrar functions ask about, kept
//! per thread for the last URI parsed: `www_authorize`, `www_challenge`
//! (the `$td` realm) and `save` (the AOR) all read the same To URI, and a
//! phone's refreshes carry the same one, so most calls skip the parse.

use std::cell::RefCell;

/// What a parsed URI gave: its user (`%` escapes decoded) and host.
#[derive(Default)]
struct Parts {
    uri: Vec<u8>,
    /// None: the URI did not parse.
    parsed: Option<(Option<Vec<u8>>, Vec<u8>)>,
}

thread_local! {
    static LAST: RefCell<Option<Parts>> = const { RefCell::new(None) };
}

/// Calls `f` with the user (None: the URI has none) and host of `uri`,
/// or with None when it does not parse.
pub fn with_uri_parts<R>(uri: &[u8], f: impl FnOnce(Option<(Option<&[u8]>, &[u8])>) -> R) -> R {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        let p = l.get_or_insert_with(Parts::default);
        if p.uri != uri || p.uri.is_empty() {
            p.uri.clear();
            p.uri.extend_from_slice(uri);
            p.parsed = crate::sip::Uri::parse(uri)
                .ok()
                .map(|u| (u.user_unescaped().map(|c| c.into_owned()), u.host.to_vec()));
        }
        f(p.parsed.as_ref().map(|(u, h)| (u.as_deref(), h.as_slice())))
    })
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
    }
}
