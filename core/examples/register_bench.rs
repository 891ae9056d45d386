//! Cost of a REGISTER with Digest credentials exactly as the runtime
//! drives it: `Message::parse(bytes.to_vec())` then `Program::on_request`
//! with the route of `bench/configs/sipshard-registrar.cfg`
//! (`www_authorize` against auth_db on a db_text subscriber table,
//! `www_challenge("$td", "0")`, `save("location")` in memory, the reply
//! sent).
//!
//! `--registers N` (default): each REGISTER is a refresh of one binding:
//! qop=auth with a rising `nc` (a nonce is not accepted twice with the
//! same count) and a rising CSeq, all prepared before the measurement.
//! `--registrations N`: each registration is what `sipshard-bench compare
//! --scenario registrar` sends: a REGISTER without credentials (401 with a
//! fresh nonce), then one answering that nonce without qop (200), with a
//! Call-ID of its own; the client's work between the two is not counted.
//!
//! Reports ns and heap allocations (a counting global allocator) per
//! REGISTER or per registration; `--bindings N` instead reports the
//! resident memory per binding of N AORs in the in-memory table. For
//! repeatable instruction counts:
//!
//! ```text
//! cargo build --release -p sipshard-core --example register_bench
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/reg.cg \
//!     --collect-atstart=no --toggle-collect='*per_message*' \
//!     $CARGO_TARGET_DIR/release/examples/register_bench --registers 20000
//! callgrind_annotate /tmp/reg.cg | head -30   # total Ir / registers
//! ```
//!
//! (the same with `--registrations 5000` for the 401 + 200 pairs).

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Instant;

use sipshard_core::auth::Algorithm;
use sipshard_core::route_io::{Inbound, LocalSocket, Outbound, RouteEnv};
use sipshard_core::script::{compile_str, Program, ShardState};
use sipshard_core::sip::Message;
use sipshard_core::transport::Transport;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

fn config(db: &str) -> String {
    format!(
        r#"
debug=1
listen=udp:127.0.0.1:5060
server_signature=no
loadmodule "sl.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://{db}")
request_route {{
	if (method == "REGISTER") {{
		if (!www_authorize("$td", "subscriber")) {{
			www_challenge("$td", "0");
			exit;
		}}
		if (!save("location")) {{
			sl_reply_error();
		}}
		exit;
	}}
	sl_send_reply("404", "Not Here");
}}
"#
    )
}

const USER: &str = "sipp";
const PASS: &str = "secret";
const REALM: &str = "127.0.0.1";
const URI: &str = "sip:127.0.0.1:5060";

