//! Batched UDP I/O with preallocated buffers: `recvmmsg` into a fixed set of
//! receive slots, `sendmmsg` from a fixed send arena. Nothing here allocates
//! after construction. Each receive slot has room for one control message,
//! so a socket with SO_TIMESTAMPNS reports every datagram's kernel arrival
//! time ([`RecvBatch::arrival`]).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use socket2::SockAddr;

/// Largest datagram the harness handles.
pub const MAX_DATAGRAM: usize = 4096;

/// Control-message space per receive slot (8-byte aligned; a
/// `cmsghdr` plus a `timespec` needs 32 bytes on 64-bit Linux).
type Control = [u64; 8];

/// Receive slots for one `recvmmsg` call.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]]>,
    controls: Box<[Control]>,
    arrivals: Box<[Option<Duration>]>,
    lens: Box<[usize]>,
    addrs: Box<[libc::sockaddr_storage]>,
    addr_lens: Box<[libc::socklen_t]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    count: usize,
}

impl RecvBatch {
    /// `slots` datagrams per call.
    pub fn new(slots: usize) -> Self {
        // SAFETY (zeroed): sockaddr_storage, iovec and mmsghdr are plain C
        // structs for which all-zero is a valid value.
        let zeroed_storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zeroed_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        RecvBatch {
            bufs: vec![[0u8; MAX_DATAGRAM]; slots].into_boxed_slice(),
            controls: vec![[0u64; 8]; slots].into_boxed_slice(),
            arrivals: vec![None; slots].into_boxed_slice(),
            lens: vec![0; slots].into_boxed_slice(),
            addrs: vec![zeroed_storage; slots].into_boxed_slice(),
            addr_lens: vec![0; slots].into_boxed_slice(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                slots
            ]
            .into_boxed_slice(),
            hdrs: vec![zeroed_hdr; slots].into_boxed_slice(),
            count: 0,
        }
    }

    /// Receives up to `slots` datagrams without blocking; returns how many
    /// (0 when the socket is empty).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<Control>() as _;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by `self` that
        // outlive the call; n matches the arrays' length.
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
            let e = io::Error::last_os_error();
            self.count = 0;
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(0) } else { Err(e) };
        }
        self.count = rc as usize;
        for i in 0..self.count {
            self.lens[i] = self.hdrs[i].msg_len as usize;
            self.addr_lens[i] = self.hdrs[i].msg_hdr.msg_namelen;
            self.arrivals[i] = timestamp_of(&self.hdrs[i].msg_hdr);
        }
        Ok(self.count)
    }

    /// Kernel arrival time of datagram `i` of the last `recv` (CLOCK_REALTIME
    /// since the Unix epoch), when the socket has SO_TIMESTAMPNS on.
    pub fn arrival(&self, i: usize) -> Option<Duration> {
        self.arrivals[..self.count][i]
    }

    /// Datagram `i` of the last `recv` (bytes and source address).
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        // SAFETY: the kernel filled addrs[i] with addr_lens[i] valid bytes.
        let addr = unsafe { SockAddr::new(self.addrs[i], self.addr_lens[i]) };
        (&self.bufs[i][..self.lens[i]], addr.as_socket())
    }
}

/// The SCM_TIMESTAMPNS control message of a received datagram, if any.
fn timestamp_of(h: &libc::msghdr) -> Option<Duration> {
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of
    // well-formed control messages; the CMSG_* macros stay inside them, and
    // the timespec is read unaligned from the message's data.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// Outgoing datagrams queued for one `sendmmsg`.
pub struct SendBatch {
    arena: Box<[u8]>,
    spans: Vec<(usize, usize)>,
    dests: Vec<Option<SockAddr>>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    used: usize,
}

/// Result of a flush.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams refused (send buffer full or a send error); they are dropped.
    pub failed: usize,
}

impl SendBatch {
    /// Room for `slots` datagrams of up to [`MAX_DATAGRAM`] bytes.
    pub fn new(slots: usize) -> Self {
        // SAFETY: all-zero mmsghdr is valid.
        let zeroed_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        SendBatch {
            arena: vec![0u8; slots * MAX_DATAGRAM].into_boxed_slice(),
            spans: Vec::with_capacity(slots),
            dests: Vec::with_capacity(slots),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                slots
            ],
            hdrs: vec![zeroed_hdr; slots],
            used: 0,
        }
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// True when no further datagram fits.
    pub fn is_full(&self) -> bool {
        self.spans.len() == self.spans.capacity() || self.arena.len() - self.used < MAX_DATAGRAM
    }

