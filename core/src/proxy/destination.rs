//! Where a message is to be sent before name resolution: the runtime
//! resolves `host` with `RouteEnv::resolve`.

use std::fmt;

use crate::transport::Transport;

/// A next hop as named in a Via or URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// An IP literal (IPv6 without brackets) or a host name.
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

impl Destination {
    /// The default port of a transport (RFC 3261 §18.2.2, §19.1.2).
    pub fn default_port(t: Transport) -> u16 {
        match t {
            Transport::Tls | Transport::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}:[{}]:{}", self.transport, self.host, self.port)
        } else {
            write!(f, "{}:{}:{}", self.transport, self.host, self.port)
        }
    }
}

/// An address as its `Display` writes it; IPv4 without the formatting
/// machinery (a transaction's upstream and branch destinations).
pub fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, o) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if o >= 100 {
            s.push(char::from(b'0' + o / 100));
        }
        if o >= 10 {
            s.push(char::from(b'0' + o / 10 % 10));
        }
        s.push(char::from(b'0' + o % 10));
    }
    s
}

#[cfg(test)]
mod ip_text_tests {
    use std::net::IpAddr;

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.9.100.99",
            "192.168.1.10",
            "::1",
            "2001:db8::5",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(super::ip_text(ip), ip.to_string());
        }
    }
}
