//! Creating the listening sockets with the options every shard needs:
//! SO_REUSEPORT (each shard binds the same address), IPV6_V6ONLY (so
//! `[::]` and `0.0.0.0` can both be listened on), large receive buffers;
//! and the per-shard UDP sockets ([`bind_udp_own`]) that requests leave
//! from when there are several shards.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use glommio::net::{TcpListener, UdpSocket};
use socket2::{Domain, Protocol, Socket, Type};

fn new_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, ty, Some(proto))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    Ok(s)
}

/// A UDP socket bound to `addr` for one shard.
pub fn bind_udp(addr: SocketAddr, rcvbuf: usize) -> std::io::Result<UdpSocket> {
    let s = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(rcvbuf);
    let _ = s.set_send_buffer_size(rcvbuf);
    s.bind(&addr.into())?;
    // SAFETY: the descriptor comes from a socket we just created and bound;
    // ownership moves to the glommio socket. (glommio's own `From` takes a
    // socket2 0.4 socket, an older version than ours.)
    Ok(unsafe { UdpSocket::from_raw_fd(s.into_raw_fd()) })
}

/// A UDP socket of one shard's own beside the shared listen address
/// `listen`: the same IP, an ephemeral port, no `SO_REUSEPORT` (so the
/// kernel delivers everything sent to it to this socket alone). Returned
/// as a std socket so it can be bound before the shards start and moved to
/// the shard that serves it.
pub fn bind_udp_own(listen: SocketAddr, rcvbuf: usize) -> std::io::Result<std::net::UdpSocket> {
    let domain = if listen.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if listen.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let _ = s.set_recv_buffer_size(rcvbuf);
    let _ = s.set_send_buffer_size(rcvbuf);
    s.bind(&SocketAddr::new(listen.ip(), 0).into())?;
    Ok(s.into())
}

/// Makes a glommio socket of a std one (on the shard that will serve it).
pub fn into_glommio(s: std::net::UdpSocket) -> UdpSocket {
    // SAFETY: the descriptor comes from a bound socket we own; ownership
    // moves to the glommio socket.
    unsafe { UdpSocket::from_raw_fd(s.into_raw_fd()) }
}

/// A TCP listener bound to `addr` for one shard.
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    // SAFETY: the descriptor comes from a socket we just created, bound and
    // put into listening state; ownership moves to the listener.
    Ok(unsafe { TcpListener::from_raw_fd(s.into_raw_fd()) })
}
