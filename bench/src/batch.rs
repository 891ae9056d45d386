//! Batched UDP I/O with preallocated buffers: `recvmmsg` into a fixed set of
//! receive slots, `sendmmsg` from a fixed send arena, where datagrams of one
//! destination and length share one UDP GSO send (`crate::gso`). Nothing
//! here allocates after construction. Each receive slot has room for one control message,
//! so a socket with SO_TIMESTAMPNS reports every datagram's kernel arrival
//! time ([`RecvBatch::arrival`]).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use socket2::SockAddr;

use crate::gso::{Groups, SegmentControl};

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
        self.recv_with(fd, libc::MSG_DONTWAIT)
    }

    /// Sleeps in the kernel until at least one datagram is queued (or the
    /// socket's SO_RCVTIMEO passes: then 0), then takes up to `slots`
    /// without waiting for more: one syscall per wake-up, as a blocking
    /// `recvfrom` loop makes.
    pub fn recv_wait(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_with(fd, libc::MSG_WAITFORONE)
    }

    fn recv_with(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
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
        let rc = unsafe { libc::recvmmsg(fd, self.hdrs.as_mut_ptr(), n as libc::c_uint, flags, std::ptr::null_mut()) };
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
    /// Per datagram: its flow (datagrams of one flow keep their order).
    flows: Vec<u64>,
    lens: Vec<usize>,
    groups: Groups,
    /// Per `sendmmsg` entry: first iovec, datagrams, sent as one GSO send.
    entries: Vec<(usize, usize, bool)>,
    /// Per iovec: the queued datagram it carries.
    order: Vec<usize>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    controls: Vec<SegmentControl>,
    used: usize,
    /// The kernel refused a GSO send on this socket before any succeeded.
    gso_refused: bool,
    /// A GSO send on this socket succeeded (later errors are not refusals).
    gso_worked: bool,
}