/// A REGISTER of call `call` (4 hex digits: every Call-ID has the same
/// length) with CSeq `cseq`.
fn register(call: u16, cseq: u32, auth: Option<&str>) -> Vec<u8> {
    let auth = auth.map(|a| format!("{a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER {URI} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-reg-{cseq}\r\n\
From: sipp <sip:{USER}@{REALM}>;tag=4711SIPpTag001\r\n\
To: sipp <sip:{USER}@{REALM}>\r\n\
Call-ID: reg-{call:04x}@127.0.0.1\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{USER}@127.0.0.1:5061>;expires=3600\r\n\
Max-Forwards: 70\r\n\
User-Agent: register_bench\r\n\
{auth}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn md5(p: &[&[u8]]) -> String {
    Algorithm::Md5.hash_hex(p)
}

/// `Authorization` answering nonce `nonce` without qop, as the bench's
/// load generator does for a challenge without qop.
fn authorization_no_qop(nonce: &str) -> String {
    let ha1 = md5(&[USER.as_bytes(), REALM.as_bytes(), PASS.as_bytes()]);
    let ha2 = md5(&[b"REGISTER", URI.as_bytes()]);
    let resp = md5(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]);
    format!(
        "Authorization: Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
uri=\"{URI}\", response=\"{resp}\", algorithm=MD5"
    )
}

/// `Authorization` answering nonce `nonce` with count `nc` (qop=auth).
fn authorization(nonce: &str, nc: u32) -> String {
    let ha1 = md5(&[USER.as_bytes(), REALM.as_bytes(), PASS.as_bytes()]);
    let ha2 = md5(&[b"REGISTER", URI.as_bytes()]);
    let nc = format!("{nc:08x}");
    let cnonce = "0a4f113b";
    let resp = md5(&[
        ha1.as_bytes(),
        nonce.as_bytes(),
        nc.as_bytes(),
        cnonce.as_bytes(),
        b"auth",
        ha2.as_bytes(),
    ]);
    format!(
        "Authorization: Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
uri=\"{URI}\", response=\"{resp}\", algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    )
}

/// A runtime with one UDP socket that keeps the last reply sent.
struct Env {
    socket: LocalSocket,
    last: Vec<u8>,
}

impl RouteEnv for Env {
    fn resolve(&mut self, host: &str, port: Option<u16>, _: Transport) -> Option<SocketAddr> {
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port.unwrap_or(5060)))
    }

    fn local_for(&self, _: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        (proto == self.socket.proto).then(|| self.socket.clone())
    }

    fn log(&mut self, _: i32, line: &str) {
        black_box(line);
    }

    fn log_enabled(&self, level: i32) -> bool {
        level <= 1
    }

    fn send(&mut self, out: Outbound) {
        self.last = out.bytes;
    }

    fn shard(&self) -> usize {
        0
    }
}

/// The measured unit: what the runtime does per received datagram.
#[inline(never)]
fn per_message(prog: &Program, state: &mut ShardState, env: &mut Env, inb: &Inbound, b: &[u8]) {
    match Message::parse(black_box(b).to_vec()) {
        Ok(m) => prog.on_request(m, inb, env, state),
        Err(e) => panic!("REGISTER does not parse: {e:?}"),
    }
}

fn status(env: &Env) -> &str {
    std::str::from_utf8(&env.last[8..11]).unwrap_or("")
}

/// The nonce of the 401 last sent.
fn nonce_of(env: &Env) -> String {
    let text = String::from_utf8_lossy(&env.last).into_owned();
    text.split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a nonce in the 401")
        .to_string()
}

