//! Socket options shared by every harness socket: 4 MiB send and receive
//! buffers (the box's rmem_max/wmem_max, as the Kamailio kit uses), and the
//! per-socket drop counter from /proc/net/udp.

use std::os::fd::AsRawFd;

/// Receive and send buffer size asked for (the kernel doubles it).
pub const BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Sets SO_RCVBUF and SO_SNDBUF; failures are ignored (the kernel caps the
/// value at rmem_max anyway, and a smaller buffer shows up as drops).
pub fn set_buffers(socket: &impl AsRawFd, bytes: usize) {
    let v = bytes as libc::c_int;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: passing a valid c_int and its size to setsockopt.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Asks the kernel to stamp every received datagram with its arrival time
/// (SO_TIMESTAMPNS, CLOCK_REALTIME, read back by [`crate::batch::RecvBatch`]),
/// so latency stays exact when the reader wakes up later than the datagram
/// arrived (the generator's tick mode).
pub fn enable_rx_timestamps(socket: &impl AsRawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: passing a valid c_int and its size to setsockopt.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sum of the `drops` column of /proc/net/udp for sockets bound to one of
/// `ports` on any address (receive-queue overflows of those sockets).
pub fn udp_drops(ports: &[u16]) -> u64 {
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
            let drops: u64 = cols.last()?.parse().ok()?;
            ports.contains(&port).then_some(drops)
        })
        .sum()
}

/// `RcvbufErrors` and `SndbufErrors` of /proc/net/snmp (whole machine).
pub fn snmp_buffer_errors() -> (u64, u64) {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return (0, 0);
    };
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return (0, 0);
    };
    let get = |key: &str| {
        names
            .split_whitespace()
            .position(|n| n == key)
            .and_then(|i| values.split_whitespace().nth(i)?.parse().ok())
            .unwrap_or(0)
    };
    (get("RcvbufErrors"), get("SndbufErrors"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_kernel_tables() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert_eq!(super::udp_drops(&[port]), 0);
        let _ = super::snmp_buffer_errors();
    }
}
