//! A one-pass, allocation-free scanner for the few SIP fields the harness
//! needs: the start line (method or status code), Call-ID, CSeq, the To tag,
//! the top Via's branch, Max-Forwards, the number of Via headers, and the
//! header lines a stateless responder copies into its answers (Via, From, To,
//! Call-ID, CSeq, Record-Route), and the Contact a UAC needs for its dialog.
//!
//! Why not `sipshard_core::sip::Message`: the harness must cost a fraction of
//! the proxy it measures, and a full parse that takes ownership of a `Vec<u8>`
//! per datagram would allocate on every message. The scanner borrows the
//! datagram and keeps header positions in fixed arrays.

/// Most Via / Record-Route header lines a message may carry before the
/// scanner reports [`ScanError::TooManyHeaders`].
pub const MAX_REPEATED: usize = 12;

/// Why a datagram could not be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// The start line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 NNN reason`.
    BadStartLine,
    /// No empty line ends the header section.
    Unterminated,
    /// A header the harness relies on is absent (its name is given).
    Missing(&'static str),
    /// More than [`MAX_REPEATED`] Via or Record-Route header lines.
    TooManyHeaders,
    /// A header value the harness relies on is malformed (its name is given).
    Malformed(&'static str),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::BadStartLine => write!(f, "bad SIP start line"),
            ScanError::Unterminated => write!(f, "header section not terminated by an empty line"),
            ScanError::Missing(h) => write!(f, "missing {h} header"),
            ScanError::TooManyHeaders => write!(f, "more than {MAX_REPEATED} Via or Record-Route lines"),
            ScanError::Malformed(h) => write!(f, "malformed {h} header"),
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// A request: the method token.
    Request(&'a [u8]),
    /// A response: the status code.
    Response(u16),
}

/// A byte range inside the scanned datagram (whole header line without CRLF).
pub type Span = (usize, usize);

/// The fields of one datagram, as ranges into it.
#[derive(Debug, Clone, Copy)]
pub struct Scanned<'a> {
    /// The datagram itself.
    pub bytes: &'a [u8],
    /// Method or status code.
    pub start: StartLine<'a>,
    /// Call-ID value.
    pub call_id: &'a [u8],
    /// CSeq number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: &'a [u8],
    /// The `tag` parameter of To, if any.
    pub to_tag: Option<&'a [u8]>,
    /// The `branch` parameter of the top Via, if any.
    pub branch: Option<&'a [u8]>,
    /// Max-Forwards value, if present and numeric.
    pub max_forwards: Option<u32>,
    /// Number of Via header lines (a line with several comma-separated
    /// values counts once).
    pub via_count: usize,
    /// Whole Via header lines, top first.
    pub via_lines: [Span; MAX_REPEATED],
    /// Whole Record-Route header lines, in order.
    pub rr_lines: [Span; MAX_REPEATED],
    /// Number of Record-Route header lines.
    pub rr_count: usize,
    /// Whole From line.
    pub from_line: Span,
    /// Whole To line.
    pub to_line: Span,
    /// Whole Call-ID line.
    pub call_id_line: Span,
    /// Whole CSeq line.
    pub cseq_line: Span,
    /// The value of WWW-Authenticate or Proxy-Authenticate, if any.
    pub challenge: Option<&'a [u8]>,
    /// The value of the first Contact header, if any.
    pub contact: Option<&'a [u8]>,
    /// Number of Route header lines.
    pub route_count: usize,
    /// Offset of the body (just after the empty line).
    pub body_start: usize,
}

impl<'a> Scanned<'a> {
    /// The bytes of a span.
    #[inline]
    pub fn span(&self, s: Span) -> &'a [u8] {
        &self.bytes[s.0..s.1]
    }

    /// The status code, if this is a response.
    #[inline]
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response(c) => Some(c),
            StartLine::Request(_) => None,
        }
    }

    /// The method, if this is a request.
    #[inline]
    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request(m) => Some(m),
            StartLine::Response(_) => None,
        }
    }
}

/// Which header a line holds (only those the scanner cares about).
#[derive(PartialEq, Eq)]
enum Known {
    Via,
    From,
    To,
    CallId,
    CSeq,
    RecordRoute,
    MaxForwards,
    Challenge,
    Contact,
    Route,
    Other,
}

/// Which header `name` is: by length first, so most lines cost one or two
/// comparisons.
fn classify(name: &[u8]) -> Known {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        1 => match name[0].to_ascii_lowercase() {
            b'v' => Known::Via,
            b'f' => Known::From,
            b't' => Known::To,
            b'i' => Known::CallId,
            b'm' => Known::Contact,
            _ => Known::Other,
        },
        2 if is(b"to") => Known::To,
        3 if is(b"via") => Known::Via,
        4 if is(b"from") => Known::From,
        4 if is(b"cseq") => Known::CSeq,
        5 if is(b"route") => Known::Route,
        7 if is(b"call-id") => Known::CallId,
        7 if is(b"contact") => Known::Contact,
        12 if is(b"record-route") => Known::RecordRoute,
        12 if is(b"max-forwards") => Known::MaxForwards,
        16 if is(b"www-authenticate") => Known::Challenge,
        18 if is(b"proxy-authenticate") => Known::Challenge,
        _ => Known::Other,
    }
}

