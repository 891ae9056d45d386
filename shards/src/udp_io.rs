//! Sending and receiving single UDP datagrams on a glommio socket, the path
//! both sipshard's UDP loop ([`crate::udp`], [`crate::shard`]) and the
//! benchmark's floor relay use, so "sipshard / floor" stays the cost of SIP.
//!
//! Sends: one non-blocking `sendto(MSG_DONTWAIT)` straight on the socket's
//! descriptor. A UDP send practically never blocks (the datagram is queued
//! or dropped by the kernel); only on `EAGAIN` (send buffer full) does the
//! send fall back to glommio's awaited `send_to`, which then waits on
//! io_uring. Receives: glommio's `recv_from`, which already tries a
//! non-blocking `recvmsg` first and submits an io_uring receive only when
//! the socket is empty, i.e. one ring operation per idle period, not per
//! datagram.
//!
//! `SIPSHARD_UDP_IO=glommio` (read once by [`io_mode`]) sends through
//! glommio's `send_to`/`send` instead (the earlier path, kept for A/B
//! measurements, docs/benchmarks.md).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use glommio::net::UdpSocket;

/// How datagrams are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// Non-blocking `sendto` on the descriptor, glommio on `EAGAIN`.
    Direct,
    /// glommio's `send_to`/`send` for every datagram.
    Glommio,
}

/// The send path from `SIPSHARD_UDP_IO` (`glommio` or `direct`, the
/// default), read once per process.
pub fn io_mode() -> IoMode {
    static MODE: OnceLock<IoMode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("SIPSHARD_UDP_IO") {
        Ok(v) if v.trim().eq_ignore_ascii_case("glommio") => IoMode::Glommio,
        _ => IoMode::Direct,
    })
}

/// Sends `buf` to `dst` on `sock`; returns the bytes sent.
pub async fn send_to(sock: &UdpSocket, buf: &[u8], dst: SocketAddr) -> io::Result<usize> {
    if io_mode() == IoMode::Direct {
        match try_send(sock, buf, Some(dst)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
    sock.send_to(buf, dst).await.map_err(io::Error::from)
}

/// Sends `buf` on a connected `sock`; returns the bytes sent.
pub async fn send(sock: &UdpSocket, buf: &[u8]) -> io::Result<usize> {
    if io_mode() == IoMode::Direct {
        match try_send(sock, buf, None) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
    sock.send(buf).await.map_err(io::Error::from)
}

/// One non-blocking `sendto` (to the connected peer when `dst` is `None`),
/// retried on `EINTR`.
fn try_send(sock: &UdpSocket, buf: &[u8], dst: Option<SocketAddr>) -> io::Result<usize> {
    let (addr, len) = match dst {
        Some(d) => sockaddr(d),
        // SAFETY: all-zero is a valid sockaddr_storage; unused (length 0).
        None => (unsafe { std::mem::zeroed() }, 0),
    };
    let name = match dst {
        Some(_) => (&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr>(),
        None => std::ptr::null(),
    };
    loop {
        // SAFETY: `buf` and `addr` outlive the call; `len` is the length of
        // the address written into `addr` (0 with a null name).
        let rc = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                name,
                len,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `dst` as a C socket address and its length.
fn sockaddr(dst: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match dst {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for
            // sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_sends_arrive_with_the_right_source() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
                let rx4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let n = send_to(&tx, b"hello", rx4.local_addr().unwrap())
                    .await
                    .unwrap();
                assert_eq!(n, 5);
                let mut buf = [0u8; 16];
                let (n, from) = rx4.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"hello");
                assert_eq!(from, tx.local_addr().unwrap());
                // Connected socket, no address.
                tx.connect(rx4.local_addr().unwrap()).await.unwrap();
                send(&tx, b"again").await.unwrap();
                let (n, _) = rx4.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"again");
                // IPv6, where the box has it.
                if let (Ok(tx6), Ok(rx6)) = (
                    UdpSocket::bind("[::1]:0"),
                    std::net::UdpSocket::bind("[::1]:0"),
                ) {
                    send_to(&tx6, b"six", rx6.local_addr().unwrap())
                        .await
                        .unwrap();
                    let (n, from) = rx6.recv_from(&mut buf).unwrap();
                    assert_eq!(&buf[..n], b"six");
                    assert_eq!(from, tx6.local_addr().unwrap());
                }
                // A send that cannot go reports the kernel's error.
                let err = send_to(&tx, &vec![0u8; 70_000], rx4.local_addr().unwrap()).await;
                assert!(err.is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
