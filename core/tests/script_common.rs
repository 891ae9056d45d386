//! Shared by the `script_*` tests: a fake runtime that records what a
//! program sends and logs, and message helpers.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use sipshard_core::route_io::{Inbound, LocalSocket, Outbound, RouteEnv};
use sipshard_core::script::{compile_str, Config, ShardState};
use sipshard_core::sip::Message;
use sipshard_core::transport::Transport;

pub const LOCAL: &str = "127.0.0.1:5060";

/// Resolves IP literals only; one local socket per transport at
/// 127.0.0.1:5060.
#[derive(Default)]
pub struct FakeEnv {
    pub sent: Vec<Outbound>,
    pub logs: Vec<(i32, String)>,
}

impl RouteEnv for FakeEnv {
    fn resolve(&mut self, host: &str, port: Option<u16>, proto: Transport) -> Option<SocketAddr> {
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let default = if proto == Transport::Tls { 5061 } else { 5060 };
        Some(SocketAddr::new(ip, port.unwrap_or(default)))
    }
    fn local_for(&self, _dst: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        Some(LocalSocket {
            proto,
            addr: LOCAL.parse().unwrap(),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        })
    }
    fn log(&mut self, level: i32, line: &str) {
        self.logs.push((level, line.to_string()));
    }
    fn log_enabled(&self, _level: i32) -> bool {
        true
    }
    fn send(&mut self, out: Outbound) {
        self.sent.push(out);
    }
    fn shard(&self) -> usize {
        0
    }
}

pub fn inbound(src: &str) -> Inbound {
    Inbound {
        proto: Transport::Udp,
        src: src.parse().unwrap(),
        local: LOCAL.parse().unwrap(),
        conn: None,
    }
}

pub fn msg(text: &str) -> Message {
    Message::parse(text.replace('\n', "\r\n").into_bytes()).expect("test message parses")
}

pub fn compile(text: &str) -> Config {
    match compile_str("test.cfg", text, &[]) {
        Ok(c) => c,
        Err(e) => panic!(
            "config does not compile: {}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

pub fn cfg_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cfg")
        .join(name)
}

/// Runs one request through a config; returns the environment.
pub fn run_request(cfg: &Config, shard: &mut ShardState, text: &str, src: &str) -> FakeEnv {
    let mut env = FakeEnv::default();
    cfg.program
        .on_request(msg(text), &inbound(src), &mut env, shard);
    env
}

pub fn run_reply(cfg: &Config, shard: &mut ShardState, text: &str, src: &str) -> FakeEnv {
    let mut env = FakeEnv::default();
    cfg.program
        .on_reply(msg(text), &inbound(src), &mut env, shard);
    env
}

pub fn text(o: &Outbound) -> String {
    String::from_utf8_lossy(&o.bytes).into_owned()
}

pub fn invite() -> String {
    "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: Bob <sip:bob@example.com>
From: Alice <sip:alice@example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@10.0.0.1:5062>
Content-Length: 0

"
    .to_string()
}

/// An in-dialog BYE of the dialog [`invite`] starts (To tag `b1`), with
/// `routes` as Route headers in order, from the caller or from the callee.
pub fn in_dialog_bye(routes: &[&str], from_caller: bool) -> String {
    let mut r = invite()
        .replace("INVITE sip:bob@example.com", "BYE sip:bob@10.0.0.2:5070")
        .replace("314159 INVITE", "314160 BYE")
        .replace(
            "To: Bob <sip:bob@example.com>",
            "To: Bob <sip:bob@example.com>;tag=b1",
        );
    if !from_caller {
        r = r
            .replace(
                "From: Alice <sip:alice@example.com>;tag=1928301774",
                "From: Bob <sip:bob@example.com>;tag=b1",
            )
            .replace(
                "To: Bob <sip:bob@example.com>;tag=b1",
                "To: Alice <sip:alice@example.com>;tag=1928301774",
            );
    }
    for v in routes {
        r = r.replacen("Max-Forwards", &format!("Route: {v}\nMax-Forwards"), 1);
    }
    r
}

/// A request with one header line replaced (or removed with `None`).
pub fn with_header(base: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in base.split_inclusive('\n') {
        if line
            .to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        {
            if let Some(v) = value {
                out.push_str(&format!("{name}: {v}\n"));
            }
            done = true;
        } else if line == "\n" && !done {
            if let Some(v) = value {
                out.push_str(&format!("{name}: {v}\n"));
            }
            out.push_str(line);
            done = true;
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Header values named `name` in outgoing bytes.
pub fn headers(out: &str, name: &str) -> Vec<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    out.split("\r\n")
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
        .collect()
}
