//! Host name resolution for destinations, cached per shard.
//!
//! IP literals (with or without IPv6 brackets) never leave the shard. Names
//! go through the system resolver once and are cached for a minute; full
//! RFC 3263 (NAPTR/SRV) resolution is a later piece of work.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use sipshard_core::transport::Transport;

const TTL: Duration = Duration::from_secs(60);

/// Default port of a transport (RFC 3261 §19.1.2).
pub fn default_port(proto: Transport) -> u16 {
    match proto {
        Transport::Tls | Transport::Wss => 5061,
        _ => 5060,
    }
}

/// Parses an IP literal, accepting `[v6]`.
pub fn parse_ip(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// Per-shard cache of resolved names.
#[derive(Default)]
pub struct Resolver {
    cache: HashMap<String, (Option<IpAddr>, Instant)>,
}

impl Resolver {
    pub fn resolve(
        &mut self,
        host: &str,
        port: Option<u16>,
        proto: Transport,
    ) -> Option<SocketAddr> {
        let port = port.unwrap_or_else(|| default_port(proto));
        if let Some(ip) = parse_ip(host) {
            return Some(SocketAddr::new(ip, port));
        }
        let now = Instant::now();
        if let Some((ip, at)) = self.cache.get(host) {
            if now.duration_since(*at) < TTL {
                return ip.map(|ip| SocketAddr::new(ip, port));
            }
        }
        let ip = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .map(|a| a.ip());
        if self.cache.len() > 4096 {
            self.cache.clear();
        }
        self.cache.insert(host.to_string(), (ip, now));
        ip.map(|ip| SocketAddr::new(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_localhost() {
        let mut r = Resolver::default();
        assert_eq!(
            r.resolve("127.0.0.1", Some(5070), Transport::Udp),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(
            r.resolve("[::1]", None, Transport::Tls),
            Some("[::1]:5061".parse().unwrap())
        );
        assert_eq!(
            r.resolve("::1", None, Transport::Udp),
            Some("[::1]:5060".parse().unwrap())
        );
        assert!(r.resolve("localhost", Some(1), Transport::Udp).is_some());
        assert_eq!(
            r.resolve("no-such-host.invalid", None, Transport::Udp),
            None
        );
    }
}
