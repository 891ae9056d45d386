//! Shared pieces of the integration tests: start `sipshard` as a process on
//! a config, run sipp against it, pick free ports, send raw SIP.
//!
//! Tests assert on what crosses the wire (sipp's verdicts and counts, bytes
//! received), never on sipshard's log.

#![allow(dead_code)]

pub mod side_by_side;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The sipshard binary under test.
pub fn sipshard_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sipshard")
}

/// A directory for one test's files, removed at the end unless the test
/// failed (kept for a look).
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!("sipshard-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A UDP and TCP port that are free on 127.0.0.1 and [::1] right now.
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("::1", port)).is_ok()
            && std::net::TcpListener::bind(("::1", port)).is_ok()
        {
            return port;
        }
    }
}

/// A running sipshard process; killed when dropped.
pub struct Sipshard {
    pub child: Child,
    pub stderr: mpsc::Receiver<String>,
}

impl Sipshard {
    /// Starts `sipshard run -f cfg extra...` and waits until it has bound
    /// its sockets (it reports that on stderr before serving).
    pub fn start(cfg: &Path, extra: &[&str]) -> Sipshard {
        let mut cmd = Command::new(sipshard_bin());
        cmd.arg("run").arg("-f").arg(cfg).args(extra);
        Sipshard::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Sipshard {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let s = Sipshard { child, stderr: rx };
        s.wait_started();
        s
    }

    fn wait_started(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if line.contains("sipshard started") {
                        return;
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("sipshard did not start; stderr:\n{}", seen.join("\n"));
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Sipshard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails the test when sipp is missing in CI; elsewhere says so and
/// returns false so the test can return early.
pub fn have_sipp() -> bool {
    if Command::new("sipp").arg("-v").output().is_ok() {
        return true;
    }
    if std::env::var("CI").is_ok() {
        panic!("sipp is not installed (apt-get install -y sip-tester); CI must have it");
    }
    eprintln!("SKIPPED: sipp is not installed (apt-get install -y sip-tester)");
    false
}

/// Counts sipp reports at the end of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SippResult {
    pub exit: i32,
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
}

/// Runs sipp to completion (bounded by `limit`) and reads its final
/// statistics from the `-trace_stat` CSV it wrote.
pub fn run_sipp(dir: &TestDir, name: &str, args: &[String], limit: Duration) -> SippResult {
    let stat = dir.path(&format!("{name}-stat.csv"));
    let errlog = dir.path(&format!("{name}-errors.log"));
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .arg("-nostdin")
        .arg("-trace_stat")
        .arg("-stf")
        .arg(&stat)
        .arg("-fd")
        .arg("1")
        .arg("-trace_err")
        .arg("-error_file")
        .arg(&errlog)
        .arg("-timeout")
        .arg(format!("{}s", limit.as_secs()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().expect("running sipp");
    let exit = out.status.code().unwrap_or(-1);
    let mut r = parse_stat(&stat);
    r.exit = exit;
    if exit != 0 {
        let mut errors = String::new();
        if let Ok(mut f) = std::fs::File::open(&errlog) {
            let _ = f.read_to_string(&mut errors);
        }
        eprintln!(
            "sipp {name} exited {exit}: {r:?}\nstderr: {}\nerrors (first 3000 chars): {}",
            String::from_utf8_lossy(&out.stderr),
            &errors.chars().take(3000).collect::<String>()
        );
    }
    r
}

fn parse_stat(path: &Path) -> SippResult {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(header) = lines.first() else {
        return SippResult::default();
    };
    let Some(last) = lines.get(1..).and_then(|rest| rest.last()) else {
        return SippResult::default();
    };
    let cols: Vec<&str> = header.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| -> u64 {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    SippResult {
        exit: 0,
        successful: get("SuccessfulCall(C)"),
        failed: get("FailedCall(C)"),
        retransmissions: get("Retransmissions(C)"),
    }
}

/// A sipp process in the background (a UAS), killed when dropped.
pub struct SippBackground {
    child: Child,
}

impl SippBackground {
    pub fn start(args: &[String]) -> SippBackground {
        SippBackground::start_program("sipp", args)
    }

    /// Starts `program args... -nostdin` (for sipp run through a wrapper
    /// such as `ip netns exec`).
    pub fn start_program(program: &str, args: &[String]) -> SippBackground {
        let child = Command::new(program)
            .args(args)
            .arg("-nostdin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sipp");
        // Give it time to bind its sockets.
        std::thread::sleep(Duration::from_millis(300));
        SippBackground { child }
    }
}

impl Drop for SippBackground {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a scenario shipped with the tests.
pub fn scenario(name: &str) -> String {
    format!("{}/tests/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Sends one datagram and returns the first datagram that comes back, if
/// any within `wait`.
pub fn udp_exchange(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let bind = if to.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let s = UdpSocket::bind(bind).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(bytes, to).unwrap();
    let mut buf = vec![0u8; 65535];
    match s.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Sends bytes on a fresh TCP connection and returns what comes back until
/// the first complete SIP message head or `wait` passes.
pub fn tcp_exchange(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&to, wait).ok()?;
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if got.is_empty() {
        None
    } else {
        Some(got)
    }
}

/// The status code of a SIP response.
pub fn status_of(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    if parts.next()? != "SIP/2.0" {
        return None;
    }
    parts.next()?.parse().ok()
}

/// An OPTIONS request to the proxy itself, over UDP from a local socket.
pub fn options_to(target: SocketAddr, call_id: &str) -> Vec<u8> {
    let host = match target {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!(
        "OPTIONS sip:{host}:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {host}:9;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{host}>;tag=probe\r\n\
         To: <sip:{host}:{port}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        port = target.port()
    )
    .into_bytes()
}

/// A control socket path unique to this test process and name.
pub fn ctl_socket(dir: &TestDir) -> PathBuf {
    dir.path("ctl.sock")
}

/// Runs `sipshard ctl --ctl-socket SOCKET args...`; exit code, stdout,
/// stderr.
pub fn ctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(sipshard_bin())
        .arg("ctl")
        .arg("--ctl-socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("running sipshard ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sipshard ctl --json ...`, parsed; panics when the command fails.
pub fn ctl_json(socket: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = ctl(socket, &all);
    assert_eq!(code, 0, "sipshard ctl {args:?} failed: {err}{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A free TCP port on 127.0.0.1 (for an HTTP listener).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// sipp's built-in `uac` scenario calling `user` at `proxy` from a fresh
/// local port: `calls` calls at `rate` per second over sipp transport `t`
/// (`u1`, `t1`), bounded by the time the calls need plus a minute.
pub fn uac_calls(
    dir: &TestDir,
    name: &str,
    proxy: SocketAddr,
    user: &str,
    calls: u64,
    rate: u64,
    t: &str,
) -> SippResult {
    let ip = proxy.ip().to_string();
    let args: Vec<String> = [
        &proxy.to_string(),
        "-sn",
        "uac",
        "-s",
        user,
        "-i",
        &ip,
        "-p",
        &free_port().to_string(),
        "-m",
        &calls.to_string(),
        "-r",
        &rate.to_string(),
        "-l",
        &(rate * 4).to_string(),
        "-t",
        t,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_sipp(dir, name, &args, Duration::from_secs(calls / rate + 60))
}

/// Kamailio 5.6 run in the foreground (`-DD -E`) in a process group of its
/// own, so that dropping it stops the main process and every worker it
/// forked (killing only the main process leaves the workers running).
pub struct Kamailio(Child);

impl Kamailio {
    /// `kamailio -f CFG -DD -E ARGS...` with stderr to `stderr`.
    pub fn spawn(cfg: &Path, args: &[&std::ffi::OsStr], stderr: Stdio) -> Kamailio {
        use std::os::unix::process::CommandExt;
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(cfg)
            .args(["-DD", "-E"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .expect("starting kamailio");
        Kamailio(child)
    }

    /// Whether the main process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Kamailio {
    /// SIGTERM to the group, up to 5 s for it to exit, then SIGKILL.
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && self.alive() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}
