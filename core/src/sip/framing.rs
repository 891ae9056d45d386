//! Cutting SIP messages out of a stream (TCP, TLS, WS payloads):
//! RFC 3261 §18.3 (Content-Length is mandatory on streams and delimits the
//! body) and RFC 5626 §3.5.1 keep-alives (a `CRLFCRLF` ping is answered
//! with a `CRLF` pong; stray CRLFs between messages are skipped, §7.5).

use super::lex::{eq_ic, parse_decimal, trim};

/// What the start of the buffered bytes holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes (headers and body).
    Complete(usize),
    /// More bytes are needed.
    Partial,
    /// A keep-alive of `len` bytes to drop; `ping` is true for the RFC
    /// 5626 `CRLFCRLF` ping, which the runtime answers with `CRLF`.
    KeepAlive { len: usize, ping: bool },
}

/// Size limits for one message on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest start line plus headers, blank line included.
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Why the stream cannot be framed; the runtime closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    HeadersTooLong,
    BodyTooLong,
    /// No Content-Length header (RFC 3261 §18.3 MUST on streams).
    MissingContentLength,
    /// Content-Length is not a number, or appears twice with different
    /// values.
    BadContentLength,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FramingError::HeadersTooLong => "headers too long",
            FramingError::BodyTooLong => "body too long",
            FramingError::MissingContentLength => "missing Content-Length on a stream",
            FramingError::BadContentLength => "bad Content-Length",
        })
    }
}

impl std::error::Error for FramingError {}

/// Looks at the bytes buffered so far and says what starts there.
pub fn next_frame(buf: &[u8], limits: &Limits) -> Result<Frame, FramingError> {
    let crlfs = buf.chunks_exact(2).take_while(|w| w == b"\r\n").count();
    if crlfs > 0 {
        if crlfs == 1 && b"\r\n".starts_with(&buf[2..]) {
            // Could be the first half of a ping.
            return Ok(Frame::Partial);
        }
        let ping = crlfs >= 2;
        let len = if ping { 4 } else { 2 };
        return Ok(Frame::KeepAlive { len, ping });
    }
    let Some(hdr_end) = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() > limits.max_header_bytes {
            Err(FramingError::HeadersTooLong)
        } else {
            Ok(Frame::Partial)
        };
    };
    if hdr_end > limits.max_header_bytes {
        return Err(FramingError::HeadersTooLong);
    }
    let body = content_length(&buf[..hdr_end])?.ok_or(FramingError::MissingContentLength)?;
    if body > limits.max_body_bytes {
        return Err(FramingError::BodyTooLong);
    }
    let total = hdr_end + body;
    Ok(if buf.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Partial
    })
}

/// The Content-Length of a header block (full or compact name).
fn content_length(head: &[u8]) -> Result<Option<usize>, FramingError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let name = trim(&line[..colon]);
        if !(eq_ic(name, b"content-length") || eq_ic(name, b"l")) {
            continue;
        }
        let v = parse_decimal(trim(&line[colon + 1..]), u32::MAX.into())
            .ok_or(FramingError::BadContentLength)? as usize;
        if found.is_some_and(|f| f != v) {
            return Err(FramingError::BadContentLength);
        }
        found = Some(v);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn frames_complete_and_partial() {
        let l = Limits::default();
        assert_eq!(next_frame(MSG, &l), Ok(Frame::Complete(MSG.len())));
        assert_eq!(next_frame(&MSG[..MSG.len() - 1], &l), Ok(Frame::Partial));
        assert_eq!(next_frame(&MSG[..10], &l), Ok(Frame::Partial));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(next_frame(&two, &l), Ok(Frame::Complete(MSG.len())));
    }

    #[test]
    fn keepalives() {
        let l = Limits::default();
        assert_eq!(
            next_frame(b"\r\n\r\n", &l),
            Ok(Frame::KeepAlive { len: 4, ping: true })
        );
        assert_eq!(next_frame(b"\r\n", &l), Ok(Frame::Partial));
        assert_eq!(next_frame(b"\r\n\r", &l), Ok(Frame::Partial));
        assert_eq!(
            next_frame(b"\r\n\r\n\r\n", &l),
            Ok(Frame::KeepAlive { len: 4, ping: true })
        );
        assert_eq!(
            next_frame(b"\r\nOPT", &l),
            Ok(Frame::KeepAlive {
                len: 2,
                ping: false
            })
        );
    }

    #[test]
    fn errors() {
        let small = Limits {
            max_header_bytes: 20,
            max_body_bytes: 2,
        };
        assert_eq!(next_frame(MSG, &small), Err(FramingError::HeadersTooLong));
        assert_eq!(
            next_frame(&[b'a'; 30], &small),
            Err(FramingError::HeadersTooLong)
        );
        let body_limit = Limits {
            max_header_bytes: 100,
            max_body_bytes: 2,
        };
        assert_eq!(next_frame(MSG, &body_limit), Err(FramingError::BodyTooLong));
        let l = Limits::default();
        assert_eq!(
            next_frame(b"OPTIONS sip:a@b SIP/2.0\r\nX: 1\r\n\r\n", &l),
            Err(FramingError::MissingContentLength)
        );
        assert_eq!(
            next_frame(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n", &l),
            Err(FramingError::BadContentLength)
        );
        assert_eq!(
            next_frame(
                b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n",
                &l
            ),
            Err(FramingError::BadContentLength)
        );
    }
}
