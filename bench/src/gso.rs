//! UDP generic segmentation offload (GSO, `UDP_SEGMENT`) for the harness's
//! batched sends: datagrams queued for one destination with one length go
//! down the stack (and over loopback) as one large datagram, and the kernel
//! cuts it into the original datagrams only where it is delivered, so the
//! receiver (which does not ask for UDP_GRO) still reads ordinary datagrams
//! while the sender pays the IP and loopback path once per group instead of
//! once per datagram.
//!
//! [`Groups::plan`] decides which queued datagrams travel together: same
//! destination, same length, at most [`MAX_SEGMENTS`] and [`MAX_BYTES`] per
//! group, and never ahead of an earlier datagram of the same flow (a call's
//! ACK stays ahead of its BYE, a 180 ahead of its 200): a datagram joins
//! its flow's last group or a later one, where it goes after the earlier. Groups go out in the
//! order they were opened; datagrams of different flows may be reordered.

use std::sync::atomic::{AtomicBool, Ordering};

/// Most datagrams in one GSO send (the kernel's `UDP_MAX_SEGMENTS` is 64 on
/// older kernels, 128 on newer ones).
pub const MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO send (one UDP datagram: 64 KiB less headers).
pub const MAX_BYTES: usize = 65_000;

/// Process-wide switch (`--no-gso` turns it off for A/B runs).
static ALLOWED: AtomicBool = AtomicBool::new(true);

/// Allows or forbids GSO sends for the whole process.
pub fn set_allowed(on: bool) {
    ALLOWED.store(on, Ordering::Relaxed);
}

/// Whether GSO sends are allowed (they are unless `--no-gso`).
pub fn allowed() -> bool {
    ALLOWED.load(Ordering::Relaxed)
}

/// True for the errors with which a kernel or a route refuses GSO itself
/// (no `UDP_SEGMENT`, or a device without checksum offload), as opposed to
/// a full buffer or an unreachable destination.
pub fn is_refusal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// Control-message space for one `UDP_SEGMENT` (a `cmsghdr` and a u16,
/// 8-byte aligned: 24 bytes on 64-bit Linux).
pub type SegmentControl = [u64; 4];

/// Points `h`'s control data at `control`, filled with one `UDP_SEGMENT`
/// message saying every segment but the last is `segment` bytes.
pub fn set_segment(h: &mut libc::msghdr, control: &mut SegmentControl, segment: u16) {
    *control = [0; 4];
    h.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of a u16 (24) fits the 32-byte buffer; CMSG_FIRSTHDR
    // then returns its start, and the u16 is written inside it, unaligned.
    unsafe {
        h.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
    }
}

/// The grouping of one flush.
#[derive(Default)]
pub struct Groups {
    /// Group of each queued datagram.
    group_of: Vec<usize>,
    /// Per group: segment length, first member, members, bytes.
    len: Vec<usize>,
    first: Vec<usize>,
    count: Vec<usize>,
    bytes: Vec<usize>,
}

impl Groups {
    /// Room for `n` datagrams (no allocation while planning up to that).
    pub fn with_capacity(n: usize) -> Self {
        Groups {
            group_of: Vec::with_capacity(n),
            len: Vec::with_capacity(n),
            first: Vec::with_capacity(n),
            count: Vec::with_capacity(n),
            bytes: Vec::with_capacity(n),
        }
    }

    /// Groups datagrams of lengths `lens` and flows `flows` (queue order);
    /// `same_dest(i, j)` says whether datagrams i and j go to one place.
    /// With `gso` false every datagram is its own group, in queue order.
    pub fn plan(&mut self, lens: &[usize], flows: &[u64], gso: bool, same_dest: impl Fn(usize, usize) -> bool) {
        self.group_of.clear();
        self.len.clear();
        self.first.clear();
        self.count.clear();
        self.bytes.clear();
        for (i, (&len, &flow)) in lens.iter().zip(flows).enumerate() {
            let join = if gso {
                // Not before the group of the flow's previous datagram (in
                // that group it goes after it, so its flow keeps its order).
                let earliest = (0..i).rev().find(|&j| flows[j] == flow).map_or(0, |j| self.group_of[j]);
                (earliest..self.len.len()).find(|&g| {
                    self.len[g] == len && self.count[g] < MAX_SEGMENTS && self.bytes[g] + len <= MAX_BYTES && same_dest(self.first[g], i)
                })
            } else {
                None
            };
            let g = match join {
                Some(g) => g,
                None => {
                    self.len.push(len);
                    self.first.push(i);
                    self.count.push(0);
                    self.bytes.push(0);
                    self.len.len() - 1
                }
            };
            self.count[g] += 1;
            self.bytes[g] += len;
            self.group_of.push(g);
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.len.len()
    }

    /// Members of group `g`, in queue order.
    pub fn members(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        self.group_of.iter().enumerate().filter(move |&(_, &x)| x == g).map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &Groups) -> Vec<Vec<usize>> {
        (0..g.len()).map(|k| g.members(k).collect()).collect()
    }

    #[test]
    fn groups_by_length_and_keeps_each_flow_in_order() {
        // Two calls: INVITE (600) of flow 1 and 2, then ACK (400) and BYE
        // (420) of flow 3, ACK and BYE of flow 4, INVITE of flow 5.
        let lens = [600, 600, 400, 420, 400, 420, 600];
        let flows = [1, 2, 3, 3, 4, 4, 5];
        let mut g = Groups::with_capacity(8);
        g.plan(&lens, &flows, true, |_, _| true);
        assert_eq!(groups(&g), vec![vec![0, 1, 6], vec![2, 4], vec![3, 5]]);
    }

    #[test]
    fn a_flow_never_overtakes_itself() {
        // Flow 7 sends A (400), B (500), C (400): C may not join A's group,
        // which goes out before B.
        let lens = [400, 500, 400, 400];
        let flows = [7, 7, 7, 8];
        let mut g = Groups::with_capacity(4);
        g.plan(&lens, &flows, true, |_, _| true);
        assert_eq!(groups(&g), vec![vec![0, 3], vec![1], vec![2]]);
    }

    #[test]
    fn destinations_and_limits_split_groups() {
        let lens = [300; 70];
        let flows: Vec<u64> = (0..70).collect();
        let mut g = Groups::with_capacity(70);
        g.plan(&lens, &flows, true, |i, j| i % 2 == j % 2);
        assert_eq!(g.len(), 2, "35 per destination fit in one send each");
        let big = [1400; 60];
        g.plan(&big, &flows[..60], true, |_, _| true);
        assert_eq!(groups(&g).iter().map(Vec::len).collect::<Vec<_>>(), vec![46, 14], "64 KB limit");
        let many = [100; 70];
        g.plan(&many, &flows, true, |_, _| true);
        assert_eq!(groups(&g).iter().map(Vec::len).collect::<Vec<_>>(), vec![64, 6], "segment limit");
    }

    #[test]
    fn without_gso_every_datagram_is_its_own_group_in_order() {
        let mut g = Groups::with_capacity(3);
        g.plan(&[10, 10, 10], &[1, 2, 3], false, |_, _| true);
        assert_eq!(groups(&g), vec![vec![0], vec![1], vec![2]]);
    }
}
