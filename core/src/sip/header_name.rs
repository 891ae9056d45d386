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

/// A known full name prepared for a case-insensitive compare without a
/// per-byte loop: the name's bytes as up to three little-endian words
/// (see [`words`]), lowercased, and masks with 0x20 on the letters. A wire
/// name `n` of the same length matches when `words(n)[i] | mask[i] ==
/// lower[i]` for each word: on a letter only the case bit may differ,
/// every other byte must be equal.
struct Key {
    lower: [u64; 3],
    mask: [u64; 3],
    name: HeaderName,
}

/// The word layout shared by [`words`] and [`key`]: for a name of length
/// `len` (2..=24), `(word size, offset of the second word)`; the first word
/// is at 0 and a third, at 8, exists only when `len > 16`. The words
/// overlap when the length is not a multiple of the size, and together
/// cover every byte.
const fn layout(len: usize) -> (usize, usize) {
    let k = if len >= 8 {
        8
    } else if len >= 4 {
        4
    } else {
        2
    };
    (k, len - k)
}

/// The words of a wire name of length 2..=24 (see [`layout`]).
#[inline(always)]
fn words(s: &[u8]) -> [u64; 3] {
    let len = s.len();
    if len >= 8 {
        let w8 = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
        let third = if len > 16 { w8(8) } else { 0 };
        [w8(0), w8(len - 8), third]
    } else if len >= 4 {
        let w4 = |at: usize| {
            u64::from(u32::from_le_bytes(
                s[at..at + 4].try_into().unwrap_or([0; 4]),
            ))
        };
        [w4(0), w4(len - 4), 0]
    } else {
        let w2 = |at: usize| {
            u64::from(u16::from_le_bytes(
                s[at..at + 2].try_into().unwrap_or([0; 2]),
            ))
        };
        [w2(0), w2(len - 2), 0]
    }
}

/// One word of `s` at `at`, `k` bytes, lowercased or as the letter mask.
const fn const_word(s: &[u8], at: usize, k: usize, mask: bool) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < k {
        let b = s[at + i];
        let x = if mask {
            if b.is_ascii_alphabetic() {
                0x20
            } else {
                0
            }
        } else {
            b.to_ascii_lowercase()
        };
        v |= (x as u64) << (8 * i);
        i += 1;
    }
    v
}

const fn key(full: &str, name: HeaderName) -> Key {
    let s = full.as_bytes();
    let (k, second) = layout(s.len());
    let mut lower = [
        const_word(s, 0, k, false),
        const_word(s, second, k, false),
        0,
    ];
    let mut mask = [const_word(s, 0, k, true), const_word(s, second, k, true), 0];
    if s.len() > 16 {
        lower[2] = const_word(s, 8, 8, false);
        mask[2] = const_word(s, 8, 8, true);
    }
    Key { lower, mask, name }
}

use HeaderName as N;
const LEN_2: &[Key] = &[key("To", N::To)];
const LEN_3: &[Key] = &[key("Via", N::Via)];
const LEN_4: &[Key] = &[
    key("From", N::From),
    key("CSeq", N::CSeq),
    key("Path", N::Path),
];
const LEN_5: &[Key] = &[
    key("Route", N::Route),
    key("Allow", N::Allow),
    key("Event", N::Event),
];
const LEN_6: &[Key] = &[key("Server", N::Server), key("Accept", N::Accept)];
const LEN_7: &[Key] = &[
    key("Call-ID", N::CallId),
    key("Contact", N::Contact),
    key("Expires", N::Expires),
    key("Require", N::Require),
    key("Subject", N::Subject),
];
const LEN_9: &[Key] = &[key("Supported", N::Supported)];
const LEN_10: &[Key] = &[key("User-Agent", N::UserAgent)];
const LEN_11: &[Key] = &[key("Unsupported", N::Unsupported)];
const LEN_12: &[Key] = &[
    key("Max-Forwards", N::MaxForwards),
    key("Content-Type", N::ContentType),
    key("Record-Route", N::RecordRoute),
];
const LEN_13: &[Key] = &[
    key("Authorization", N::Authorization),
    key("Proxy-Require", N::ProxyRequire),
];
const LEN_14: &[Key] = &[key("Content-Length", N::ContentLength)];
const LEN_16: &[Key] = &[
    key("Content-Encoding", N::ContentEncoding),
    key("WWW-Authenticate", N::WwwAuthenticate),
];
const LEN_18: &[Key] = &[key("Proxy-Authenticate", N::ProxyAuthenticate)];
const LEN_19: &[Key] = &[key("Proxy-Authorization", N::ProxyAuthorization)];

impl HeaderName {
    /// Classifies a header name as written on the wire (any case, full or
    /// compact form).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        use HeaderName as H;
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'v' => H::Via,
                b'f' => H::From,
                b't' => H::To,
                b'i' => H::CallId,
                b'm' => H::Contact,
                b'l' => H::ContentLength,
                b'c' => H::ContentType,
                b'e' => H::ContentEncoding,
                b'k' => H::Supported,
                b'o' => H::Event,
                b's' => H::Subject,
                _ => H::Other,
            };
        }
        // Dispatch on length, so at most five names are compared, each
        // with a few masked word compares (see `Key`).
        let candidates: &[Key] = match name.len() {
            2 => LEN_2,
            3 => LEN_3,
            4 => LEN_4,
            5 => LEN_5,
            6 => LEN_6,
            7 => LEN_7,
            9 => LEN_9,
            10 => LEN_10,
            11 => LEN_11,
            12 => LEN_12,
            13 => LEN_13,
            14 => LEN_14,
            16 => LEN_16,
            18 => LEN_18,
            19 => LEN_19,
            _ => return H::Other,
        };
        let w = words(name);
        candidates
            .iter()
            .find(|k| {
                (w[0] | k.mask[0]) == k.lower[0]
                    && (w[1] | k.mask[1]) == k.lower[1]
                    && (w[2] | k.mask[2]) == k.lower[2]
            })
            .map_or(H::Other, |k| k.name)
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

    /// The word compare agrees with a byte-wise case-insensitive compare,
    /// for every known name with each byte changed to every value.
    #[test]
    fn word_compare_agrees_with_eq_ic() {
        let reference = |name: &[u8]| -> HeaderName {
            if name.len() == 1 {
                let c = name[0].to_ascii_lowercase();
                return KNOWN
                    .iter()
                    .find(|(_, compact, _)| *compact == Some(c))
                    .map_or(HeaderName::Other, |k| k.2);
            }
            KNOWN
                .iter()
                .find(|(full, _, _)| eq_ic(full.as_bytes(), name))
                .map_or(HeaderName::Other, |k| k.2)
        };
        for (full, _, _) in KNOWN {
            let mut n = full.as_bytes().to_vec();
            for i in 0..n.len() {
                let orig = n[i];
                for b in 0..=255u8 {
                    n[i] = b;
                    assert_eq!(HeaderName::from_bytes(&n), reference(&n), "{n:?}");
                }
                n[i] = orig;
            }
        }
        for b in 0..=255u8 {
            assert_eq!(HeaderName::from_bytes(&[b]), reference(&[b]), "{b}");
        }
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
