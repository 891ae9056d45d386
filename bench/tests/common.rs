//! Shared helpers of the integration tests: the harness binary, free ports,
//! processes stopped by PID, sipp's statistics file, and the rule that a missing external tool fails
//! the test under CI (CI=true) and skips it with a message elsewhere.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sipshard-bench"))
}

/// A UDP port on 127.0.0.1 that was free a moment ago, from a range per test
/// so parallel tests do not collide.
pub fn free_port(base: u16) -> u16 {
    (base..base + 200)
        .step_by(2)
        .find(|p| std::net::UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free UDP port")
}

/// `true` if `tool` runs; under CI a missing tool is a failure.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI=true but is not installed"
        );
        eprintln!("skipping: {tool} is not installed (set CI=true to make this a failure)");
    }
    ok
}

/// Waits until something is bound to UDP `port`.
pub fn wait_bound(port: u16) {
    let t = Instant::now();
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "nothing bound UDP port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening_tcp(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "nothing listens on TCP port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a child by PID (SIGTERM) and waits for it.
pub fn stop(mut child: Child) {
    // SAFETY-free: `kill` the child's own PID via the kill(1) command.
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A child process stopped (SIGTERM, then SIGKILL) when dropped, so a
/// failing assertion does not leave it running.
pub struct Running(pub Option<Child>);

impl Running {
    /// Stops the child now.
    pub fn stop(mut self) {
        if let Some(c) = self.0.take() {
            stop(c);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            stop(c);
        }
    }
}

/// Reads a JSON file.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sipshard-bench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Last value of a column of sipp's statistics CSV (semicolon-separated).
pub fn sipp_stat(dir: &std::path::Path, column: &str) -> u64 {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".csv"))
        .expect("sipp wrote its -trace_stat file");
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let last: Vec<&str> = lines.rfind(|l| !l.trim().is_empty()).unwrap().split(';').collect();
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    last[i].trim().parse().unwrap()
}

/// sipp's built-in `uas` on 127.0.0.1:`port`, writing its statistics
/// (`-trace_stat`, every second) into `dir` for `sipp_stat`.
pub fn spawn_sipp_uas(dir: &std::path::Path, port: u16) -> Child {
    Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-nostdin",
            "-trace_stat",
            "-fd",
            "1",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
