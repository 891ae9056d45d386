//! Running the same config on sipshard and on Kamailio 5.6, one proxy at
//! a time: which server, starting it and waiting until it answers OPTIONS.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// One proxy at a time: two CPUs, and kamailio plus sipp processes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `case` on sipshard, then on Kamailio 5.6 (same config, same
/// assertions), one test at a time, each in its own directory
/// `{name}-{server}`; skipped without sipp or kamailio.
pub fn on_each_server(name: &str, case: impl Fn(Server, &TestDir)) {
    if !have_sipp() || !have_kamailio() {
        return;
    }
    let _one = serial();
    for server in SERVERS {
        let dir = TestDir::new(&format!("{name}-{server:?}"));
        case(server, &dir);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Sipshard,
    Kamailio,
}

pub const SERVERS: [Server; 2] = [Server::Sipshard, Server::Kamailio];

/// A running proxy of either kind; killed when dropped.
pub enum Proxy {
    Sipshard(Sipshard),
    Kamailio(Kamailio),
}

impl Proxy {
    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self {
            Proxy::Sipshard(s) => s.alive(),
            Proxy::Kamailio(k) => k.alive(),
        }
    }
}

/// Fails in CI when kamailio is missing; elsewhere skips.
pub fn have_kamailio() -> bool {
    if Command::new("kamailio").arg("-v").output().is_ok() {
        return true;
    }
    if std::env::var("CI").is_ok() {
        panic!("kamailio is not installed (apt-get install -y kamailio); CI must have it");
    }
    eprintln!("SKIPPED: kamailio is not installed");
    false
}

/// Starts `server` with `cfg_text` (listening on 127.0.0.1:`port`) and
/// waits until it answers OPTIONS.
pub fn start(server: Server, dir: &TestDir, port: u16, cfg_text: &str) -> Proxy {
    let cfg = dir.write(&format!("{server:?}.cfg"), cfg_text);
    let proxy = match server {
        Server::Sipshard => {
            // `sipshard check` takes the config as it is: nothing unsupported.
            let out = Command::new(sipshard_bin())
                .args(["check", "--config"])
                .arg(&cfg)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && !text.contains("nsupported"),
                "sipshard check refused the config:\n{text}"
            );
            Proxy::Sipshard(Sipshard::start(&cfg, &[]))
        }
        Server::Kamailio => {
            let log = std::fs::File::create(dir.path("kamailio.log")).unwrap();
            Proxy::Kamailio(Kamailio::spawn(
                &cfg,
                &[
                    "-Y".as_ref(),
                    dir.0.as_os_str(),
                    "-w".as_ref(),
                    dir.0.as_os_str(),
                ],
                Stdio::from(log),
            ))
        }
    };
    let to = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let probe = options_to(to, &format!("probe-{port}"));
        if let Some(r) = udp_exchange(to, &probe, Duration::from_millis(300)) {
            if status_of(&r) == Some(200) {
                return proxy;
            }
        }
    }
    let log = std::fs::read_to_string(dir.path("kamailio.log")).unwrap_or_default();
    panic!("{server:?} did not answer OPTIONS on {port}; kamailio.log:\n{log}");
}
