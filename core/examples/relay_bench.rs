//! Cost of the stateful relay (`record_route(); t_relay();`, tm) per
//! message exactly as a shard drives the sans-IO core: every datagram is
//! `Message::parse(bytes.to_vec())`, requests go through
//! `Table::on_request` (retransmissions, ACK to a non-2xx) and else the
//! script, replies through `Table::on_response`; timer ticks every 10 ms of
//! fake time run `Table::on_timer`. One call as sipp's `uac`/`uas` send
//! it: INVITE in (100 Trying and the INVITE out), 100/180/200 from the
//! callee in (180 and 200 relayed), ACK in and out, BYE in and out, 200
//! (BYE) in and out: seven messages in. Calls start every 0.5 ms of fake
//! time (2 000 calls/s), so the table holds wt_timer's worth of finished
//! transactions as in the load test.
//!
//! Reports instructions via callgrind (only the functions named
//! `measured_*` are counted: message handling, timer ticks, and dropping
//! what was sent; the example's copies of sent datagrams, from which it
//! builds the callee's replies, are made in between and not counted) and
//! heap allocations per message in (a counting global allocator, counted
//! only inside `measured_*`).
//!
//! ```text
//! cargo build --release -p sipshard-core --example relay_bench
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/relay.cg \
//!     --collect-atstart=no --toggle-collect='*measured_*' \
//!     $CARGO_TARGET_DIR/release/examples/relay_bench --calls 4000
//! callgrind_annotate /tmp/relay.cg | head -30   # total Ir / messages
//! ```

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use sipshard_core::route_io::{Inbound, LocalSocket, Outbound, RouteEnv, TmAccess};
use sipshard_core::script::{compile_str, Program, ShardState};
use sipshard_core::sip::Message;
use sipshard_core::tm::proxy::Output;
use sipshard_core::tm::table::{RequestMatch, ResponseMatch, Table};
use sipshard_core::transport::Transport;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

const CONFIG: &str = r#"
debug=1
listen=udp:127.0.0.1:5060
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sl.so"
loadmodule "maxfwd.so"
modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 120000)
modparam("tm", "wt_timer", 5000)
modparam("tm", "auto_inv_100", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	record_route();
	if (!t_relay("127.0.0.1", "5070")) {
		exit;
	}
	exit;
}
"#;

const SDP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// A datagram handed to the socket, as the shard hands it (no copy).
enum Sent {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
}

impl Sent {
    fn bytes(&self) -> &[u8] {
        match self {
            Sent::Owned(b) => b,
            Sent::Shared(b) => b,
        }
    }
}

/// The runtime: a real table, fake time; what is sent is kept until
/// [`measured_release`] drops it (the example copies it in between, to
/// build the callee's replies, outside the measured functions).
struct Env {
    table: Table,
    now: u64,
    out: Vec<Output>,
    socket: LocalSocket,
    sent: Vec<Sent>,
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
        self.sent.push(Sent::Owned(out.bytes));
    }
    fn shard(&self) -> usize {
        0
    }
    fn tm(&mut self) -> Option<TmAccess<'_>> {
        Some(TmAccess {
            table: &mut self.table,
            now: self.now,
            out: &mut self.out,
        })
    }
}

impl Env {
    /// Carries out the table's outputs as the shard does (sends them).
    fn drain(&mut self) {
        for o in self.out.drain(..) {
            if let Output::Send { bytes, .. } = o {
                self.sent.push(Sent::Shared(bytes));
            }
        }
    }
}

/// What a shard does with one datagram (tm loaded, no reply routes).
#[inline(never)]
fn measured_message(
    prog: &Program,
    state: &mut ShardState,
    env: &mut Env,
    bytes: &[u8],
    inb: &Inbound,
) {
    let Ok(msg) = Message::parse(black_box(bytes).to_vec()) else {
        panic!("bench message does not parse");
    };
    let now = env.now;
    if msg.is_request() {
        if env
            .table
            .on_request(now, &msg, inb.src, inb.proto, &mut env.out)
            == RequestMatch::NoMatch
        {
            prog.on_request(msg, inb, env, state);
        }
    } else {
        match env.table.on_response(now, &msg, inb.src, &mut env.out) {
            ResponseMatch::Handled(_) => {}
            ResponseMatch::NoMatch => prog.on_reply(msg, inb, env, state),
            ResponseMatch::OtherShard(_) => panic!("one shard only"),
        }
    }
    env.drain();
}

/// One timer tick.
#[inline(never)]
fn measured_tick(env: &mut Env) {
    let now = env.now;
    env.table.on_timer(now, &mut env.out);
    env.drain();
}

/// Drops what was sent, as the shard does once it is on the wire.
#[inline(never)]
fn measured_release(env: &mut Env) {
    env.sent.clear();
}

