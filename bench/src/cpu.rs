//! CPU-time accounting: this process's own user/system time (getrusage), and
//! another process tree's from `/proc/PID/stat` (utime+stime of the process and
//! its direct children, in the kernel's exact runtime scaled to ticks), the
//! same way the Kamailio kit measures a proxy.

use std::time::Duration;

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    /// User + system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// `self - earlier`, clamped at zero.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// This process's CPU time, all threads.
pub fn own() -> CpuTime {
    // SAFETY: getrusage writes a fully initialised struct on success; on
    // failure (impossible for RUSAGE_SELF) we keep the zeroed value.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    CpuTime {
        user: tv(ru.ru_utime),
        system: tv(ru.ru_stime),
    }
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime and stime (ticks) of one process, from `/proc/PID/stat`.
fn pid_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at
    // "state" (field 3); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let utime = f.nth(11)?.parse().ok()?;
    let stime = f.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Direct children of `pid` (from `/proc/PID/task/*/children`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// CPU time of `pid` and its direct children (Kamailio forks its workers
/// from the main process); `None` if `pid` is gone.
pub fn tree(pid: u32) -> Option<CpuTime> {
    let hz = ticks_per_second();
    let (mut u, mut s) = pid_ticks(pid)?;
    for child in children(pid) {
        if let Some((cu, cs)) = pid_ticks(child) {
            u += cu;
            s += cs;
        }
    }
    let d = |t: u64| Duration::from_micros(t * 1_000_000 / hz);
    Some(CpuTime { user: d(u), system: d(s) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_both_ways() {
        let start = own();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        // Spin until 50 ms of CPU were used (wall time varies on a busy box).
        while own().since(&start).total() < Duration::from_millis(50) {
            assert!(t.elapsed() < Duration::from_secs(20), "no CPU time accounted");
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        std::hint::black_box(x);
        let via_proc = tree(std::process::id()).unwrap();
        assert!(via_proc.total() >= Duration::from_millis(30), "{via_proc:?}");
        assert!(tree(u32::MAX).is_none());
    }
}
