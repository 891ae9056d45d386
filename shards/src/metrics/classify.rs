//! What a message is, from its first line only: a request and its method,
//! or a reply and its status class. Cheap enough for every message sent.

/// Methods counted by name; anything else counts as `OTHER`.
pub const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "INFO",
    "PRACK",
    "UPDATE",
    "REFER",
    "OTHER",
];

/// Status classes, `1xx` to `6xx`.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// A message as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request; the index into [`METHODS`].
    Request(usize),
    /// A reply; the index into [`STATUS_CLASSES`].
    Reply(usize),
    /// Neither (a message that does not start like SIP).
    Unknown,
}

/// Classifies a message by its first bytes.
pub fn classify(bytes: &[u8]) -> Kind {
    if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
        return match rest.first() {
            Some(d @ b'1'..=b'6') => Kind::Reply((d - b'1') as usize),
            _ => Kind::Unknown,
        };
    }
    let end = bytes.iter().take(32).position(|b| *b == b' ');
    match end {
        Some(0) | None => Kind::Unknown,
        Some(n) => {
            let m = &bytes[..n];
            let i = METHODS[..METHODS.len() - 1]
                .iter()
                .position(|k| k.as_bytes() == m)
                .unwrap_or(METHODS.len() - 1);
            Kind::Request(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies() {
        assert_eq!(classify(b"INVITE sip:a@b SIP/2.0\r\n"), Kind::Request(0));
        assert_eq!(classify(b"OPTIONS sip:b SIP/2.0\r\n"), Kind::Request(5));
        assert_eq!(classify(b"FOO sip:b SIP/2.0\r\n"), Kind::Request(14));
        assert_eq!(classify(b"SIP/2.0 180 Ringing\r\n"), Kind::Reply(0));
        assert_eq!(classify(b"SIP/2.0 404 Not Found\r\n"), Kind::Reply(3));
        assert_eq!(classify(b"SIP/2.0 999 x\r\n"), Kind::Unknown);
        assert_eq!(classify(b" x"), Kind::Unknown);
        assert_eq!(classify(b""), Kind::Unknown);
    }
}
