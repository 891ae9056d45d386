//! Requests and responses the transaction layer writes itself: the
//! hop-by-hop ACK for a non-2xx final response (§17.1.1.3), the CANCEL of a
//! branch (§9.1), the `WWW-`/`Proxy-Authenticate` lines merged into a
//! 401/407 (§16.7 step 7), and the 503 → 500 rewrite (§16.7 step 6,
//! Kamailio `remap_503_500`).

use crate::sip::{HeaderName, Message};

/// Builds `method` for the request `req` we sent on a branch: same
/// Request-URI, top Via only, Route headers, From, To (or `to` from a
/// response), Call-ID, CSeq number with `method`, Max-Forwards, `extra`
/// header lines, no body.
fn copy_request(req: &Message, method: &str, to: Option<&[u8]>, extra: &[u8]) -> Option<Vec<u8>> {
    let via = req.top_via()?;
    let cseq = req.cseq()?;
    let mut out = Vec::with_capacity(256 + req.ruri_bytes().len() + extra.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.ruri_bytes());
    out.extend_from_slice(b" SIP/2.0\r\nVia: ");
    out.extend_from_slice(via.raw);
    out.extend_from_slice(b"\r\n");
    for h in req.headers() {
        let keep = match h.name {
            HeaderName::Route | HeaderName::From | HeaderName::CallId | HeaderName::MaxForwards => {
                true
            }
            HeaderName::To => {
                if let Some(to) = to {
                    out.extend_from_slice(b"To: ");
                    out.extend_from_slice(to);
                    out.extend_from_slice(b"\r\n");
                    continue;
                }
                true
            }
            _ => false,
        };
        if keep {
            out.extend_from_slice(h.name_bytes);
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("CSeq: {} {method}\r\n", cseq.number).as_bytes());
    out.extend_from_slice(extra);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

/// The ACK for a non-2xx final `resp` to the INVITE `req` we sent.
///
//= RFC 3261 §17.1.1.3
//# The ACK request constructed by the client transaction MUST contain
//# values for the Call-ID, From, and Request-URI that are equal to the
//# values of those header fields in the request passed to the transport
//# by the client transaction (call this the "original request").  The To
//# header field in the ACK MUST equal the To header field in the
//# response being acknowledged, and therefore will usually differ from
//# the To header field in the original request by the addition of the
//# tag parameter.  The ACK MUST contain a single Via header field, and
//# this MUST be equal to the top Via header field of the original
//# request.  The CSeq header field in the ACK MUST contain the same
//# value for the sequence number as was present in the original request,
//# but the method parameter MUST be equal to "ACK".
pub fn ack_for(req: &Message, resp: &Message) -> Option<Vec<u8>> {
    let to = resp.header(HeaderName::To)?.value;
    copy_request(req, "ACK", Some(to), b"")
}

/// The CANCEL for the request `req` we sent on a branch; `reason` is a
/// complete `Reason: ...\r\n` line or empty.
///
//= RFC 3261 §9.1
//# The Request-URI, Call-ID, To, the numeric part of CSeq, and From header
//# fields in the CANCEL request MUST be identical to those in the request
//# being cancelled, including tags.  A CANCEL constructed by a client MUST
//# have only a single Via header field value matching the top Via value in
//# the request being cancelled.
pub fn cancel_for(req: &Message, reason: &[u8]) -> Option<Vec<u8>> {
    copy_request(req, "CANCEL", None, reason)
}

/// The `WWW-Authenticate` and `Proxy-Authenticate` lines of a response,
/// each ending in CRLF.
pub fn auth_lines(resp: &Message, into: &mut Vec<u8>) {
    for h in resp.headers() {
        if matches!(
            h.name,
            HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate
        ) {
            into.extend_from_slice(h.name_bytes);
            into.extend_from_slice(b": ");
            into.extend_from_slice(h.value);
            into.extend_from_slice(b"\r\n");
        }
    }
}

/// The byte range of the status code in a response's start line.
pub fn status_code_range(resp: &Message) -> Option<std::ops::Range<usize>> {
    let start = resp.start_line_span().start as usize;
    // "SIP/2.0 " is followed by the three digits.
    let v = resp.version().len();
    resp.status()?;
    Some(start + v + 1..start + v + 4)
}
