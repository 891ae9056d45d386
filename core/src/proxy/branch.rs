//! The Via branch of a stateless forward (RFC 3261 §16.11): derived from
//! the request so that a retransmission is forwarded with the same branch,
//! and a CANCEL or an ACK for a non-2xx response gets the branch of the
//! INVITE it belongs to. As Kamailio's `forward()` does
//! (`src/core/char_msg_val.h`), the hash covers the From tag, the To tag
//! (left out for INVITE, ACK and CANCEL: a non-2xx ACK carries the tag the
//! response added), Call-ID, Request-URI, the CSeq number (not the method)
//! and the top Via's host, port and branch.

use md5::{Digest, Md5};

use crate::sip::via::MAGIC_COOKIE;
use crate::sip::{Message, Method};

/// Length of a branch: the magic cookie and 32 hex digits.
pub const BRANCH_LEN: usize = 7 + 32;

/// A branch value, ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Branch([u8; BRANCH_LEN]);

impl Branch {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Built from the ASCII cookie and ASCII hex digits only.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex_into(digest: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        if 2 * i + 1 >= out.len() {
            break;
        }
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
}

/// The hash input of a branch: NUL-terminated fields, kept on the stack
/// while they fit.
struct Input {
    buf: [u8; 256],
    len: usize,
    md5: Option<Md5>,
}

impl Input {
    fn push(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
            h.update([0u8]);
            return;
        }
        let end = self.len + bytes.len() + 1;
        if end <= self.buf.len() {
            self.buf[self.len..end - 1].copy_from_slice(bytes);
            self.buf[end - 1] = 0;
            self.len = end;
        } else {
            let mut h = Md5::new();
            h.update(&self.buf[..self.len]);
            h.update(bytes);
            h.update([0u8]);
            self.md5 = Some(h);
        }
    }

    fn finish(&mut self) -> [u8; 16] {
        match self.md5.take() {
            Some(h) => h.finalize().into(),
            None => Md5::digest(&self.buf[..self.len]).into(),
        }
    }
}

/// The stateless branch for forwarding `msg` (a request).
pub fn stateless_branch(msg: &Message) -> Branch {
    // The fields are gathered on the stack and hashed in one call (the
    // same bytes as feeding them one by one, without a dozen small
    // updates); a long request falls back to streaming.
    let mut input = Input {
        buf: [0u8; 256],
        len: 0,
        md5: None,
    };
    let mut field = |bytes: &[u8]| input.push(bytes);
    field(msg.from_tag().unwrap_or(b""));
    let to_tag = match msg.method() {
        Method::Invite | Method::Ack | Method::Cancel => b"".as_slice(),
        _ => msg.to_tag().unwrap_or(b""),
    };
    field(to_tag);
    field(msg.call_id().unwrap_or(b""));
    field(msg.ruri_bytes());
    let mut digits = [0u8; 20];
    let cseq = msg.cseq().map_or(0, |c| c.number) as usize;
    field(crate::sip::edit::decimal(cseq, &mut digits));
    let via = msg.top_via();
    field(via.map_or(b"".as_slice(), |v| v.host));
    let port = usize::from(via.and_then(|v| v.port).unwrap_or(0));
    field(crate::sip::edit::decimal(port, &mut digits));
    field(via.and_then(|v| v.branch()).unwrap_or(b""));
    let digest = input.finish();
    let mut out = [0u8; BRANCH_LEN];
    out[..7].copy_from_slice(MAGIC_COOKIE);
    hex_into(&digest, &mut out[7..]);
    Branch(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(start: &str, to: &str, cseq: &str, branch: &str) -> Message {
        let m = format!(
            "{start}\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nFrom: <sip:a@b>;tag=f1\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: {cseq}\r\n\r\n"
        );
        Message::parse(m.into_bytes()).unwrap()
    }

    #[test]
    fn retransmissions_cancel_and_non2xx_ack_share_the_invite_branch() {
        let inv = stateless_branch(&msg(
            "INVITE sip:b@x SIP/2.0",
            "<sip:b@x>",
            "1 INVITE",
            "z9hG4bK1",
        ));
        let again = stateless_branch(&msg(
            "INVITE sip:b@x SIP/2.0",
            "<sip:b@x>",
            "1 INVITE",
            "z9hG4bK1",
        ));
        let cancel = stateless_branch(&msg(
            "CANCEL sip:b@x SIP/2.0",
            "<sip:b@x>",
            "1 CANCEL",
            "z9hG4bK1",
        ));
        let ack = stateless_branch(&msg(
            "ACK sip:b@x SIP/2.0",
            "<sip:b@x>;tag=t9",
            "1 ACK",
            "z9hG4bK1",
        ));
        assert_eq!(inv, again);
        assert_eq!(inv, cancel);
        assert_eq!(inv, ack);
        assert!(inv.as_str().starts_with("z9hG4bK"));
        assert_eq!(inv.as_str().len(), BRANCH_LEN);
    }

    #[test]
    fn different_transactions_differ() {
        let inv = stateless_branch(&msg(
            "INVITE sip:b@x SIP/2.0",
            "<sip:b@x>",
            "1 INVITE",
            "z9hG4bK1",
        ));
        let ack2xx = stateless_branch(&msg(
            "ACK sip:b@x SIP/2.0",
            "<sip:b@x>;tag=t9",
            "1 ACK",
            "z9hG4bK2",
        ));
        let reinv = stateless_branch(&msg(
            "INVITE sip:b@x SIP/2.0",
            "<sip:b@x>",
            "2 INVITE",
            "z9hG4bK3",
        ));
        let bye1 = stateless_branch(&msg(
            "BYE sip:b@x SIP/2.0",
            "<sip:b@x>;tag=t1",
            "3 BYE",
            "z9hG4bK4",
        ));
        let bye2 = stateless_branch(&msg(
            "BYE sip:b@x SIP/2.0",
            "<sip:b@x>;tag=t2",
            "3 BYE",
            "z9hG4bK4",
        ));
        assert_ne!(inv, ack2xx);
        assert_ne!(inv, reinv);
        assert_ne!(bye1, bye2);
    }

    /// The stack buffer (and its streaming fallback for long fields) hash
    /// the same bytes as feeding each field to MD5 in turn.
    #[test]
    fn hash_input_is_the_fields_each_nul_terminated() {
        for user in ["b".to_string(), "u".repeat(300), "u".repeat(600)] {
            let m = msg(
                &format!("BYE sip:{user}@x SIP/2.0"),
                "<sip:b@x>;tag=t1",
                "3 BYE",
                "z9hG4bK4",
            );
            let mut h = Md5::new();
            for f in [
                &b"f1"[..],
                b"t1",
                b"c1",
                m.ruri_bytes(),
                b"3",
                b"192.0.2.1",
                b"5060",
                b"z9hG4bK4",
            ] {
                h.update(f);
                h.update([0u8]);
            }
            let mut want = [0u8; BRANCH_LEN];
            want[..7].copy_from_slice(MAGIC_COOKIE);
            hex_into(&h.finalize(), &mut want[7..]);
            assert_eq!(stateless_branch(&m).as_bytes(), &want[..]);
        }
    }
}
