//! [`Message::parse`]: one pass over the bytes building the header index
//! (RFC 3261 §7), then the checks a proxy needs before it can process the
//! message: start line, mandatory headers present and single, CSeq,
//! Call-ID, Max-Forwards, Content-Length, top Via, From and To well-formed,
//! body length (RFC 3261 §18.3: a datagram shorter than Content-Length is
//! an error, bytes past it are discarded). Other headers are indexed but
//! not interpreted, so odd or unknown headers are forwarded untouched
//! (RFC 4475 §3.1.1). Line ends may be CRLF or bare LF.

use smallvec::SmallVec;

use super::cseq::CSeq;
use super::error::ParseError;
use super::header::HeaderEntry;
use super::header_name::HeaderName;
use super::lex::{is, is_token, is_token_str, parse_decimal, split_commas, C_SCHEME};
use super::message::{Message, StartLine};
use super::method::Method;
use super::name_addr::{NameAddr, NameAddrSpans};
use super::span::Span;
use super::via::{Via, ViaSpans};

/// Finds the end of the line starting at `pos`: (index of the CR or LF that
/// ends it, index just past the LF). None if there is no LF.
fn line_end(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let lf = pos + memchr::memchr(b'\n', &buf[pos..])?;
    let end = if lf > pos && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

fn is_sp_ht(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Checks `SIP/2.0` (case-insensitive, RFC 3261 §7.1). A different
/// well-formed `SIP/x.y` is `BadVersion`; anything else `BadStartLine`.
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v == b"SIP/2.0" || v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let looks_sip = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && v[4..].iter().filter(|&&b| b == b'.').count() == 1;
    Err(if looks_sip {
        ParseError::BadVersion
    } else {
        ParseError::BadStartLine
    })
}

fn parse_start_line(buf: &[u8], end: usize) -> Result<StartLine, ParseError> {
    let line = &buf[..end];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = memchr::memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
        check_version(&line[..sp])?;
        let rest = &line[sp + 1..];
        let code_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if code_len != 3 || !matches!(rest.get(3), None | Some(b' ')) {
            return Err(if code_len == 0 {
                ParseError::BadStartLine
            } else {
                ParseError::BadStatusCode
            });
        }
        let code = parse_decimal(&rest[..3], 699).ok_or(ParseError::BadStatusCode)? as u16;
        if code < 100 {
            return Err(ParseError::BadStatusCode);
        }
        let reason_start = (sp + 1 + 4).min(end);
        if line[reason_start..]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n')
        {
            return Err(ParseError::BadStartLine);
        }
        return Ok(StartLine::Response {
            version: Span::new(0, sp),
            code,
            reason: Span::new(reason_start, end),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version. The method and
    // the version are short: plain scans from either end beat `memchr`.
    let first = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let last = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    if last == first {
        return Err(ParseError::BadStartLine);
    }
    let method = &line[..first];
    let uri = &line[first + 1..last];
    let version = &line[last + 1..];
    if version.is_empty() || uri.is_empty() || uri[0] == b' ' || uri[uri.len() - 1] == b' ' {
        return Err(ParseError::BadStartLine);
    }
    check_version(version)?;
    if !is_token_str(method) {
        return Err(ParseError::BadMethod);
    }
    // A scheme (ALPHA *(alphanumeric / "+" / "-" / ".") ":"), and no
    // control or white space anywhere (checked without an early exit, so
    // the compiler can test many bytes at once).
    let scheme_end = uri.iter().position(|&b| !is(b, C_SCHEME));
    let controls = uri
        .iter()
        .fold(false, |bad, &b| bad | (b <= b' ') | (b == 0x7f));
    if controls || !uri[0].is_ascii_alphabetic() || scheme_end.map(|i| uri[i]) != Some(b':') {
        return Err(ParseError::BadRequestUri);
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        method_span: Span::new(0, first),
        uri: Span::new(first + 1, last),
        version: Span::new(last + 1, end),
    })
}

/// First index of each header the parser checks, and duplicates seen.
#[derive(Default)]
struct Known {
    via: Option<usize>,
    from: Option<usize>,
    to: Option<usize>,
    call_id: Option<usize>,
    cseq: Option<usize>,
    max_forwards: Option<usize>,
    content_length: Option<usize>,
    duplicate: Option<HeaderName>,
}

impl Known {
    fn note(&mut self, name: HeaderName, i: usize) {
        let slot = match name {
            HeaderName::Via => {
                self.via.get_or_insert(i);
                return;
            }
            HeaderName::From => &mut self.from,
            HeaderName::To => &mut self.to,
            HeaderName::CallId => &mut self.call_id,
            HeaderName::CSeq => &mut self.cseq,
            HeaderName::MaxForwards => &mut self.max_forwards,
            HeaderName::ContentLength => &mut self.content_length,
            _ => return,
        };
        if slot.is_some() {
            self.duplicate.get_or_insert(name);
        } else {
            *slot = Some(i);
        }
    }
}

impl Message {
    /// Parses a whole message (one datagram, or one frame cut by
    /// [`crate::sip::framing`]). Takes the buffer without copying it.
    pub fn parse(mut buf: Vec<u8>) -> Result<Message, ParseError> {
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let lead = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if lead == buf.len() {
            return Err(ParseError::Empty);
        }
        if buf.len() > (u32::MAX - 2) as usize {
            return Err(ParseError::TooLarge);
        }
        if lead > 0 {
            buf.drain(..lead);
        }
        let (sl_end, mut pos) = line_end(&buf, 0).ok_or(ParseError::MissingBlankLine)?;
        let start = parse_start_line(&buf, sl_end)?;
        // The index is built in place: the message (with its inline header
        // array) is not moved again before it is returned.
        let mut msg = Message {
            buf,
            start,
            start_line: Span::new(0, sl_end),
            headers: SmallVec::new(),
            headers_end: 0,
            body_start: 0,
            cseq_number: 0,
            cseq_method: Method::Other,
            cseq_method_span: Span::default(),
            max_forwards: None,
            content_length: None,
            cached: Default::default(),
        };
        let buf = &mut msg.buf;
        let headers = &mut msg.headers;
        let mut known = Known::default();
        let (headers_end, body_start) = loop {
            if pos == buf.len() {
                // The datagram ends right after a header line with no
                // empty line: treat it as the end of the headers and add
                // the missing CRLF so forwarded copies are well-formed.
                buf.extend_from_slice(b"\r\n");
                break (pos, pos + 2);
            }
            // Fast path for the usual `Name: value` line: one scan over the
            // token name, one memchr for the line end.
            let mut n = pos;
            while n < buf.len() && is_token(buf[n]) {
                n += 1;
            }
            let mut k = n;
            while k < buf.len() && is_sp_ht(buf[k]) {
                k += 1;
            }
            if n > pos && buf.get(k) == Some(&b':') {
                let mut vstart = k + 1;
                while vstart < buf.len() && is_sp_ht(buf[vstart]) {
                    vstart += 1;
                }
                let lf = vstart
                    + memchr::memchr(b'\n', &buf[vstart..]).ok_or(ParseError::MissingBlankLine)?;
                let end = if buf[lf - 1] == b'\r' { lf - 1 } else { lf };
                let mut vend = end.max(vstart);
                while vend > vstart && is_sp_ht(buf[vend - 1]) {
                    vend -= 1;
                }
                let hn = HeaderName::from_bytes(&buf[pos..n]);
                known.note(hn, headers.len());
                headers.push(HeaderEntry {
                    name: hn,
                    name_span: Span::new(pos, n),
                    value: Span::new(vstart, vend),
                    line: Span::new(pos, lf + 1),
                });
                pos = lf + 1;
                continue;
            }
            let (end, next) = line_end(buf, pos).ok_or(ParseError::MissingBlankLine)?;
            if end == pos {
                break (pos, next);
            }
            if is_sp_ht(buf[pos]) {
                // Continuation line (folding, RFC 3261 §7.3.1).
                let last = headers.last_mut().ok_or(ParseError::BadHeaderLine)?;
                let text = &buf[pos..end];
                if let Some(first) = text.iter().position(|&b| !is_sp_ht(b)) {
                    let trail = text.iter().rev().take_while(|&&b| is_sp_ht(b)).count();
                    if last.value.is_empty() {
                        last.value.start = (pos + first) as u32;
                    }
                    last.value.end = (end - trail) as u32;
                }
                last.line.end = next as u32;
                pos = next;
                continue;
            }
            let colon =
                memchr::memchr(b':', &buf[pos..end]).ok_or(ParseError::BadHeaderLine)? + pos;
            let name_end = pos
                + buf[pos..colon]
                    .iter()
                    .rposition(|&b| !is_sp_ht(b))
                    .map_or(0, |i| i + 1);
            let name = &buf[pos..name_end];
            if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
                return Err(ParseError::BadHeaderName);
            }
            let vstart = colon
                + 1
                + buf[colon + 1..end]
                    .iter()
                    .take_while(|&&b| is_sp_ht(b))
                    .count();
            let vend = end
                - buf[vstart..end]
                    .iter()
                    .rev()
                    .take_while(|&&b| is_sp_ht(b))
                    .count();
            let hn = HeaderName::from_bytes(name);
            known.note(hn, headers.len());
            headers.push(HeaderEntry {
                name: hn,
                name_span: Span::new(pos, name_end),
                value: Span::new(vstart, vend),
                line: Span::new(pos, next),
            });
            pos = next;
        };
        msg.headers_end = headers_end as u32;
        msg.body_start = body_start as u32;
        msg.check(&known)?;
        Ok(msg)
    }

    fn value_at(&self, i: usize) -> &[u8] {
        self.headers[i].value.of(&self.buf)
    }

    fn check(&mut self, known: &Known) -> Result<(), ParseError> {
        let require = |slot: Option<usize>, h| slot.ok_or(ParseError::MissingHeader(h));
        let via = require(known.via, HeaderName::Via)?;
        let from = require(known.from, HeaderName::From)?;
        let to = require(known.to, HeaderName::To)?;
        let call_id = require(known.call_id, HeaderName::CallId)?;
        let cseq = require(known.cseq, HeaderName::CSeq)?;
        if let Some(h) = known.duplicate {
            return Err(ParseError::DuplicateHeader(h));
        }
        if let Some(i) = known.content_length {
            let v = parse_decimal(self.value_at(i), u64::from(u32::MAX))
                .ok_or(ParseError::BadContentLength)?;
            self.content_length = Some(v as u32);
        }
        let c = CSeq::parse(self.value_at(cseq))?;
        let (number, method) = (c.number, c.method);
        let method_span = self.span_of(c.method_bytes).unwrap_or_default();
        self.cseq_number = number;
        self.cseq_method = method;
        self.cseq_method_span = method_span;
        let cid = self.value_at(call_id);
        if cid.is_empty() || cid.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::BadCallId);
        }
        self.cached.call_id = self.headers[call_id].value;
        if let Some(i) = known.max_forwards {
            let v = parse_decimal(self.value_at(i), 255).ok_or(ParseError::BadMaxForwards)?;
            self.max_forwards = Some(v as u8);
        }
        let top = match split_commas(self.value_at(via)).next() {
            Some(Ok(top)) => Via::parse(top)?,
            _ => return Err(ParseError::BadVia),
        };
        let top = ViaSpans::of(&top, &self.buf);
        let (na, tag) = NameAddr::parse_tagged(self.value_at(from))?;
        let from = NameAddrSpans::of_tagged(&na, tag, &self.buf);
        let (na, tag) = NameAddr::parse_tagged(self.value_at(to))?;
        let to = NameAddrSpans::of_tagged(&na, tag, &self.buf);
        self.cached.top_via = top;
        self.cached.from = from;
        self.cached.to = to;
        if let Some(cl) = self.content_length {
            let available = self.buf.len() - self.body_start as usize;
            let cl = cl as usize;
            if cl > available {
                return Err(ParseError::ContentLengthMismatch);
            }
            self.buf.truncate(self.body_start as usize + cl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn parses_a_plain_invite() {
        let m = Message::parse(INVITE.to_vec()).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), Method::Invite);
        assert_eq!(m.ruri_bytes(), b"sip:bob@example.com");
        assert_eq!(m.version(), b"SIP/2.0");
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.content_length(), Some(4));
        assert_eq!(m.body(), b"v=0\n");
        assert_eq!(m.from_tag(), Some(&b"1928301774"[..]));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.call_id(), Some(&b"a84b4c76e66710@pc33.example.com"[..]));
        let c = m.cseq().unwrap();
        assert_eq!((c.number, c.method), (314159, Method::Invite));
        assert_eq!(
            m.top_via().unwrap().branch(),
            Some(&b"z9hG4bK776asdhds"[..])
        );
        assert_eq!(m.headers().count(), 9);
        assert_eq!(
            m.header_named(b"content-type").unwrap().value,
            b"application/sdp"
        );
        assert_eq!(m.header_named(b"c").unwrap().value, b"application/sdp");
        let h = m.header(HeaderName::MaxForwards).unwrap();
        assert_eq!(&m.as_bytes()[h.range.clone()], b"Max-Forwards: 70\r\n");
        assert_eq!(&m.as_bytes()[m.headers_end()..m.body_offset()], b"\r\n");
    }

    #[test]
    fn parses_responses() {
        let r = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Message::parse(r.to_vec()).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.reason(), b"Ringing");
        assert_eq!(m.method(), Method::Invite);
        assert_eq!(m.method_bytes(), b"INVITE");
        assert_eq!(m.ruri_bytes(), b"");
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn start_line_errors() {
        let tail = "\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        for (line, err) in [
            ("OPTIONS sip:a@b SIP/7.0", ParseError::BadVersion),
            ("OPTIONS  sip:a@b  SIP/2.0", ParseError::BadStartLine),
            ("OPTIONS sip:a@b SIP/2.0  ", ParseError::BadStartLine),
            ("OPTIONS sip:a@b; lr SIP/2.0", ParseError::BadRequestUri),
            ("OPTIONS <sip:a@b> SIP/2.0", ParseError::BadRequestUri),
            ("OPT@ONS sip:a@b SIP/2.0", ParseError::BadMethod),
            ("OPTIONS", ParseError::BadStartLine),
            ("SIP/2.0 4294967301 big", ParseError::BadStatusCode),
            ("SIP/2.0 099 low", ParseError::BadStatusCode),
            ("SIP/2.0 abc", ParseError::BadStartLine),
            ("HTTP/1.1 200 OK", ParseError::BadStartLine),
        ] {
            let m = format!("{line}{tail}");
            assert_eq!(Message::parse(m.into_bytes()).unwrap_err(), err, "{line}");
        }
    }

    #[test]
    fn header_errors() {
        let base = "OPTIONS sip:a@b SIP/2.0\r\n";
        let ok = "Via: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
        for (extra, err) in [
            ("Bad Name: x\r\n", ParseError::BadHeaderName),
            ("NoColon\r\n", ParseError::BadHeaderLine),
            ("Max-Forwards: 256\r\n", ParseError::BadMaxForwards),
            ("Content-Length: -1\r\n", ParseError::BadContentLength),
            ("Content-Length: 5\r\n", ParseError::ContentLengthMismatch),
            (
                "l: 1\r\nl: 1\r\n",
                ParseError::DuplicateHeader(HeaderName::ContentLength),
            ),
            ("i: y\r\n", ParseError::DuplicateHeader(HeaderName::CallId)),
        ] {
            let m = format!("{base}{ok}{extra}\r\n");
            assert_eq!(Message::parse(m.into_bytes()).unwrap_err(), err, "{extra}");
        }
        let m = format!("{base} folded\r\n{ok}\r\n");
        assert_eq!(
            Message::parse(m.into_bytes()).unwrap_err(),
            ParseError::BadHeaderLine
        );
        let m = format!("{base}Via: SIP/2.0/UDP h\r\n\r\n");
        assert_eq!(
            Message::parse(m.into_bytes()).unwrap_err(),
            ParseError::MissingHeader(HeaderName::From)
        );
        assert_eq!(
            Message::parse(b"\r\n\r\n".to_vec()).unwrap_err(),
            ParseError::Empty
        );
        assert_eq!(
            Message::parse(b"OPTIONS sip:a@b SIP/2.0".to_vec()).unwrap_err(),
            ParseError::MissingBlankLine
        );
    }

    #[test]
    fn lenient_framing() {
        // Leading CRLFs dropped, bare LF accepted, missing blank line added,
        // bytes past Content-Length discarded.
        let m = b"\r\nOPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@b>\nTo: <sip:c@d>\nCall-ID: x\nCSeq: 1 OPTIONS\n";
        let m = Message::parse(m.to_vec()).unwrap();
        assert!(m.as_bytes().starts_with(b"OPTIONS"));
        assert!(m.as_bytes().ends_with(b"OPTIONS\n\r\n"));
        assert_eq!(m.body(), b"");
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nl: 2\r\n\r\nabEXTRA";
        let m = Message::parse(m.to_vec()).unwrap();
        assert_eq!(m.body(), b"ab");
        assert!(m.as_bytes().ends_with(b"\r\n\r\nab"));
    }

    #[test]
    fn unknown_headers_by_name_and_compact_form() {
        let m = b"REFER sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\nt: <sip:c@d>\r\ni: x\r\nCSeq: 1 REFER\r\nr: <sip:e@f>\r\nX-A: 1, 2\r\nx-a: 3\r\n\r\n";
        let m = Message::parse(m.to_vec()).unwrap();
        assert_eq!(m.method(), Method::Refer);
        assert_eq!(m.header_named(b"Refer-To").unwrap().value, b"<sip:e@f>");
        let v: Vec<_> = m.values_named(b"X-A").collect();
        assert_eq!(v, vec![&b"1"[..], b"2", b"3"]);
        assert_eq!(m.headers_named(b"x-a").count(), 2);
        assert!(!m.has_header_named(b"X-B"));
        assert_eq!(m.vias().count(), 1);
    }
}
