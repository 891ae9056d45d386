//! HTTP Digest (RFC 2617 / RFC 3261 §22.4) on the client side: reads a
//! `WWW-Authenticate: Digest ...` challenge and writes the matching
//! `Authorization` header (MD5, with or without `qop=auth`).

use md5::{Digest as _, Md5};

use super::write::{Out, Overflow};

/// The parts of a Digest challenge the client needs (borrowed from the
/// response datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub realm: &'a [u8],
    pub nonce: &'a [u8],
    pub opaque: Option<&'a [u8]>,
    /// True when the server offers `qop=auth`.
    pub qop_auth: bool,
}

/// Why a challenge could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// The scheme is not `Digest`.
    NotDigest,
    /// `realm` or `nonce` is missing.
    MissingParam(&'static str),
    /// An algorithm other than MD5 was asked for.
    UnsupportedAlgorithm,
}

impl std::fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChallengeError::NotDigest => write!(f, "challenge scheme is not Digest"),
            ChallengeError::MissingParam(p) => write!(f, "challenge has no {p}"),
            ChallengeError::UnsupportedAlgorithm => write!(f, "challenge asks for a non-MD5 algorithm"),
        }
    }
}

/// Parses the value of a WWW-Authenticate / Proxy-Authenticate header.
pub fn parse_challenge(value: &[u8]) -> Result<Challenge<'_>, ChallengeError> {
    let rest = value
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case(b"digest"))
        .map(|_| &value[6..])
        .ok_or(ChallengeError::NotDigest)?;
    let (mut realm, mut nonce, mut opaque, mut qop_auth) = (None, None, None, false);
    for (name, val) in Params(rest) {
        if name.eq_ignore_ascii_case(b"realm") {
            realm = Some(val);
        } else if name.eq_ignore_ascii_case(b"nonce") {
            nonce = Some(val);
        } else if name.eq_ignore_ascii_case(b"opaque") {
            opaque = Some(val);
        } else if name.eq_ignore_ascii_case(b"qop") {
            qop_auth = val
                .split(|&b| b == b',')
                .any(|q| super::scan::trim(q).eq_ignore_ascii_case(b"auth"));
        } else if name.eq_ignore_ascii_case(b"algorithm") && !val.eq_ignore_ascii_case(b"MD5") {
            return Err(ChallengeError::UnsupportedAlgorithm);
        }
    }
    Ok(Challenge {
        realm: realm.ok_or(ChallengeError::MissingParam("realm"))?,
        nonce: nonce.ok_or(ChallengeError::MissingParam("nonce"))?,
        opaque,
        qop_auth,
    })
}

/// Iterates `name=value` / `name="value"` pairs separated by commas.
struct Params<'a>(&'a [u8]);

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let s = super::scan::trim(self.0);
        let s = s.strip_prefix(b",").map(super::scan::trim).unwrap_or(s);
        let eq = s.iter().position(|&b| b == b'=')?;
        let name = super::scan::trim(&s[..eq]);
        let after = super::scan::trim(&s[eq + 1..]);
        let (val, rest) = if let Some(quoted) = after.strip_prefix(b"\"") {
            let close = quoted.iter().position(|&b| b == b'"')?;
            (&quoted[..close], &quoted[close + 1..])
        } else {
            let end = after.iter().position(|&b| b == b',').unwrap_or(after.len());
            (super::scan::trim(&after[..end]), &after[end..])
        };
        self.0 = rest;
        Some((name, val))
    }
}

/// Credentials and request facts needed to answer a challenge.
pub struct Answer<'a> {
    pub user: &'a [u8],
    pub password: &'a [u8],
    pub method: &'a [u8],
    pub uri: &'a [u8],
    /// Client nonce, used with `qop=auth`.
    pub cnonce: &'a [u8],
}

/// Lowercase hex MD5 of the concatenated parts (Digest HA1, HA2, response).
pub fn md5_hex(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    let mut out = [0u8; 32];
    let mut o = Out::new(&mut out);
    // 16 bytes of digest always fit 32 hex digits.
    let _ = o.hex(&d);
    out
}

/// Writes `Authorization: Digest ...` (with CRLF) answering `ch`.
pub fn write_authorization(out: &mut Out<'_>, ch: &Challenge<'_>, a: &Answer<'_>) -> Result<(), Overflow> {
    let ha1 = md5_hex(&[a.user, b":", ch.realm, b":", a.password]);
    let ha2 = md5_hex(&[a.method, b":", a.uri]);
    let response = if ch.qop_auth {
        md5_hex(&[&ha1, b":", ch.nonce, b":00000001:", a.cnonce, b":auth:", &ha2])
    } else {
        md5_hex(&[&ha1, b":", ch.nonce, b":", &ha2])
    };
    out.put(b"Authorization: Digest username=\"")?.put(a.user)?;
    out.put(b"\", realm=\"")?.put(ch.realm)?;
    out.put(b"\", nonce=\"")?.put(ch.nonce)?;
    out.put(b"\", uri=\"")?.put(a.uri)?;
    out.put(b"\", response=\"")?.put(&response)?.put(b"\", algorithm=MD5")?;
    if ch.qop_auth {
        out.put(b", qop=auth, nc=00000001, cnonce=\"")?.put(a.cnonce)?.put(b"\"")?;
    }
    if let Some(op) = ch.opaque {
        out.put(b", opaque=\"")?.put(op)?.put(b"\"")?;
    }
    out.put(b"\r\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kamailio_style_challenge() {
        let c = parse_challenge(b"Digest realm=\"127.0.0.1\", nonce=\"Zabc\", qop=\"auth,auth-int\", opaque=\"o\"").unwrap();
        assert_eq!(c.realm, b"127.0.0.1");
        assert_eq!(c.nonce, b"Zabc");
        assert!(c.qop_auth);
        assert_eq!(c.opaque, Some(&b"o"[..]));
        assert_eq!(parse_challenge(b"Basic realm=\"x\"").unwrap_err(), ChallengeError::NotDigest);
        assert_eq!(
            parse_challenge(b"Digest realm=\"x\"").unwrap_err(),
            ChallengeError::MissingParam("nonce")
        );
    }

    /// RFC 2617 §3.5 example (qop=auth), whose response is published.
    #[test]
    fn matches_rfc2617_example() {
        let ch = Challenge {
            realm: b"testrealm@host.com",
            nonce: b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            opaque: None,
            qop_auth: true,
        };
        let a = Answer {
            user: b"Mufasa",
            password: b"Circle Of Life",
            method: b"GET",
            uri: b"/dir/index.html",
            cnonce: b"0a4f113b",
        };
        let mut buf = [0u8; 512];
        let mut out = Out::new(&mut buf);
        write_authorization(&mut out, &ch, &a).unwrap();
        let text = std::str::from_utf8(out.written()).unwrap();
        assert!(text.contains("response=\"6629fae49393a05397450978507c4ef1\""), "{text}");
    }
}