/// `--registrations N`: N challenge + answer pairs; only the two
/// `per_message` calls are timed and their allocations counted.
fn registrations(n: u32, prog: &Program, state: &mut ShardState, env: &mut Env, inb: &Inbound) {
    let (mut ns, mut allocs) = (0u128, 0usize);
    for i in 0..n {
        // each registration is a call of its own, as compare's
        let call = (i % 0xffff) as u16;
        let first = register(call, 1, None);
        let (a0, t) = (ALLOCS.load(Ordering::Relaxed), Instant::now());
        per_message(prog, state, env, inb, &first);
        ns += t.elapsed().as_nanos();
        allocs += ALLOCS.load(Ordering::Relaxed) - a0;
        assert_eq!(status(env), "401", "{}", String::from_utf8_lossy(&env.last));
        let second = register(call, 2, Some(&authorization_no_qop(&nonce_of(env))));
        let (a0, t) = (ALLOCS.load(Ordering::Relaxed), Instant::now());
        per_message(prog, state, env, inb, &second);
        ns += t.elapsed().as_nanos();
        allocs += ALLOCS.load(Ordering::Relaxed) - a0;
        // every registration must get its 200, or the figures lie
        assert_eq!(
            status(env),
            "200",
            "{i}: {}",
            String::from_utf8_lossy(&env.last)
        );
    }
    println!("registrations: {n}");
    println!("ns/registration: {:.0}", ns as f64 / f64::from(n));
    println!("allocs/registration: {:.2}", allocs as f64 / f64::from(n));
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// `--bindings N`: memory per binding of the in-memory location table,
/// N distinct AORs saved as `save()` saves them (one Contact each, with
/// Call-ID, User-Agent, socket and received).
fn memory_per_binding(n: u64) {
    use sipshard_core::registrar::{update, ContactIn, Params, Request};
    use sipshard_core::usrloc::{now, LocOptions, LocationStore};
    let st = LocationStore::open(
        None,
        LocOptions {
            db_mode: 0,
            timer_interval: 60,
        },
    )
    .expect("location table");
    let before = rss();
    let t = now();
    for i in 0..n {
        let req = Request {
            contacts: vec![ContactIn {
                uri: format!("sip:user{i}@192.0.2.1:5061;transport=udp").into(),
                ..Default::default()
            }],
            callid: format!("{i:x}-4711@192.0.2.1").into(),
            cseq: 1,
            received: Some(format!("sip:198.51.100.1:{}", 1024 + i % 60000).into()),
            user_agent: "register_bench/1.0".into(),
            socket: Some("udp:127.0.0.1:5060".into()),
            ..Default::default()
        };
        let o = update(&[], &req, &Params::default(), 0, t, || st.ruid(t)).expect("saved");
        st.apply(&format!("user{i}"), o.ops);
    }
    let after = rss();
    println!("bindings: {}", st.len());
    println!(
        "RSS {:.1} MB -> {:.1} MB: {} bytes per binding",
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after - before) / n.max(1)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--bindings")
        .and_then(|i| args.get(i + 1)?.parse().ok())
    {
        memory_per_binding(n);
        return;
    }
    let dir = std::env::temp_dir().join(format!("register-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ha1 = Algorithm::Md5.hash_hex(&[USER.as_bytes(), REALM.as_bytes(), PASS.as_bytes()]);
    std::fs::write(
        dir.join("subscriber"),
        format!(
            "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)\n\
             1:{USER}:{REALM}:{PASS}:{ha1}:\n"
        ),
    )
    .expect("subscriber table");
    let cfg = match compile_str(
        "register_bench.cfg",
        &config(&dir.display().to_string()),
        &[],
    ) {
        Ok(c) => c,
        Err(d) => panic!("bench config does not compile: {d:?}"),
    };
    let prog = &*cfg.program;
    let mut state = prog.new_shard_state();
    let inb = Inbound {
        proto: Transport::Udp,
        src: "127.0.0.1:5061".parse().expect("literal"),
        local: "127.0.0.1:5060".parse().expect("literal"),
        conn: None,
    };
    let mut env = Env {
        socket: LocalSocket {
            proto: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("literal"),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        },
        last: Vec::new(),
    };

    if let Some(n) = args
        .iter()
        .position(|a| a == "--registrations")
        .and_then(|i| args.get(i + 1)?.parse().ok())
    {
        registrations(n, prog, &mut state, &mut env, &inb);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // The challenge: one nonce for the whole run.
    per_message(prog, &mut state, &mut env, &inb, &register(0x4711, 1, None));
    assert_eq!(status(&env), "401");
    let nonce = nonce_of(&env);

    let n: u32 = args
        .iter()
        .position(|a| a == "--registers")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200_000);
    let msgs: Vec<Vec<u8>> = (0..n + 1)
        .map(|i| register(0x4711, i + 2, Some(&authorization(&nonce, i + 1))))
        .collect();
    // Every REGISTER must get its 200, or the figures lie.
    per_message(prog, &mut state, &mut env, &inb, &msgs[0]);
    assert_eq!(
        status(&env),
        "200",
        "{}",
        String::from_utf8_lossy(&env.last)
    );

    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for m in &msgs[1..] {
        per_message(prog, &mut state, &mut env, &inb, m);
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let allocs = (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / f64::from(n);
    assert_eq!(
        status(&env),
        "200",
        "{}",
        String::from_utf8_lossy(&env.last)
    );
    println!("registers: {n}");
    println!("ns/REGISTER: {ns:.0}");
    println!("allocs/REGISTER: {allocs:.2}");
    let _ = std::fs::remove_dir_all(&dir);
}
