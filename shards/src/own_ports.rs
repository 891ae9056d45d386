//! Per-shard UDP ports: with more than one shard, each shard gets a UDP
//! socket of its own beside every shared UDP `listen=` address (same IP,
//! an ephemeral port). Requests a shard relays downstream leave from it and
//! name its port in our Via, so the responses come back to the shard that
//! owns their transaction instead of wherever the kernel's `SO_REUSEPORT`
//! hash puts the peer's 4-tuple.
//!
//! Listen addresses with `advertise` get none: the public side of a NAT
//! would not know the ephemeral port. shards=1 gets none either, and
//! neither does any shard with `shard_ports=no` in the config (for a
//! firewall that cannot open the ephemeral range) or
//! `SIPSHARD_SHARD_PORTS=off` in the environment (A/B measurements of one
//! config): responses then reach the shared port and are handed over the
//! mesh.

use std::net::SocketAddr;
use std::sync::Arc;

use sipshard_core::route_io::LocalSocket;
use sipshard_core::transport::Transport;

use crate::server::{RunError, ServerConfig};
use crate::sockets;

/// One shard's own sockets, bound before the shards start.
#[derive(Debug, Default)]
pub struct OwnSockets {
    /// (shared listen address, this shard's socket beside it).
    pub sockets: Vec<(SocketAddr, std::net::UdpSocket)>,
    /// Every shard's own sockets as Via advertises them, for recognising
    /// our Via in a response that landed on another shard.
    pub all: Arc<[LocalSocket]>,
}

/// A shard's own socket as the router sees it: beside `listen`.
#[derive(Debug, Clone)]
pub struct OwnPort {
    pub listen: SocketAddr,
    pub local: LocalSocket,
}

/// Whether per-shard ports are wanted, from the value of
/// `SIPSHARD_SHARD_PORTS`: on unless it says `off`, `0`, `no` or `false`.
pub fn wanted(setting: Option<&str>) -> bool {
    !matches!(
        setting.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("off" | "0" | "no" | "false")
    )
}

/// Binds `n` own sockets per eligible UDP listen address; element `i` goes
/// to the `i`-th shard started. Empty sets when `n` is 1 or when
/// `shard_ports=no` or `SIPSHARD_SHARD_PORTS` turns them off.
pub fn bind_all(cfg: &ServerConfig, n: usize) -> Result<Vec<OwnSockets>, RunError> {
    let setting = std::env::var("SIPSHARD_SHARD_PORTS").ok();
    bind_all_if(cfg, n, cfg.shard_ports && wanted(setting.as_deref()))
}

fn bind_all_if(cfg: &ServerConfig, n: usize, on: bool) -> Result<Vec<OwnSockets>, RunError> {
    let mut per_shard: Vec<Vec<(SocketAddr, std::net::UdpSocket)>> =
        (0..n).map(|_| Vec::new()).collect();
    let mut all = Vec::new();
    if n > 1 && on {
        let eligible = cfg
            .listen
            .iter()
            .filter(|l| l.proto == Transport::Udp && l.advertise.is_none());
        for l in eligible {
            for shard in per_shard.iter_mut() {
                let s = sockets::bind_udp_own(l.addr, cfg.udp_rcvbuf)
                    .and_then(|s| s.local_addr().map(|a| (s, a)));
                let (sock, addr) = s.map_err(|error| RunError::Bind {
                    proto: Transport::Udp,
                    addr: SocketAddr::new(l.addr.ip(), 0),
                    error,
                })?;
                all.push(local_socket(addr));
                shard.push((l.addr, sock));
            }
        }
    }
    let all: Arc<[LocalSocket]> = all.into();
    Ok(per_shard
        .into_iter()
        .map(|sockets| OwnSockets {
            sockets,
            all: Arc::clone(&all),
        })
        .collect())
}

/// How a bound own socket is advertised: its own IP and port.
pub fn local_socket(addr: SocketAddr) -> LocalSocket {
    LocalSocket {
        proto: Transport::Udp,
        addr,
        advertise_host: addr.ip().to_string().into(),
        advertise_port: addr.port(),
    }
}

/// Whether a Via sent-by `host:port` names one of `all`.
pub fn is_own_sent_by(all: &[LocalSocket], host: &[u8], port: u16) -> bool {
    let ip = std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok());
    all.iter().any(|s| {
        s.advertise_port == port
            && match ip {
                Some(ip) => ip == s.addr.ip(),
                None => s.advertise_host.as_bytes().eq_ignore_ascii_case(host),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ListenAddr;

    fn cfg(listen: Vec<ListenAddr>) -> ServerConfig {
        ServerConfig::new(listen)
    }

    fn udp(addr: &str, advertise: Option<(&str, u16)>) -> ListenAddr {
        ListenAddr {
            proto: Transport::Udp,
            addr: addr.parse().unwrap(),
            advertise: advertise.map(|(h, p)| (h.to_string(), p)),
        }
    }

    #[test]
    fn switched_off_by_the_environment_value() {
        assert!(wanted(None));
        assert!(wanted(Some("on")));
        assert!(wanted(Some("1")));
        for v in ["off", "OFF", " 0 ", "no", "false"] {
            assert!(!wanted(Some(v)), "{v}");
        }
        let c = cfg(vec![udp("127.0.0.1:0", None)]);
        let own = bind_all_if(&c, 2, false).unwrap();
        assert!(own.iter().all(|o| o.sockets.is_empty() && o.all.is_empty()));
    }

    #[test]
    fn one_shard_has_none() {
        let c = cfg(vec![udp("127.0.0.1:0", None)]);
        let own = bind_all(&c, 1).unwrap();
        assert_eq!(own.len(), 1);
        assert!(own[0].sockets.is_empty());
        assert!(own[0].all.is_empty());
    }

    #[test]
    fn each_shard_gets_a_distinct_port_per_udp_listen() {
        let tcp = ListenAddr {
            proto: Transport::Tcp,
            addr: "127.0.0.1:5060".parse().unwrap(),
            advertise: None,
        };
        let c = cfg(vec![
            udp("127.0.0.1:5060", None),
            udp("127.0.0.1:5070", Some(("sip.example.com", 5070))),
            tcp,
        ]);
        let own = bind_all(&c, 3).unwrap();
        assert_eq!(own.len(), 3);
        let mut ports = Vec::new();
        for o in &own {
            assert_eq!(o.sockets.len(), 1, "only the udp listen without advertise");
            let (listen, s) = &o.sockets[0];
            assert_eq!(*listen, "127.0.0.1:5060".parse().unwrap());
            let a = s.local_addr().unwrap();
            assert_eq!(a.ip(), listen.ip());
            assert_ne!(a.port(), 5060);
            ports.push(a.port());
            assert_eq!(o.all.len(), 3);
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3);
        assert!(is_own_sent_by(&own[0].all, b"127.0.0.1", ports[2]));
        assert!(!is_own_sent_by(&own[0].all, b"127.0.0.1", 5060));
        assert!(!is_own_sent_by(&own[0].all, b"127.0.0.2", ports[0]));
    }
}