/// The top Via line and the Record-Route of a request we sent.
fn our_headers(sent: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(sent);
    let via = text
        .lines()
        .find(|l| l.starts_with("Via:") || l.starts_with("v:"))
        .expect("relayed request has a Via")
        .to_string();
    let rr = text
        .lines()
        .filter(|l| l.starts_with("Record-Route:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    (via, rr)
}

fn invite(i: usize, via: &str) -> String {
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n{via}\
From: sipp <sip:sipp@127.0.0.1:5061>;tag={i}SIPpTag00\r\n\
To: service <sip:service@127.0.0.1:5060>\r\n\
Call-ID: {i}-4711@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn in_dialog(i: usize, method: &str, cseq: u32, via: &str) -> String {
    format!(
        "{method} sip:service@127.0.0.1:5070 SIP/2.0\r\n{via}\
From: sipp <sip:sipp@127.0.0.1:5061>;tag={i}SIPpTag00\r\n\
To: service <sip:service@127.0.0.1:5060>;tag={i}SIPpTag01\r\n\
Call-ID: {i}-4711@127.0.0.1\r\n\
CSeq: {cseq} {method}\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// The callee's reply to a request we relayed (`ours`: its bytes).
fn reply(i: usize, status: &str, cseq: &str, ours: &[u8], body: bool) -> String {
    let text = String::from_utf8_lossy(ours);
    let mut vias = String::new();
    for l in text.lines().filter(|l| l.starts_with("Via:")) {
        vias.push_str(l);
        vias.push_str("\r\n");
    }
    let (_, rr) = our_headers(ours);
    let to_tag = if status.starts_with("100") {
        String::new()
    } else {
        format!(";tag={i}SIPpTag01")
    };
    let (ctype, len, sdp) = if body {
        ("Content-Type: application/sdp\r\n", SDP.len(), SDP)
    } else {
        ("", 0, "")
    };
    format!(
        "SIP/2.0 {status}\r\n{vias}{rr}\
From: sipp <sip:sipp@127.0.0.1:5061>;tag={i}SIPpTag00\r\n\
To: service <sip:service@127.0.0.1:5060>{to_tag}\r\n\
Call-ID: {i}-4711@127.0.0.1\r\n\
CSeq: {cseq}\r\n\
Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n\
{ctype}Content-Length: {len}\r\n\r\n{sdp}"
    )
}

struct Run {
    messages: usize,
    allocs: usize,
    ticks: usize,
}

/// Runs `calls` calls; counts messages in and allocations inside
/// `measured_*`.
fn run(
    prog: &Program,
    state: &mut ShardState,
    env: &mut Env,
    first: usize,
    calls: usize,
    check: bool,
) -> Run {
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal");
    let inb = |src: &str| Inbound {
        proto: Transport::Udp,
        src: src.parse().expect("literal"),
        local,
        conn: None,
    };
    let uac = inb("127.0.0.1:5061");
    let uas = inb("127.0.0.1:5070");
    let mut r = Run {
        messages: 0,
        allocs: 0,
        ticks: 0,
    };
    let mut next_tick = env.now + 10;
    for i in first..first + calls {
        // 2 000 calls/s: 0.5 ms per call, ticks every 10 ms.
        env.now = (i as u64) / 2;
        while env.now >= next_tick {
            let a = ALLOCS.load(Ordering::Relaxed);
            measured_tick(env);
            measured_release(env);
            r.allocs += ALLOCS.load(Ordering::Relaxed) - a;
            r.ticks += 1;
            next_tick += 10;
        }
        let mut step =
            |env: &mut Env, bytes: Vec<u8>, from: &Inbound, want: usize| -> Vec<Vec<u8>> {
                let a = ALLOCS.load(Ordering::Relaxed);
                measured_message(prog, state, env, &bytes, from);
                let mid = ALLOCS.load(Ordering::Relaxed);
                // Not measured: the copies the callee's replies are built from.
                let copies: Vec<Vec<u8>> = env.sent.iter().map(|s| s.bytes().to_vec()).collect();
                let b = ALLOCS.load(Ordering::Relaxed);
                measured_release(env);
                r.allocs += (mid - a) + (ALLOCS.load(Ordering::Relaxed) - b);
                r.messages += 1;
                if check {
                    assert_eq!(
                        copies.len(),
                        want,
                        "call {i}: {}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
                copies
            };
        let uac_via = format!("Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{i}-1-0\r\n");
        let sent = step(env, invite(i, &uac_via).into_bytes(), &uac, 2);
        let fwd = sent.last().expect("INVITE relayed").clone();
        step(
            env,
            reply(i, "100 Trying", "1 INVITE", &fwd, false).into_bytes(),
            &uas,
            0,
        );
        step(
            env,
            reply(i, "180 Ringing", "1 INVITE", &fwd, false).into_bytes(),
            &uas,
            1,
        );
        step(
            env,
            reply(i, "200 OK", "1 INVITE", &fwd, true).into_bytes(),
            &uas,
            1,
        );
        let ack_via = format!("Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{i}-1-4\r\n");
        step(env, in_dialog(i, "ACK", 1, &ack_via).into_bytes(), &uac, 1);
        let bye_via = format!("Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{i}-1-5\r\n");
        let sent = step(env, in_dialog(i, "BYE", 2, &bye_via).into_bytes(), &uac, 1);
        let fwd = sent.last().expect("BYE relayed").clone();
        step(
            env,
            reply(i, "200 OK", "2 BYE", &fwd, false).into_bytes(),
            &uas,
            1,
        );
    }
    r
}

fn main() {
    let cfg = match compile_str("relay_bench.cfg", CONFIG, &[]) {
        Ok(c) => c,
        Err(d) => panic!("bench config does not compile: {d:?}"),
    };
    let prog = &*cfg.program;
    let mut state = prog.new_shard_state();
    let table = Table::new(0, prog.tm_config().expect("tm loaded"));
    let mut env = Env {
        table,
        now: 0,
        out: Vec::new(),
        socket: LocalSocket {
            proto: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("literal"),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        },
        sent: Vec::with_capacity(8),
    };
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .map(|i| {
            args.get(i + 1)
                .and_then(|n| n.parse().ok())
                .expect("--calls needs a number")
        })
        .unwrap_or(20_000);
    let r = run(prog, &mut state, &mut env, 0, calls, true);
    println!(
        "calls: {calls}  messages in: {}  timer ticks: {}  table: {} transactions",
        r.messages,
        r.ticks,
        env.table.len()
    );
    println!(
        "heap allocations per message in: {:.2}",
        r.allocs as f64 / r.messages as f64
    );
}
