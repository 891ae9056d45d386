//! Checks a request must pass before it is acted upon, beyond what
//! [`Message::parse`] enforces: the verdicts RFC 4475 §3.1.2 and §3.3 give
//! for messages that parse but must be rejected, in the shape of
//! Kamailio's `sanity_check()` replies. The runtime (or the script's
//! `sanity_check`) calls [`check_request`] and answers `status() reason()`.

use std::fmt;

use super::error::ParseError;
use super::lex::eq_ic;
use super::message::Message;
use super::uri::Scheme;
use super::via::MAGIC_COOKIE;

/// Why a well-formed request cannot be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SemanticError {
    /// The Request-URI does not parse (RFC 4475 §3.1.2.7, RFC 5118 §4.2).
    BadRequestUri(ParseError),
    /// The Request-URI scheme is not sip, sips or tel (RFC 4475 §3.3.2,
    /// §3.3.3): 416.
    UnsupportedUriScheme,
    /// The Request-URI carries `?headers` (RFC 4475 §3.1.2.11, RFC 3261
    /// §19.1.5: not allowed in a Request-URI).
    HeadersInRequestUri,
    /// The CSeq method differs from the request method (RFC 4475
    /// §3.1.2.17, §3.1.2.18).
    CSeqMethodMismatch,
    /// The top Via branch is just the magic cookie (RFC 4475 §3.2.1 ...
    /// `badbranch`).
    EmptyBranch,
    /// A Contact value is malformed (RFC 4475 §3.1.2.13).
    BadContact(ParseError),
    /// Expires is not a number below 2**32 (RFC 4475 §3.1.2.4).
    BadExpires,
    /// The message is a response.
    NotARequest,
}

impl SemanticError {
    pub fn status(self) -> u16 {
        match self {
            SemanticError::UnsupportedUriScheme => 416,
            _ => 400,
        }
    }

    /// Reason phrase, Kamailio's sanity module wording where it has one.
    pub fn reason(self) -> &'static str {
        match self {
            SemanticError::BadRequestUri(_) => "Bad Request URI",
            SemanticError::UnsupportedUriScheme => "Unsupported URI Scheme in Request URI",
            SemanticError::HeadersInRequestUri => "Bad Request URI",
            SemanticError::CSeqMethodMismatch => "CSeq method does not match request method",
            SemanticError::EmptyBranch => "Bad Via Branch",
            SemanticError::BadContact(_) => "Bad Contact Header",
            SemanticError::BadExpires => "Bad Expires Header",
            SemanticError::NotARequest => "Not A Request",
        }
    }
}

impl fmt::Display for SemanticError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.reason())
    }
}

impl std::error::Error for SemanticError {}

/// Runs the request checks in order and reports the first failure.
pub fn check_request(msg: &Message) -> Result<(), SemanticError> {
    if !msg.is_request() {
        return Err(SemanticError::NotARequest);
    }
    let ruri = msg.ruri().map_err(SemanticError::BadRequestUri)?;
    match ruri.scheme {
        Scheme::Sip | Scheme::Sips | Scheme::Tel => {}
        Scheme::Other => return Err(SemanticError::UnsupportedUriScheme),
    }
    if !ruri.headers.is_empty() {
        return Err(SemanticError::HeadersInRequestUri);
    }
    if msg.cseq().map(|c| c.method_bytes) != Some(msg.method_bytes()) {
        return Err(SemanticError::CSeqMethodMismatch);
    }
    if msg.top_via().and_then(|v| v.branch()) == Some(MAGIC_COOKIE) {
        return Err(SemanticError::EmptyBranch);
    }
    if !msg.contact_is_star() {
        for c in msg.contacts() {
            c.map_err(SemanticError::BadContact)?;
        }
    }
    if let Some(Err(_)) = msg.expires() {
        return Err(SemanticError::BadExpires);
    }
    Ok(())
}

/// The first Proxy-Require option tag not in `supported` (RFC 3261
/// §16.3 item 6: the proxy answers 420 Bad Extension listing it in
/// Unsupported).
pub fn unsupported_proxy_require<'m>(msg: &'m Message, supported: &[&[u8]]) -> Option<&'m [u8]> {
    msg.values_of(super::header_name::HeaderName::ProxyRequire)
        .find(|tag| !supported.iter().any(|s| eq_ic(s, tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start: &str, extra: &str) -> Message {
        let m = format!(
            "{start}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n{extra}\r\n"
        );
        Message::parse(m.into_bytes()).unwrap()
    }

    #[test]
    fn accepts_a_plain_request() {
        assert_eq!(check_request(&req("OPTIONS sip:a@b SIP/2.0", "")), Ok(()));
        assert_eq!(check_request(&req("OPTIONS tel:+123 SIP/2.0", "")), Ok(()));
        assert_eq!(
            check_request(&req("OPTIONS sip:a@b SIP/2.0", "Contact: *\r\n")),
            Ok(())
        );
    }

    #[test]
    fn reports_each_failure() {
        let cases = [
            (
                req("OPTIONS sip:2001:db8::1 SIP/2.0", ""),
                SemanticError::BadRequestUri(ParseError::BadHost),
            ),
            (
                req("OPTIONS isbn:123 SIP/2.0", ""),
                SemanticError::UnsupportedUriScheme,
            ),
            (
                req("OPTIONS sip:a@b?X=1 SIP/2.0", ""),
                SemanticError::HeadersInRequestUri,
            ),
            (
                req("INVITE sip:a@b SIP/2.0", ""),
                SemanticError::CSeqMethodMismatch,
            ),
            (
                req("OPTIONS sip:a@b SIP/2.0", "Contact: sip:a@b?x=y\r\n"),
                SemanticError::BadContact(ParseError::BadNameAddr),
            ),
            (
                req("OPTIONS sip:a@b SIP/2.0", "Expires: 99999999999\r\n"),
                SemanticError::BadExpires,
            ),
        ];
        for (m, e) in cases {
            assert_eq!(check_request(&m), Err(e));
        }
        assert_eq!(SemanticError::UnsupportedUriScheme.status(), 416);
    }

    #[test]
    fn proxy_require_tags() {
        let m = req("OPTIONS sip:a@b SIP/2.0", "Proxy-Require: foo, bar\r\n");
        assert_eq!(unsupported_proxy_require(&m, &[b"foo"]), Some(&b"bar"[..]));
        assert_eq!(unsupported_proxy_require(&m, &[b"FOO", b"bar"]), None);
    }
}