    /// Space for the next datagram; call [`SendBatch::commit`] with its length.
    /// The caller flushes first when [`SendBatch::is_full`].
    pub fn slot(&mut self) -> &mut [u8] {
        let end = (self.used + MAX_DATAGRAM).min(self.arena.len());
        &mut self.arena[self.used..end]
    }

    /// Queues the `len` bytes written into the last `slot()` for `dest`
    /// (`None`: the socket is connected).
    pub fn commit(&mut self, len: usize, dest: Option<SocketAddr>) {
        self.spans.push((self.used, len));
        self.dests.push(dest.map(SockAddr::from));
        self.used += len;
    }

    /// Hands every queued datagram (bytes, destination) to `f` and empties
    /// the batch (for stream transports, which write them to a connection).
    pub fn drain_to(&mut self, mut f: impl FnMut(&[u8], Option<SocketAddr>)) {
        for (i, &(off, len)) in self.spans.iter().enumerate() {
            f(&self.arena[off..off + len], self.dests[i].as_ref().and_then(|a| a.as_socket()));
        }
        self.spans.clear();
        self.dests.clear();
        self.used = 0;
    }

    /// Sends everything queued with as few `sendmmsg` calls as the kernel
    /// allows; what it refuses is counted and dropped.
    pub fn flush(&mut self, fd: RawFd) -> Flushed {
        let n = self.spans.len();
        let base = self.arena.as_mut_ptr();
        for i in 0..n {
            let (off, len) = self.spans[i];
            // SAFETY: off+len lies inside the arena.
            self.iovs[i] = libc::iovec {
                iov_base: unsafe { base.add(off) }.cast(),
                iov_len: len,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            match &self.dests[i] {
                Some(a) => {
                    h.msg_name = a.as_ptr() as *mut libc::c_void;
                    h.msg_namelen = a.len();
                }
                None => {
                    h.msg_name = std::ptr::null_mut();
                    h.msg_namelen = 0;
                }
            }
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        let mut done = Flushed::default();
        let mut at = 0;
        while at < n {
            // SAFETY: headers at..n point into `self`'s arena and address
            // storage, alive for the call.
            let rc = unsafe { libc::sendmmsg(fd, self.hdrs.as_mut_ptr().add(at), (n - at) as libc::c_uint, libc::MSG_DONTWAIT) };
            if rc <= 0 {
                // The first remaining datagram was refused: count it, go on.
                done.failed += 1;
                at += 1;
            } else {
                done.sent += rc as usize;
                at += rc as usize;
            }
        }
        self.spans.clear();
        self.dests.clear();
        self.used = 0;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn sends_and_receives_in_batches() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = SendBatch::new(8);
        for i in 0..5u8 {
            let s = out.slot();
            s[..3].copy_from_slice(&[b'x', b'y', b'0' + i]);
            out.commit(3, Some(b.local_addr().unwrap()));
        }
        assert_eq!(out.flush(a.as_raw_fd()), Flushed { sent: 5, failed: 0 });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut inb = RecvBatch::new(4);
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 4);
        assert_eq!(inb.get(3).0, b"xy3");
        assert_eq!(inb.get(0).1, Some(a.local_addr().unwrap()));
        assert_eq!(inb.arrival(0), None, "no timestamps unless asked for");
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 1);
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn kernel_arrival_times_are_reported_and_precede_the_read() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        crate::sockopt::enable_rx_timestamps(&b).unwrap();
        // The kernel switches receive timestamping on for the whole stack
        // from a work item; packets before that are stamped when read.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        a.send_to(b"one", b.local_addr().unwrap()).unwrap();
        a.send_to(b"two", b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let read_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let mut inb = RecvBatch::new(4);
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 2);
        for i in 0..2 {
            let t = inb.arrival(i).expect("timestamp");
            assert!(
                t >= before && t + Duration::from_millis(20) < read_at,
                "{t:?} {before:?} {read_at:?}"
            );
        }
    }
}
