//! Parse errors: a small `Copy` enum, no allocation. Each variant carries a
//! reason phrase fit for a `400 <reason>` reply and a status code (505 for
//! a version we do not speak, 416 for a scheme we cannot route, else 400).

use std::fmt;

use super::header_name::HeaderName;

/// Why a message, header or URI could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is empty or holds only CRLFs.
    Empty,
    /// The message is larger than the 4 GiB an index can address.
    TooLarge,
    /// The start line is not `Method SP Request-URI SP SIP-Version` nor
    /// `SIP-Version SP Status-Code SP Reason-Phrase` (extra or missing SP).
    BadStartLine,
    /// The method is not a token.
    BadMethod,
    /// The Request-URI is not an absolute URI or contains white space.
    BadRequestUri,
    /// A well-formed SIP version other than 2.0 (reply 505).
    BadVersion,
    /// The status code is not three digits in 100..=699.
    BadStatusCode,
    /// The header block does not end with an empty line.
    MissingBlankLine,
    /// A header line has no colon, or a continuation line has no header.
    BadHeaderLine,
    /// A header name is empty or contains non-token characters.
    BadHeaderName,
    /// A header the message cannot be processed without is absent.
    MissingHeader(HeaderName),
    /// A header that must appear once appears more than once.
    DuplicateHeader(HeaderName),
    /// CSeq is not `number method` with number < 2**31 (RFC 3261 §8.1.1.5).
    BadCSeq,
    /// Call-ID is empty or contains white space.
    BadCallId,
    /// Max-Forwards is not a number in 0..=255.
    BadMaxForwards,
    /// Content-Length is not a decimal number.
    BadContentLength,
    /// The body is shorter than Content-Length says (RFC 3261 §18.3).
    ContentLengthMismatch,
    /// Expires is not a number below 2**32.
    BadExpires,
    /// A Via value is malformed.
    BadVia,
    /// A From/To/Contact/Route value is not a valid name-addr / addr-spec.
    BadNameAddr,
    /// A quoted string has no closing quote.
    UnterminatedQuote,
    /// A display name has characters outside token / quoted-string.
    BadDisplayName,
    /// A URI is malformed.
    BadUri,
    /// A URI's host is not a hostname, IPv4 address or IPv6 reference.
    BadHost,
    /// A port is not a number in 0..=65535.
    BadPort,
    /// A `;name=value` parameter is malformed.
    BadParam,
    /// A SIP URI was required and the scheme is something else (reply 416).
    UnsupportedScheme,
}

impl ParseError {
    /// A short reason phrase for `400 <reason>` (or 505 / 416).
    pub fn reason(self) -> &'static str {
        use ParseError::*;
        match self {
            Empty => "Empty Message",
            TooLarge => "Message Too Large",
            BadStartLine => "Bad Start Line",
            BadMethod => "Bad Method",
            BadRequestUri => "Bad Request URI",
            BadVersion => "Version Not Supported",
            BadStatusCode => "Bad Status Code",
            MissingBlankLine => "Missing Blank Line After Headers",
            BadHeaderLine => "Bad Header Line",
            BadHeaderName => "Bad Header Name",
            MissingHeader(h) => missing_reason(h),
            DuplicateHeader(h) => duplicate_reason(h),
            BadCSeq => "Missing/Illegal number in CSeq",
            BadCallId => "Bad Call-ID",
            BadMaxForwards => "Bad Max-Forwards",
            BadContentLength => "Bad Content-Length",
            ContentLengthMismatch => "Content-Length mis-match",
            BadExpires => "Bad Expires Header",
            BadVia => "Bad Via",
            BadNameAddr => "Bad Address",
            UnterminatedQuote => "Unterminated Quoted String",
            BadDisplayName => "Bad Display Name",
            BadUri => "Bad URI",
            BadHost => "Bad Host",
            BadPort => "Bad Port",
            BadParam => "Bad Parameter",
            UnsupportedScheme => "Unsupported URI Scheme",
        }
    }

    /// The status code of the reply this error calls for.
    pub fn status(self) -> u16 {
        match self {
            ParseError::BadVersion => 505,
            ParseError::UnsupportedScheme => 416,
            _ => 400,
        }
    }
}

fn missing_reason(h: HeaderName) -> &'static str {
    match h {
        HeaderName::Via => "Missing Via",
        HeaderName::From => "Missing From",
        HeaderName::To => "Missing To",
        HeaderName::CallId => "Missing Call-ID",
        HeaderName::CSeq => "Missing CSeq",
        HeaderName::ContentLength => "Missing Content-Length",
        _ => "Missing Required Header",
    }
}

fn duplicate_reason(h: HeaderName) -> &'static str {
    match h {
        HeaderName::From => "Multiple From",
        HeaderName::To => "Multiple To",
        HeaderName::CallId => "Multiple Call-ID",
        HeaderName::CSeq => "Multiple CSeq",
        HeaderName::ContentLength => "Multiple Content-Length",
        HeaderName::MaxForwards => "Multiple Max-Forwards",
        _ => "Duplicate Header",
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_statuses() {
        assert_eq!(ParseError::BadVersion.status(), 505);
        assert_eq!(ParseError::UnsupportedScheme.status(), 416);
        assert_eq!(ParseError::BadVia.status(), 400);
        assert_eq!(
            ParseError::MissingHeader(HeaderName::CallId).reason(),
            "Missing Call-ID"
        );
        assert_eq!(
            ParseError::DuplicateHeader(HeaderName::ContentLength).to_string(),
            "Multiple Content-Length"
        );
    }
}
