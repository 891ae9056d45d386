//! Batched UDP receive on a glommio socket: wait for readiness once through
//! glommio, then drain the socket with non-blocking `recvmmsg` into
//! preallocated buffers.
//!
//! glommio's `recv_from` costs, per datagram, a non-blocking `recvmsg` and,
//! when that finds the socket empty, an io_uring `recvmsg` (into a fresh
//! buffer, copied out on completion) and a trip through the reactor. A
//! [`Receiver`] instead parks on a 1-byte `MSG_PEEK` (glommio's `peek_from`,
//! which itself tries a non-blocking peek first), and then takes every
//! datagram already queued, up to `slots` per `recvmmsg` call. When a call
//! returns fewer than `slots` datagrams the socket was drained, so the next
//! call goes straight back to the peek instead of spending a `recvmmsg` on
//! `EAGAIN`.
//!
//! Used by sipshard's UDP loop ([`crate::udp`]) and by the benchmark's floor
//! relay (`sipshard-bench floor`), so "sipshard / floor" stays the cost of
//! SIP itself.
//!
//! `SIPSHARD_UDP_BATCH` (read by [`batch_slots`]) picks the path at start:
//! unset, `0` or `1` → glommio's own `recv_from` per datagram (the default:
//! on a quiet box the batched path measured 6–12 % more CPU per message
//! for sipshard at 2 000–8 000 calls/s, docs/benchmarks.md); `N` → this
//! receiver with `N` slots (e.g. 32).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use glommio::net::UdpSocket;

/// Slots per receive call unless `SIPSHARD_UDP_BATCH` says otherwise: 1,
/// no batching.
pub const DEFAULT_SLOTS: usize = 1;

/// Slots per receive call from `SIPSHARD_UDP_BATCH`; 1 means "no batching:
/// glommio's `recv_from` per datagram".
pub fn batch_slots() -> usize {
    match std::env::var("SIPSHARD_UDP_BATCH") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) => n.clamp(1, 1024),
            Err(_) => DEFAULT_SLOTS,
        },
        Err(_) => DEFAULT_SLOTS,
    }
}

/// Receive slots for one socket, reused for every call.
pub struct Receiver {
    max_datagram: usize,
    /// `slots * max_datagram` bytes, slot `i` at `i * max_datagram`.
    bufs: Box<[u8]>,
    lens: Box<[usize]>,
    flags: Box<[libc::c_int]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    count: usize,
    /// The last `recvmmsg` returned fewer datagrams than slots: the socket
    /// is most likely empty, so wait before trying again.
    drained: bool,
    /// Calls that returned datagrams, and the datagrams they returned.
    pub batches: u64,
    pub datagrams: u64,
}

impl Receiver {
    /// `slots` datagrams of up to `max_datagram` bytes per call (larger
    /// datagrams are dropped, see [`Receiver::get`]).
    pub fn new(slots: usize, max_datagram: usize) -> Self {
        let slots = slots.max(1);
        // SAFETY (zeroed): sockaddr_storage and mmsghdr are plain C structs
        // for which all-zero is a valid value.
        let zeroed_storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zeroed_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Receiver {
            max_datagram,
            bufs: vec![0u8; slots * max_datagram].into_boxed_slice(),
            lens: vec![0; slots].into_boxed_slice(),
            flags: vec![0; slots].into_boxed_slice(),
            addrs: vec![zeroed_storage; slots].into_boxed_slice(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                slots
            ]
            .into_boxed_slice(),
            hdrs: vec![zeroed_hdr; slots].into_boxed_slice(),
            count: 0,
            drained: false,
            batches: 0,
            datagrams: 0,
        }
    }

    /// Number of slots (datagrams per call at most).
    pub fn slots(&self) -> usize {
        self.lens.len()
    }

    /// Waits until `sock` has datagrams, then receives up to `slots` of them;
    /// returns how many (at least 1). Read them with [`Receiver::get`].
    pub async fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        let mut probe = [0u8; 1];
        loop {
            if self.drained {
                // Parks on io_uring only when the socket is empty.
                sock.peek_from(&mut probe).await.map_err(io::Error::from)?;
                self.drained = false;
            }
            match self.try_recv(sock.as_raw_fd()) {
                Ok(0) => self.drained = true,
                Ok(n) => {
                    self.drained = n < self.slots();
                    self.batches += 1;
                    self.datagrams += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drained = true;
                    return Err(e);
                }
            }
        }
    }

    /// One non-blocking `recvmmsg`: the number of datagrams received, 0 when
    /// the socket is empty.
    pub fn try_recv(&mut self, fd: std::os::fd::RawFd) -> io::Result<usize> {
        let n = self.slots();
        let base = self.bufs.as_mut_ptr();
        for i in 0..n {
            // SAFETY: slot i lies inside `bufs` (i < slots).
            self.iovs[i] = libc::iovec {
                iov_base: unsafe { base.add(i * self.max_datagram) }.cast(),
                iov_len: self.max_datagram,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by `self` that
        // outlive the call; n is the headers' count.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            self.count = 0;
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        self.count = rc as usize;
        for i in 0..self.count {
            self.lens[i] = self.hdrs[i].msg_len as usize;
            self.flags[i] = self.hdrs[i].msg_hdr.msg_flags;
        }
        Ok(self.count)
    }

    /// Datagram `i` of the last call and its source; `None` when it was
    /// truncated (longer than `max_datagram`) or its source is not IP.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.count || self.flags[i] & libc::MSG_TRUNC != 0 {
            return None;
        }
        let src = sockaddr_to_std(&self.addrs[i])?;
        let start = i * self.max_datagram;
        Some((&self.bufs[start..start + self.lens[i]], src))
    }
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_batches_and_keeps_sources() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
                let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let to = rx.local_addr().unwrap();
                for i in 0..10u8 {
                    let s = if i % 2 == 0 { &a } else { &b };
                    s.send_to(&[i; 3], to).unwrap();
                }
                // A datagram longer than a slot is dropped, not cut.
                a.send_to(&[9u8; 100], to).unwrap();
                let mut r = Receiver::new(4, 64);
                let mut got = Vec::new();
                let mut dropped = 0;
                while got.len() + dropped < 11 {
                    let n = r.recv(&rx).await.unwrap();
                    assert!(n <= 4);
                    for i in 0..n {
                        match r.get(i) {
                            Some((d, src)) => got.push((d.to_vec(), src)),
                            None => dropped += 1,
                        }
                    }
                }
                assert_eq!(dropped, 1);
                for (i, (d, src)) in got.iter().enumerate() {
                    assert_eq!(d, &vec![i as u8; 3]);
                    let s = if i % 2 == 0 { &a } else { &b };
                    assert_eq!(*src, s.local_addr().unwrap());
                }
                assert!(r.batches >= 3);
                // Empty socket: recv parks until a datagram arrives.
                let later = std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    a.send_to(b"late", to).unwrap();
                });
                let n = r.recv(&rx).await.unwrap();
                assert_eq!(n, 1);
                assert_eq!(r.get(0).unwrap().0, b"late");
                later.join().unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
