//! What /proc says about this process: memory and threads.

use std::fs;

/// Memory of the process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss: u64,
    pub rss_peak: u64,
    pub virt: u64,
}

/// Reads `/proc/self/status` (zeros where it cannot be read).
pub fn memory() -> Memory {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Memory {
        rss: kb("VmRSS:"),
        rss_peak: kb("VmHWM:"),
        virt: kb("VmSize:"),
    }
}

/// One thread of the process.
#[derive(Debug, Clone)]
pub struct ThreadInfo {
    pub tid: u32,
    pub name: String,
    /// The CPU it last ran on.
    pub cpu: i64,
    pub user_s: f64,
    pub system_s: f64,
}

/// Every thread of the process, by thread id.
pub fn threads() -> Vec<ThreadInfo> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut out: Vec<ThreadInfo> = fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            parse_stat(tid, &stat, ticks)
        })
        .collect();
    out.sort_by_key(|t| t.tid);
    out
}

/// Parses `/proc/<pid>/task/<tid>/stat`: `tid (comm) state ...`, where comm
/// may hold spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat(tid: u32, stat: &str, ticks: f64) -> Option<ThreadInfo> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15, processor 39.
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    Some(ThreadInfo {
        tid,
        name,
        cpu: field(39).unwrap_or(-1),
        user_s: field(14).unwrap_or(0) as f64 / ticks,
        system_s: field(15).unwrap_or(0) as f64 / ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_odd_name() {
        let s = "42 (shard (0)) S 1 2 3 4 5 6 7 8 9 10 250 100 0 0 20 0 1 0 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 3 0 0";
        let t = parse_stat(42, s, 100.0).unwrap();
        assert_eq!(t.name, "shard (0)");
        assert_eq!(t.user_s, 2.5);
        assert_eq!(t.system_s, 1.0);
        assert_eq!(t.cpu, 3);
    }

    #[test]
    fn this_process_has_threads_and_memory() {
        assert!(!threads().is_empty());
        assert!(memory().rss > 0);
    }
}
