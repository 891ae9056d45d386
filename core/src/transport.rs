//! SIP transports as they appear in Via, `listen=` and URI `transport=` params.

use std::fmt;

/// A SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
}

impl Transport {
    /// Parses a transport name case-insensitively (`udp`, `TCP`, `tls`, ...)
    /// without allocating: the (at most four) bytes are lower-cased into a
    /// word and compared.
    pub fn from_bytes(name: &[u8]) -> Option<Transport> {
        if name.is_empty() || name.len() > 4 {
            return None;
        }
        let mut w = [0u8; 4];
        for (d, s) in w.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let t = match (name.len(), &w) {
            (3, b"udp\0") => Transport::Udp,
            (3, b"tcp\0") => Transport::Tcp,
            (3, b"tls\0") => Transport::Tls,
            (4, b"sctp") => Transport::Sctp,
            (2, b"ws\0\0") => Transport::Ws,
            (3, b"wss\0") => Transport::Wss,
            _ => return None,
        };
        Some(t)
    }

    /// Upper-case name as written in a Via header (`SIP/2.0/UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Lower-case name as written in `listen=` and `transport=` (`udp`).
    pub fn lower_name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Sctp => "sctp",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    /// True for transports that carry a stream (framing by Content-Length).
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp | Transport::Sctp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lower_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Sctp,
            Transport::Ws,
            Transport::Wss,
        ] {
            assert_eq!(Transport::from_bytes(t.via_name().as_bytes()), Some(t));
            assert_eq!(Transport::from_bytes(t.lower_name().as_bytes()), Some(t));
        }
        assert_eq!(Transport::from_bytes(b"quic"), None);
        assert_eq!(Transport::from_bytes(b"UdP"), Some(Transport::Udp));
        for bad in [
            &b""[..],
            b"ud",
            b"udp\0",
            b"udpx",
            b"sctpx",
            b"w",
            b"\xc3\x9cdp",
        ] {
            assert_eq!(Transport::from_bytes(bad), None, "{bad:?}");
        }
    }
}
