//! Quick reads of message bytes that were not parsed into a [`Message`]:
//! for bytes the proxy built itself from a parsed message (a branch
//! request), where one field is needed and a full parse would repeat the
//! work. Nothing here validates the message.
//!
//! [`Message`]: super::Message

use super::lex::{is, split_commas, C_PVALUE};
use super::params;

/// The `branch` parameter of the first Via value (header `Via` or `v`,
/// any case; folded lines followed) in the headers of `msg`. None when
/// there is no Via, the first value has no `branch` with a value, or the
/// headers end first.
pub fn top_via_branch(msg: &[u8]) -> Option<&[u8]> {
    params::find(top_via_params(msg)?, b"branch").flatten()
}

/// True when [`top_via_branch`] is `want` (a token, e.g. a branch the
/// proxy generated), found without scanning the branch itself.
pub fn top_via_branch_is(msg: &[u8], want: &[u8]) -> bool {
    let Some(tail) = top_via_params(msg).and_then(|p| params::value_tail(p, b"branch")) else {
        return false;
    };
    // The value is the longest run of value bytes: `want` and no more.
    !want.is_empty()
        && tail.starts_with(want)
        && tail.get(want.len()).is_none_or(|&b| !is(b, C_PVALUE))
}

/// The parameters of the first Via value (from its first `;`).
fn top_via_params(msg: &[u8]) -> Option<&[u8]> {
    // Past the start line.
    let mut pos = memchr::memchr(b'\n', msg)? + 1;
    loop {
        let (end, next) = line_at(msg, pos)?;
        if end == pos {
            // The empty line: no Via in the headers.
            return None;
        }
        let line = &msg[pos..end];
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = trim_sp(&line[..colon]);
            if name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v") {
                // The value runs to the end of the last continuation line.
                let mut value_end = end;
                let mut after = next;
                while matches!(msg.get(after), Some(b' ' | b'\t')) {
                    let (e, n) = line_at(msg, after)?;
                    value_end = e;
                    after = n;
                }
                let value = &msg[pos + colon + 1..value_end];
                let top = split_commas(value).next()?.ok()?;
                // Protocol and sent-by hold no ';': the first one starts
                // the parameters.
                let semi = memchr::memchr(b';', top)?;
                return Some(&top[semi..]);
            }
        }
        pos = next;
    }
}

/// The line starting at `pos`: (index of its CR or LF, index past the LF).
fn line_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let lf = pos + memchr::memchr(b'\n', buf.get(pos..)?)?;
    let end = if lf > pos && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

fn trim_sp(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &s[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Message;

    /// The scan agrees with the parser on the top Via branch, and
    /// `top_via_branch_is` with the scan.
    fn agrees(m: &[u8]) -> Option<Vec<u8>> {
        let scanned = top_via_branch(m).map(<[u8]>::to_vec);
        for want in [&b"z9hG4bKa"[..], b"z9hG4bK", b"z9hG4bKab", b"z9hG4bKg"] {
            assert_eq!(
                top_via_branch_is(m, want),
                scanned.as_deref() == Some(want),
                "{}",
                String::from_utf8_lossy(m)
            );
        }
        if let Ok(p) = Message::parse(m.to_vec()) {
            let parsed = p.top_via().and_then(|v| v.branch()).map(<[u8]>::to_vec);
            assert_eq!(scanned, parsed, "{}", String::from_utf8_lossy(m));
        }
        scanned
    }

    const TAIL: &str =
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";

    #[test]
    fn finds_the_first_via_values_branch() {
        for (vias, want) in [
            (
                "Via: SIP/2.0/UDP h;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP g;branch=z9hG4bKb\r\n",
                Some("z9hG4bKa"),
            ),
            (
                "v: SIP/2.0/UDP h;rport;BRANCH=z9hG4bKa, SIP/2.0/UDP g;branch=z9hG4bKb\r\n",
                Some("z9hG4bKa"),
            ),
            (
                "Max-Forwards: 70\r\nVIA : SIP/2.0/UDP [2001:db8::1]:5060 ; branch = z9hG4bKc\r\n",
                Some("z9hG4bKc"),
            ),
            (
                "Via: SIP/2.0/UDP h\r\n ;branch=z9hG4bKd\r\n",
                Some("z9hG4bKd"),
            ),
            (
                "Via: SIP/2.0/UDP h, SIP/2.0/UDP g;branch=z9hG4bKe\r\n",
                None,
            ),
            ("Via: SIP/2.0/UDP h;branch\r\n", None),
            (
                "Viaduct: SIP/2.0/UDP h;branch=z9hG4bKf\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKg\r\n",
                Some("z9hG4bKg"),
            ),
        ] {
            let m = format!("OPTIONS sip:a@b SIP/2.0\r\n{vias}{TAIL}");
            assert_eq!(
                agrees(m.as_bytes()).as_deref(),
                want.map(str::as_bytes),
                "{vias}"
            );
        }
    }

    #[test]
    fn no_via_in_the_headers() {
        let m = format!("OPTIONS sip:a@b SIP/2.0\r\n{TAIL}Via: SIP/2.0/UDP h;branch=z9hG4bKa\r\n");
        assert_eq!(top_via_branch(m.as_bytes()), None);
        assert_eq!(
            top_via_branch(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=x"),
            None
        );
        assert_eq!(top_via_branch(b""), None);
    }
}
