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
