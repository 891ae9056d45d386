//! CSeq (RFC 3261 §20.16, §8.1.1.5): a sequence number below 2**31 and a
//! method token.

use super::error::ParseError;
use super::lex::{is_lws, is_token_str, parse_decimal, trim, trim_start};
use super::method::Method;

/// Largest CSeq number RFC 3261 §8.1.1.5 allows.
pub const CSEQ_MAX: u32 = (1 << 31) - 1;

/// A parsed CSeq value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub number: u32,
    pub method: Method,
    /// The method as written (meaningful for `Method::Other`).
    pub method_bytes: &'a [u8],
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(value: &'a [u8]) -> Result<CSeq<'a>, ParseError> {
        let s = trim(value);
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let number =
            parse_decimal(&s[..digits], u64::from(CSEQ_MAX)).ok_or(ParseError::BadCSeq)? as u32;
        let rest = &s[digits..];
        if !rest.first().is_some_and(|&b| is_lws(b)) {
            return Err(ParseError::BadCSeq);
        }
        let method_bytes = trim_start(rest);
        if !is_token_str(method_bytes) {
            return Err(ParseError::BadCSeq);
        }
        Ok(CSeq {
            number,
            method: Method::from_bytes(method_bytes),
            method_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_cseq() {
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.number, c.method), (9, Method::Invite));
        let c = CSeq::parse(b"8 NEWMETHOD").unwrap();
        assert_eq!(
            (c.method, c.method_bytes),
            (Method::Other, &b"NEWMETHOD"[..])
        );
    }

    #[test]
    fn rejects_overlarge_and_malformed() {
        for bad in [
            &b"36893488147419103232 REGISTER"[..],
            b"2147483648 INVITE",
            b"INVITE",
            b"1INVITE",
            b"1 ",
            b"1 IN VITE",
            b"-1 INVITE",
        ] {
            assert_eq!(CSeq::parse(bad), Err(ParseError::BadCSeq));
        }
        assert_eq!(CSeq::parse(b"2147483647 ACK").unwrap().number, CSEQ_MAX);
    }
}