/// Result of a flush.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams refused (send buffer full or a send error); they are dropped.
    pub failed: usize,
    /// GSO sends among them (each carrying two or more datagrams).
    pub gso_sends: usize,
    /// Datagrams that went in those GSO sends.
    pub gso_datagrams: usize,
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
            flows: Vec::with_capacity(slots),
            lens: Vec::with_capacity(slots),
            groups: Groups::with_capacity(slots),
            entries: Vec::with_capacity(slots),
            order: Vec::with_capacity(slots),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                slots
            ],
            hdrs: vec![zeroed_hdr; slots],
            controls: vec![[0u64; 4]; slots],
            used: 0,
            gso_refused: false,
            gso_worked: false,
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
    /// (`None`: the socket is connected). Datagrams with the same `flow`
    /// (a call, a transaction) leave in the order they were queued; others
    /// may be reordered to share a GSO send.
    pub fn commit(&mut self, len: usize, dest: Option<SocketAddr>, flow: u64) {
        self.spans.push((self.used, len));
        self.dests.push(dest.map(SockAddr::from));
        self.flows.push(flow);
        self.used += len;
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.dests.clear();
        self.flows.clear();
        self.used = 0;
    }

    /// Hands every queued datagram (bytes, destination) to `f` in queue
    /// order and empties the batch (for stream transports, which write them
    /// to a connection).
    pub fn drain_to(&mut self, mut f: impl FnMut(&[u8], Option<SocketAddr>)) {
        for (i, &(off, len)) in self.spans.iter().enumerate() {
            f(&self.arena[off..off + len], self.dests[i].as_ref().and_then(|a| a.as_socket()));
        }
        self.clear();
    }

    /// Whether this batch will try GSO sends.
    fn gso(&self) -> bool {
        crate::gso::allowed() && !self.gso_refused
    }

    /// Lays out the `sendmmsg` entries: one per group of the plan (a GSO
    /// send when it has several datagrams and `gso`), or one per datagram;
    /// iovecs in group order.
    fn lay_out(&mut self, gso: bool) {
        let base = self.arena.as_mut_ptr();
        self.entries.clear();
        self.order.clear();
        for g in 0..self.groups.len() {
            let start = self.order.len();
            for i in self.groups.members(g) {
                let (off, len) = self.spans[i];
                // SAFETY: off+len lies inside the arena.
                self.iovs[self.order.len()] = libc::iovec {
                    iov_base: unsafe { base.add(off) }.cast(),
                    iov_len: len,
                };
                self.order.push(i);
                if !gso {
                    self.entries.push((self.order.len() - 1, 1, false));
                }
            }
            if gso {
                let count = self.order.len() - start;
                self.entries.push((start, count, count > 1));
            }
        }
        self.fill_headers(0);
    }

    /// Points the headers of entries `from..` at their iovecs, destinations
    /// and (GSO sends) segment sizes.
    fn fill_headers(&mut self, from: usize) {
        for e in from..self.entries.len() {
            let (start, count, gso) = self.entries[e];
            let first = self.order[start];
            let h = &mut self.hdrs[e].msg_hdr;
            match &self.dests[first] {
                Some(a) => {
                    h.msg_name = a.as_ptr() as *mut libc::c_void;
                    h.msg_namelen = a.len();
                }
                None => {
                    h.msg_name = std::ptr::null_mut();
                    h.msg_namelen = 0;
                }
            }
            h.msg_iov = &mut self.iovs[start];
            h.msg_iovlen = count as _;
            h.msg_flags = 0;
            if gso {
                crate::gso::set_segment(h, &mut self.controls[e], self.spans[first].1 as u16);
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
        }
    }

    /// Turns entries `from..` into one entry per datagram (after the
    /// kernel refused GSO).
    fn split_from(&mut self, from: usize) {
        let first_iov = self.entries.get(from).map_or(self.order.len(), |e| e.0);
        self.entries.truncate(from);
        for k in first_iov..self.order.len() {
            self.entries.push((k, 1, false));
        }
        self.fill_headers(from);
    }

    /// Sends everything queued with as few `sendmmsg` calls as the kernel
    /// allows, datagrams of one destination and length together as GSO
    /// sends ([`crate::gso`]); what the kernel refuses is counted and
    /// dropped. If the kernel refuses GSO itself before it ever worked on
    /// this socket, the rest goes out one datagram per entry, and so does
    /// every later flush.
    pub fn flush(&mut self, fd: RawFd) -> Flushed {
        let gso = self.gso();
        self.lens.clear();
        self.lens.extend(self.spans.iter().map(|&(_, len)| len));
        let dests = &self.dests;
        self.groups.plan(&self.lens, &self.flows, gso, |i, j| dests[i] == dests[j]);
        self.lay_out(gso);
        let mut done = Flushed::default();
        let mut at = 0;
        while at < self.entries.len() {
            let m = self.entries.len() - at;
            // SAFETY: headers at..m point into `self`'s arena, iovecs,
            // controls and address storage, alive for the call.
            let rc = unsafe { libc::sendmmsg(fd, self.hdrs.as_mut_ptr().add(at), m as libc::c_uint, libc::MSG_DONTWAIT) };
            if rc > 0 {
                for &(_, count, gso) in &self.entries[at..at + rc as usize] {
                    done.sent += count;
                    if gso {
                        done.gso_sends += 1;
                        done.gso_datagrams += count;
                        self.gso_worked = true;
                    }
                }
                at += rc as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            let (_, count, gso) = self.entries[at];
            if gso && !self.gso_worked && crate::gso::is_refusal(&e) {
                self.gso_refused = true;
                self.split_from(at);
                continue;
            }
            // The first remaining entry was refused: count it, go on.
            done.failed += count;
            at += 1;
        }
        self.clear();
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
            out.commit(3, Some(b.local_addr().unwrap()), u64::from(i));
        }
        crate::gso::set_allowed(true);
        let f = out.flush(a.as_raw_fd());
        assert_eq!((f.sent, f.failed), (5, 0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut inb = RecvBatch::new(4);
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 4);
        assert_eq!(inb.get(3).0, b"xy3");
        assert_eq!(inb.get(0).1, Some(a.local_addr().unwrap()));
        assert_eq!(inb.arrival(0), None, "no timestamps unless asked for");
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 1);
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 0);
    }

    /// Receives everything waiting on `b` (after a moment) as byte strings.
    fn received(b: &std::net::UdpSocket) -> Vec<Vec<u8>> {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut inb = RecvBatch::new(64);
        let mut all = Vec::new();
        loop {
            let n = inb.recv(b.as_raw_fd()).unwrap();
            all.extend((0..n).map(|i| inb.get(i).0.to_vec()));
            if n == 0 {
                return all;
            }
        }
    }

    #[test]
    fn equal_lengths_go_as_one_gso_send_and_arrive_as_separate_datagrams() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = SendBatch::new(48);
        // 40 datagrams of 500 bytes to b (two flows, A0 B0 A1 B1 ...), one
        // of 300 to b, and 3 of 500 to c.
        let mut queue = |text: Vec<u8>, to: &std::net::UdpSocket, flow: u64| {
            let s = out.slot();
            s[..text.len()].copy_from_slice(&text);
            out.commit(text.len(), Some(to.local_addr().unwrap()), flow);
        };
        for i in 0..40u64 {
            queue(
                format!("{:<500}", format!("{}{}", if i % 2 == 0 { 'A' } else { 'B' }, i / 2)).into_bytes(),
                &b,
                i % 2,
            );
        }
        queue(vec![b'z'; 300], &b, 9);
        for i in 0..3u64 {
            queue(format!("{:<500}", format!("C{i}")).into_bytes(), &c, 5);
        }
        crate::gso::set_allowed(true);
        let f = out.flush(a.as_raw_fd());
        assert_eq!((f.sent, f.failed), (44, 0));
        assert_eq!(
            (f.gso_sends, f.gso_datagrams),
            (2, 43),
            "40 to b and 3 to c in two GSO sends, the 300-byte one alone"
        );
        let at_b = received(&b);
        assert_eq!(at_b.len(), 41, "every datagram arrives on its own");
        assert!(at_b.iter().filter(|d| d.len() == 500).count() == 40 && at_b.iter().any(|d| d.len() == 300));
        let flow_a: Vec<String> = at_b
            .iter()
            .filter(|d| d[0] == b'A')
            .map(|d| String::from_utf8_lossy(d).trim_end().to_string())
            .collect();
        assert_eq!(
            flow_a,
            (0..20).map(|i| format!("A{i}")).collect::<Vec<_>>(),
            "one flow keeps its order"
        );
        let at_c = received(&c);
        assert_eq!(at_c.iter().map(|d| d[1]).collect::<Vec<_>>(), b"012");
    }

    #[test]
    fn without_gso_the_same_datagrams_go_one_per_entry() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = SendBatch::new(8);
        for i in 0..6u8 {
            let s = out.slot();
            s[..4].copy_from_slice(&[b'n', b'o', b'-', b'0' + i]);
            out.commit(4, Some(b.local_addr().unwrap()), u64::from(i));
        }
        out.gso_refused = true;
        let f = out.flush(a.as_raw_fd());
        assert_eq!((f.sent, f.gso_sends), (6, 0));
        let got = received(&b);
        assert_eq!(got.len(), 6);
        assert_eq!(got[5], b"no-5", "queue order when nothing is grouped");
    }

    #[test]
    fn a_kernel_refusing_gso_gets_plain_sends_from_then_on() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Without UDP checksums (SO_NO_CHECK) the kernel refuses GSO sends
        // with EINVAL, as it would on a route without checksum offload.
        let on: libc::c_int = 1;
        // SAFETY: a valid c_int and its size.
        let rc = unsafe {
            libc::setsockopt(
                a.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        crate::gso::set_allowed(true);
        let mut out = SendBatch::new(8);
        for round in 0..2u8 {
            for i in 0..4u8 {
                let s = out.slot();
                s[..3].copy_from_slice(&[b'r', b'0' + round, b'0' + i]);
                out.commit(3, Some(b.local_addr().unwrap()), u64::from(i));
            }
            let f = out.flush(a.as_raw_fd());
            assert_eq!((f.sent, f.failed, f.gso_sends), (4, 0, 0), "round {round}");
            assert!(out.gso_refused);
            assert_eq!(received(&b).len(), 4, "round {round}");
        }
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