/// Scans one datagram.
pub fn scan(bytes: &[u8]) -> Result<Scanned<'_>, ScanError> {
    let first_end = find_crlf(bytes, 0).ok_or(ScanError::Unterminated)?;
    let start = start_line(&bytes[..first_end])?;
    let mut out = Scanned {
        bytes,
        start,
        call_id: &[],
        cseq: 0,
        cseq_method: &[],
        to_tag: None,
        branch: None,
        max_forwards: None,
        via_count: 0,
        via_lines: [(0, 0); MAX_REPEATED],
        rr_lines: [(0, 0); MAX_REPEATED],
        rr_count: 0,
        from_line: (0, 0),
        to_line: (0, 0),
        call_id_line: (0, 0),
        cseq_line: (0, 0),
        challenge: None,
        contact: None,
        route_count: 0,
        body_start: 0,
    };
    let mut pos = first_end + 2;
    let (mut have_call_id, mut have_cseq, mut have_from, mut have_to) = (false, false, false, false);
    loop {
        let end = find_crlf(bytes, pos).ok_or(ScanError::Unterminated)?;
        if end == pos {
            out.body_start = end + 2;
            break;
        }
        let line = &bytes[pos..end];
        let Some(colon) = memchr::memchr(b':', line) else {
            pos = end + 2;
            continue;
        };
        let value = trim(&line[colon + 1..]);
        let span = (pos, end);
        match classify(trim(&line[..colon])) {
            Known::Via => {
                if out.via_count == MAX_REPEATED {
                    return Err(ScanError::TooManyHeaders);
                }
                if out.via_count == 0 {
                    out.branch = param(first_value(value), b"branch");
                }
                out.via_lines[out.via_count] = span;
                out.via_count += 1;
            }
            Known::RecordRoute => {
                if out.rr_count == MAX_REPEATED {
                    return Err(ScanError::TooManyHeaders);
                }
                out.rr_lines[out.rr_count] = span;
                out.rr_count += 1;
            }
            Known::From => {
                out.from_line = span;
                have_from = true;
            }
            Known::To => {
                out.to_line = span;
                out.to_tag = param(after_uri(value), b"tag");
                have_to = true;
            }
            Known::CallId => {
                out.call_id = value;
                out.call_id_line = span;
                have_call_id = true;
            }
            Known::CSeq => {
                let (num, method) = split_cseq(value)?;
                out.cseq = num;
                out.cseq_method = method;
                out.cseq_line = span;
                have_cseq = true;
            }
            Known::MaxForwards => out.max_forwards = parse_u32(value),
            Known::Challenge => out.challenge = Some(value),
            Known::Route => out.route_count += 1,
            Known::Contact => {
                if out.contact.is_none() {
                    out.contact = Some(value);
                }
            }
            Known::Other => {}
        }
        pos = end + 2;
    }
    if !have_call_id {
        return Err(ScanError::Missing("Call-ID"));
    }
    if !have_cseq {
        return Err(ScanError::Missing("CSeq"));
    }
    if !have_from {
        return Err(ScanError::Missing("From"));
    }
    if !have_to {
        return Err(ScanError::Missing("To"));
    }
    if out.via_count == 0 {
        return Err(ScanError::Missing("Via"));
    }
    Ok(out)
}

fn start_line(line: &[u8]) -> Result<StartLine<'_>, ScanError> {
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        let code = rest.get(..3).and_then(parse_u32).ok_or(ScanError::BadStartLine)?;
        if !(100..=699).contains(&code) {
            return Err(ScanError::BadStartLine);
        }
        return Ok(StartLine::Response(code as u16));
    }
    let sp = line.iter().position(|&b| b == b' ').ok_or(ScanError::BadStartLine)?;
    if sp == 0 || !line.ends_with(b" SIP/2.0") {
        return Err(ScanError::BadStartLine);
    }
    Ok(StartLine::Request(&line[..sp]))
}

fn find_crlf(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let cr = at + memchr::memchr(b'\r', bytes.get(at..)?)?;
        if bytes.get(cr + 1) == Some(&b'\n') {
            return Some(cr);
        }
        at = cr + 1;
    }
}

/// Trims spaces and tabs at both ends.
#[inline]
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses a decimal number that fits in a `u32`.
#[inline]
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    s.iter()
        .try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

fn first_value(value: &[u8]) -> &[u8] {
    match value.iter().position(|&b| b == b',') {
        Some(p) => &value[..p],
        None => value,
    }
}

/// The header parameters after a name-addr: everything after `>` if the
/// value has one, the whole value otherwise.
fn after_uri(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'>') {
        Some(p) => &value[p + 1..],
        None => value,
    }
}

