//! Header field names: the ones a proxy looks at get an enum variant, the
//! rest are `Other` and compared by their bytes. Names are case-insensitive
//! and have compact forms (RFC 3261 §7.3.3, §20; RFC 3515 `r`, RFC 3892 `b`,
//! RFC 6665 `o`/`u`, RFC 3841 `a`/`j`/`d`, RFC 4028 `x`, RFC 8224 `y`).

use super::lex::eq_ic;

/// A header field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Route,
    RecordRoute,
    Expires,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    UserAgent,
    Server,
    Allow,
    Event,
    Path,
    Subject,
    Accept,
    /// Any other name; compare with [`HeaderName::matches`].
    Other,
}

/// (canonical name, compact form, variant) for every known header.
const KNOWN: &[(&str, Option<u8>, HeaderName)] = &[
    ("Via", Some(b'v'), HeaderName::Via),
    ("From", Some(b'f'), HeaderName::From),
    ("To", Some(b't'), HeaderName::To),
    ("Call-ID", Some(b'i'), HeaderName::CallId),
    ("CSeq", None, HeaderName::CSeq),
    ("Contact", Some(b'm'), HeaderName::Contact),
    ("Max-Forwards", None, HeaderName::MaxForwards),
    ("Content-Length", Some(b'l'), HeaderName::ContentLength),
    ("Content-Type", Some(b'c'), HeaderName::ContentType),
    ("Content-Encoding", Some(b'e'), HeaderName::ContentEncoding),
    ("Route", None, HeaderName::Route),
    ("Record-Route", None, HeaderName::RecordRoute),
    ("Expires", None, HeaderName::Expires),
    ("Authorization", None, HeaderName::Authorization),
    ("Proxy-Authorization", None, HeaderName::ProxyAuthorization),
    ("WWW-Authenticate", None, HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", None, HeaderName::ProxyAuthenticate),
    ("Supported", Some(b'k'), HeaderName::Supported),
    ("Require", None, HeaderName::Require),
    ("Proxy-Require", None, HeaderName::ProxyRequire),
    ("Unsupported", None, HeaderName::Unsupported),
    ("User-Agent", None, HeaderName::UserAgent),
    ("Server", None, HeaderName::Server),
    ("Allow", None, HeaderName::Allow),
    ("Event", Some(b'o'), HeaderName::Event),
    ("Path", None, HeaderName::Path),
    ("Subject", Some(b's'), HeaderName::Subject),
    ("Accept", None, HeaderName::Accept),
];

/// Compact forms of headers that have no variant of their own.
const OTHER_COMPACT: &[(&str, u8)] = &[
    ("Refer-To", b'r'),
    ("Referred-By", b'b'),
    ("Allow-Events", b'u'),
    ("Accept-Contact", b'a'),
    ("Reject-Contact", b'j'),
    ("Request-Disposition", b'd'),
    ("Session-Expires", b'x'),
    ("Identity", b'y'),
];

impl HeaderName {
    /// Classifies a header name as written on the wire (any case, full or
    /// compact form).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            let c = name[0].to_ascii_lowercase();
            return KNOWN
                .iter()
                .find(|(_, compact, _)| *compact == Some(c))
                .map_or(HeaderName::Other, |k| k.2);
        }
        // Dispatch on length, so at most five names are compared.
        use HeaderName as H;
        let candidates: &[(&str, HeaderName)] = match name.len() {
            2 => &[("To", H::To)],
            3 => &[("Via", H::Via)],
            4 => &[("From", H::From), ("CSeq", H::CSeq), ("Path", H::Path)],
            5 => &[
                ("Route", H::Route),
                ("Allow", H::Allow),
                ("Event", H::Event),
            ],
            6 => &[("Server", H::Server), ("Accept", H::Accept)],
            7 => &[
                ("Call-ID", H::CallId),
                ("Contact", H::Contact),
                ("Expires", H::Expires),
                ("Require", H::Require),
                ("Subject", H::Subject),
            ],
            9 => &[("Supported", H::Supported)],
            10 => &[("User-Agent", H::UserAgent)],
            11 => &[("Unsupported", H::Unsupported)],
            12 => &[
                ("Max-Forwards", H::MaxForwards),
                ("Content-Type", H::ContentType),
                ("Record-Route", H::RecordRoute),
            ],
            13 => &[
                ("Authorization", H::Authorization),
                ("Proxy-Require", H::ProxyRequire),
            ],
            14 => &[("Content-Length", H::ContentLength)],
            16 => &[
                ("Content-Encoding", H::ContentEncoding),
                ("WWW-Authenticate", H::WwwAuthenticate),
            ],
            18 => &[("Proxy-Authenticate", H::ProxyAuthenticate)],
            19 => &[("Proxy-Authorization", H::ProxyAuthorization)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(full, _)| eq_ic(full.as_bytes(), name))
            .map_or(HeaderName::Other, |k| k.1)
    }

    /// Canonical spelling (`Call-ID`, `CSeq`, ...); `""` for `Other`.
    pub fn as_str(self) -> &'static str {
        KNOWN.iter().find(|k| k.2 == self).map_or("", |k| k.0)
    }

    /// The compact form letter, if the header has one.
    pub fn compact(self) -> Option<u8> {
        KNOWN.iter().find(|k| k.2 == self).and_then(|k| k.1)
    }

    /// True when `wire` (a name as written in a message) names the same
    /// header as `wanted` (a name as a script writes it: either form, any
    /// case). Works for unknown headers, including those with compact forms
    /// such as Refer-To / `r`.
    pub fn matches(wanted: &[u8], wire: &[u8]) -> bool {
        if eq_ic(wanted, wire) {
            return true;
        }
        let (w, x) = (HeaderName::from_bytes(wanted), HeaderName::from_bytes(wire));
        if w != HeaderName::Other || x != HeaderName::Other {
            return w == x;
        }
        let (long, short) = match (wanted.len(), wire.len()) {
            (1, n) if n > 1 => (wire, wanted[0]),
            (n, 1) if n > 1 => (wanted, wire[0]),
            _ => return false,
        };
        OTHER_COMPACT
            .iter()
            .any(|(full, c)| *c == short.to_ascii_lowercase() && eq_ic(full.as_bytes(), long))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_full_and_compact_names() {
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"r"), HeaderName::Other);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::Contact.compact(), Some(b'm'));
    }

    #[test]
    fn length_dispatch_agrees_with_the_table() {
        for (full, _, h) in KNOWN {
            assert_eq!(HeaderName::from_bytes(full.as_bytes()), *h, "{full}");
            let upper = full.to_ascii_uppercase();
            assert_eq!(HeaderName::from_bytes(upper.as_bytes()), *h, "{full}");
        }
        assert_eq!(HeaderName::from_bytes(b"X-Call-ID"), HeaderName::Other);
    }

    #[test]
    fn matches_unknown_compact_forms() {
        assert!(HeaderName::matches(b"Refer-To", b"r"));
        assert!(HeaderName::matches(b"r", b"REFER-TO"));
        assert!(HeaderName::matches(b"X-Foo", b"x-foo"));
        assert!(HeaderName::matches(b"Via", b"v"));
        assert!(!HeaderName::matches(b"Via", b"f"));
        assert!(!HeaderName::matches(b"X-Foo", b"X-Bar"));
        assert!(!HeaderName::matches(b"Refer-To", b"b"));
    }
}
