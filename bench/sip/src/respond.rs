//! Builds a response from a scanned request alone (no state): the Via,
//! From, Call-ID and CSeq lines are copied, a To tag is added when the
//! request has none, Record-Route is echoed on dialog-creating responses, and
//! the 200 to INVITE carries a Contact and the SDP body.

use super::scan::Scanned;
use super::write::{Out, Overflow};

/// What to put in a response besides the copied headers.
pub struct ResponseSpec<'a> {
    pub code: u16,
    pub reason: &'a [u8],
    /// To tag to add when the request's To has none.
    pub to_tag: &'a [u8],
    /// `host:port` for the Contact of dialog-creating responses.
    pub contact: &'a [u8],
    /// Echo Record-Route and add Contact (18x/2xx to INVITE).
    pub dialog: bool,
    /// Body (SDP) and its type, if any.
    pub body: Option<&'a [u8]>,
}

/// The reason phrase for the codes the harness sends.
pub fn reason(code: u16) -> &'static [u8] {
    match code {
        100 => b"Trying",
        180 => b"Ringing",
        200 => b"OK",
        401 => b"Unauthorized",
        404 => b"Not Found",
        481 => b"Call/Transaction Does Not Exist",
        486 => b"Busy Here",
        487 => b"Request Terminated",
        500 => b"Server Internal Error",
        503 => b"Service Unavailable",
        603 => b"Decline",
        _ => b"Unknown",
    }
}

/// Writes the response to `req` into `out`.
pub fn write_response(out: &mut Out<'_>, req: &Scanned<'_>, spec: &ResponseSpec<'_>) -> Result<(), Overflow> {
    out.put(b"SIP/2.0 ")?.num(u64::from(spec.code))?.put(b" ")?.line(spec.reason)?;
    for &via in &req.via_lines[..req.via_count] {
        out.line(req.span(via))?;
    }
    if spec.dialog {
        for &rr in &req.rr_lines[..req.rr_count] {
            out.line(req.span(rr))?;
        }
    }
    out.line(req.span(req.from_line))?;
    out.put(req.span(req.to_line))?;
    if req.to_tag.is_none() && spec.code != 100 {
        out.put(b";tag=")?.put(spec.to_tag)?;
    }
    out.put(b"\r\n")?;
    out.line(req.span(req.call_id_line))?;
    out.line(req.span(req.cseq_line))?;
    if spec.dialog {
        out.put(b"Contact: <sip:uas@")?.put(spec.contact)?.put(b">\r\n")?;
    }
    match spec.body {
        Some(body) => {
            out.put(b"Content-Type: application/sdp\r\nContent-Length: ")?
                .num(body.len() as u64)?;
            out.put(b"\r\n\r\n")?.put(body)?;
        }
        None => {
            out.put(b"Content-Length: 0\r\n\r\n")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan;

    #[test]
    fn answers_invite_with_tag_rr_contact_and_sdp() {
        let req = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nRecord-Route: <sip:p;lr>\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 1@c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let s = scan(req).unwrap();
        let mut buf = [0u8; 1500];
        let mut out = Out::new(&mut buf);
        let spec = ResponseSpec {
            code: 200,
            reason: reason(200),
            to_tag: b"t1",
            contact: b"127.0.0.1:5070",
            dialog: true,
            body: Some(crate::SDP),
        };
        write_response(&mut out, &s, &spec).unwrap();
        let r = scan(out.written()).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.to_tag, Some(&b"t1"[..]));
        assert_eq!(r.via_count, 2);
        assert_eq!(r.rr_count, 1);
        assert_eq!(r.branch, Some(&b"z9hG4bKp"[..]));
        assert_eq!(&out.written()[r.body_start..], crate::SDP);
    }

    #[test]
    fn trying_has_no_tag_and_overflow_is_reported() {
        let req = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 1@c\r\nCSeq: 1 INVITE\r\n\r\n";
        let s = scan(req).unwrap();
        let mut buf = [0u8; 1500];
        let mut out = Out::new(&mut buf);
        let spec = ResponseSpec {
            code: 100,
            reason: reason(100),
            to_tag: b"t1",
            contact: b"",
            dialog: false,
            body: None,
        };
        write_response(&mut out, &s, &spec).unwrap();
        assert_eq!(scan(out.written()).unwrap().to_tag, None);
        let mut small = [0u8; 40];
        assert_eq!(write_response(&mut Out::new(&mut small), &s, &spec), Err(Overflow));
    }
}
