//! Waiting for input on many sockets at once: epoll (registration once, so a
//! wake-up costs the same with 1 or 64 sockets) with a nanosecond timeout
//! (`epoll_pwait2`), so scheduled starts are not rounded to milliseconds.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// An epoll instance and its event buffer.
pub struct Poller {
    epfd: RawFd,
    events: Vec<libc::epoll_event>,
    ready: usize,
}

impl Poller {
    /// A poller reporting up to `max_events` ready sockets per wait.
    pub fn new(max_events: usize) -> io::Result<Self> {
        // SAFETY: plain syscall without pointers.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            epfd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)],
            ready: 0,
        })
    }

    /// Watches `fd` for input, reported as `token`.
    pub fn add(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the call.
        let rc = unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for input; returns how many sockets are ready.
    pub fn wait(&mut self, timeout: Duration) -> usize {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the event buffer is valid for `len` entries; a null sigmask
        // is allowed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        self.ready = if rc > 0 { rc as usize } else { 0 };
        self.ready
    }

    /// Token of ready socket `i` of the last wait.
    pub fn token(&self, i: usize) -> u64 {
        self.events[..self.ready][i].u64
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: epfd is owned by this poller and closed once.
        unsafe {
            libc::close(self.epfd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reports_ready_sockets_and_times_out() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut p = Poller::new(4).unwrap();
        p.add(a.as_raw_fd(), 7).unwrap();
        p.add(b.as_raw_fd(), 9).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(p.wait(Duration::from_millis(20)), 0);
        assert!(t.elapsed() >= Duration::from_millis(19));
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        assert_eq!(p.wait(Duration::from_millis(500)), 1);
        assert_eq!(p.token(0), 9);
    }
}
