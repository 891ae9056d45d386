//! Starting and stopping the processes of a comparison: the system under
//! test (sipshard, Kamailio or the floor relay) and the UAS. Every process is
//! stopped by its own PID (SIGTERM, then SIGKILL after 5 s).

use crate::Transport;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started process with a label for error messages.
pub struct Running {
    pub label: String,
    pub child: Child,
}

impl Running {
    /// Starts `program args...`, logging stdout+stderr into `log`.
    pub fn start(label: &str, program: &Path, args: &[String], log: &Path, pin: Option<usize>) -> Result<Running, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{label}: cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match pin {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{label}: cannot start {}: {e}", program.display()))?;
        Ok(Running {
            label: label.to_string(),
            child,
        })
    }

    /// PID of the process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process already exited.
    pub fn check_alive(&mut self, log: &Path) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}); log {}: {}", self.label, log.display(), tail(log))),
            Err(e) => Err(format!("{}: {e}", self.label)),
        }
    }

    /// Stops the process by PID and reaps it.
    pub fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its PID.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log file, for error messages.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// True when some socket is bound to UDP `port` on 127.0.0.1 (a plain bind
/// without SO_REUSEPORT then fails).
pub fn udp_port_busy(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// The same for `transport` (TCP: a listener holds the port; connections
/// in TIME_WAIT do not count, std binds with SO_REUSEADDR).
pub fn port_busy(port: u16, transport: Transport) -> bool {
    match transport {
        Transport::Udp => udp_port_busy(port),
        Transport::Tcp => std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
    }
}

/// Waits until `port` is bound (for `transport`) and the process is still alive.
pub fn wait_bound(p: &mut Running, port: u16, transport: Transport, log: &Path, limit: Duration) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < limit {
        p.check_alive(log)?;
        if port_busy(port, transport) {
            std::thread::sleep(Duration::from_millis(300));
            return p.check_alive(log);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{} did not bind {transport:?} 127.0.0.1:{port} within {limit:?}; log: {}",
        p.label,
        tail(log)
    ))
}