/// The value of `;name=value` among `params` (case-insensitive name).
#[inline]
pub fn param<'a>(params: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    params.split(|&b| b == b';').skip(1).find_map(|p| {
        let p = trim(p);
        let eq = p.iter().position(|&b| b == b'=')?;
        trim(&p[..eq]).eq_ignore_ascii_case(name).then(|| trim(&p[eq + 1..]))
    })
}

/// The names of the `;name[=value]` parameters of `s` (after its first `;`).
pub fn param_names(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b';')
        .skip(1)
        .map(|p| trim(p.split(|&b| b == b'=').next().unwrap_or_default()))
}

fn split_cseq(value: &[u8]) -> Result<(u32, &[u8]), ScanError> {
    let sp = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .ok_or(ScanError::Malformed("CSeq"))?;
    let num = parse_u32(&value[..sp]).ok_or(ScanError::Malformed("CSeq"))?;
    let method = trim(&value[sp..]);
    if method.is_empty() {
        return Err(ScanError::Malformed("CSeq"));
    }
    Ok((num, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:uas@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-proxy\r\n\
v: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bK-1-2\r\n\
Record-Route: <sip:127.0.0.1:5060;lr>\r\n\
Max-Forwards: 69\r\n\
From: <sip:uac@x>;tag=abc\r\n\
To: <sip:uas@y>\r\n\
i: 7-1@h\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 4\r\n\r\nbody";

    #[test]
    fn scans_a_proxied_request() {
        let s = scan(INVITE).unwrap();
        assert_eq!(s.method(), Some(&b"INVITE"[..]));
        assert_eq!(s.call_id, b"7-1@h");
        assert_eq!((s.cseq, s.cseq_method), (1, &b"INVITE"[..]));
        assert_eq!(s.branch, Some(&b"z9hG4bK-proxy"[..]));
        assert_eq!(s.via_count, 2);
        assert_eq!(s.rr_count, 1);
        assert_eq!(s.route_count, 0);
        assert_eq!(s.max_forwards, Some(69));
        assert_eq!(s.to_tag, None);
        assert_eq!(s.span(s.from_line), b"From: <sip:uac@x>;tag=abc");
        assert_eq!(&INVITE[s.body_start..], b"body");
    }

    #[test]
    fn scans_a_response_with_to_tag() {
        let r = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=b1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d;user=phone>;tag=xyz\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nm: <sip:c@10.0.0.1:5070>\r\nContact: <sip:second@h>\r\n\r\n";
        let s = scan(r).unwrap();
        assert_eq!(s.status(), Some(180));
        assert_eq!(
            s.contact,
            Some(&b"<sip:c@10.0.0.1:5070>"[..]),
            "the first Contact, compact form too"
        );
        assert_eq!(s.to_tag, Some(&b"xyz"[..]));
        assert_eq!(s.cseq_method, b"BYE");
    }

    #[test]
    fn reports_precise_errors() {
        assert_eq!(scan(b"garbage\r\n\r\n").unwrap_err(), ScanError::BadStartLine);
        assert_eq!(scan(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n").unwrap_err(), ScanError::Unterminated);
        assert_eq!(
            scan(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n").unwrap_err(),
            ScanError::Missing("CSeq")
        );
        let bad = b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: one INVITE\r\n\r\n";
        assert_eq!(scan(bad).unwrap_err(), ScanError::Malformed("CSeq"));
        assert_eq!(scan(b"SIP/2.0 999 Huh\r\n\r\n").unwrap_err(), ScanError::BadStartLine);
    }

    #[test]
    fn finds_params() {
        assert_eq!(param(b"x;a=1; B = 2", b"b"), Some(&b"2"[..]));
        assert_eq!(param(b"x;a", b"a"), None);
    }

    /// Mutated copies of a real message (bytes flipped, cut, CR/LF/colon
    /// inserted, from a fixed seed): the scanner never panics, every span it
    /// returns lies inside the datagram, and its line finder agrees with a
    /// naive search for CRLF.
    #[test]
    fn survives_mutated_messages() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut m = INVITE.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % m.len() as u64) as usize;
                match next() % 4 {
                    0 => m[at] = next() as u8,
                    1 => m.insert(at, [b'\r', b'\n', b':', b';'][(next() % 4) as usize]),
                    2 => m.truncate(at),
                    _ => {
                        m.remove(at);
                    }
                }
                if m.is_empty() {
                    m.push(b'\r');
                }
            }
            for from in [0, (next() % m.len() as u64) as usize, m.len() - 1] {
                let naive = m[from..].windows(2).position(|w| w == b"\r\n").map(|p| p + from);
                assert_eq!(find_crlf(&m, from), naive);
            }
            if let Ok(s) = scan(&m) {
                let spans = [s.from_line, s.to_line, s.call_id_line, s.cseq_line];
                for sp in spans.iter().chain(&s.via_lines[..s.via_count]).chain(&s.rr_lines[..s.rr_count]) {
                    assert!(sp.0 <= sp.1 && sp.1 <= m.len());
                }
                assert!(s.body_start <= m.len());
            }
        }
    }
}
