//! Cost of the stateless per-message path exactly as the runtime drives it:
//! `Message::parse(bytes.to_vec())` then `Program::on_request` /
//! `Program::on_reply` with a realistic stateless config (max-forwards,
//! an `is_method` / `uri == myself` check, `forward("127.0.0.1", 5070)`,
//! a disabled `xdbg` in `onreply_route`), over the six messages of a call
//! as sipp's `uac`/`uas` scenarios send them: INVITE, 180, 200, ACK, BYE,
//! 200 (BYE). The environment discards what is sent.
//!
//! Reports, per message kind and for the whole call: ns/message (wall
//! clock, compare runs against each other on a shared machine) and heap
//! allocations/message (a counting global allocator). One of the counted
//! allocations belongs to the environment contract, not the router:
//! `RouteEnv::local_for` returns a `LocalSocket` holding a `String`, and
//! this fake env clones it as the shard's env does.
//!
//! ```text
//! cargo run --release -p sipshard-core --example route_bench
//! # repeatable instruction counts (only `per_message` is counted):
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/rb.cg \
//!     --collect-atstart=no --toggle-collect='*per_message*' \
//!     $CARGO_TARGET_DIR/release/examples/route_bench --calls 2000
//! callgrind_annotate /tmp/rb.cg | head -30   # total Ir / (6 × calls)
//! ```
//! With `--calls N` the example runs N calls once (no timing) and prints
//! the message count to divide by.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Instant;

use sipshard_core::route_io::{Inbound, LocalSocket, Outbound, RouteEnv};
use sipshard_core::script::{compile_str, Program, ShardState};
use sipshard_core::sip::Message;
use sipshard_core::transport::Transport;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

const CONFIG: &str = r#"
debug=2
listen=udp:127.0.0.1:5060
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "xlog.so"

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	forward("127.0.0.1", 5070);
	exit;
}

onreply_route {
	xdbg("reply $rs $rr for call-id $ci\n");
}
"#;

const SDP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// The UAC (sipp `uac`) at 127.0.0.1:5061, the UAS at 127.0.0.1:5070, us
/// at 127.0.0.1:5060. Our Via branch in replies is the one `forward()`
/// computes; any value works for routing a reply.
const UAC_VIA: &str = "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0\r\n";
const UAC_VIA_BYE: &str = "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-5\r\n";
const OUR_VIA: &str =
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK2d4790e0c6a5f1b3a0c6b8a1e9f0d2c3\r\n";
const DIALOG: &str = "From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n\
Call-ID: 1-4711@127.0.0.1\r\n";

fn invite() -> String {
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n{UAC_VIA}{DIALOG}\
To: service <sip:service@127.0.0.1:5060>\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn reply(code: &str, cseq: &str, via: &str, body: bool) -> String {
    let (ctype, len, sdp) = if body {
        ("Content-Type: application/sdp\r\n", SDP.len(), SDP)
    } else {
        ("", 0, "")
    };
    format!(
        "SIP/2.0 {code}\r\n{OUR_VIA}{via}{DIALOG}\
To: service <sip:service@127.0.0.1:5060>;tag=4712SIPpTag011\r\n\
CSeq: {cseq}\r\n\
Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n\
{ctype}Content-Length: {len}\r\n\r\n{sdp}"
    )
}

fn in_dialog(method: &str, cseq: u32, via: &str) -> String {
    format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n{via}{DIALOG}\
To: service <sip:service@127.0.0.1:5060>;tag=4712SIPpTag011\r\n\
CSeq: {cseq} {method}\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// One message of the call: its bytes, whether it is a reply, where it
/// comes from.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    reply: bool,
    inb: Inbound,
}

fn cases() -> Vec<Case> {
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal");
    let inb = |src: &str| Inbound {
        proto: Transport::Udp,
        src: src.parse().expect("literal"),
        local,
        conn: None,
    };
    let uac = "127.0.0.1:5061";
    let uas = "127.0.0.1:5070";
    let case = |name, text: String, reply, src| Case {
        name,
        bytes: text.into_bytes(),
        reply,
        inb: inb(src),
    };
    vec![
        case("INVITE", invite(), false, uac),
        case(
            "180",
            reply("180 Ringing", "1 INVITE", UAC_VIA, false),
            true,
            uas,
        ),
        case(
            "200 (INVITE)",
            reply("200 OK", "1 INVITE", UAC_VIA, true),
            true,
            uas,
        ),
        case("ACK", in_dialog("ACK", 1, UAC_VIA), false, uac),
        case("BYE", in_dialog("BYE", 2, UAC_VIA_BYE), false, uac),
        case(
            "200 (BYE)",
            reply("200 OK", "2 BYE", UAC_VIA_BYE, false),
            true,
            uas,
        ),
    ]
}

/// A runtime that resolves IP literals, has one UDP socket and discards
/// what is sent (counting it).
struct DiscardEnv {
    socket: LocalSocket,
    sent: usize,
    sent_bytes: usize,
}

impl RouteEnv for DiscardEnv {
    fn resolve(&mut self, host: &str, port: Option<u16>, _proto: Transport) -> Option<SocketAddr> {
        let h = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = h.parse().ok()?;
        Some(SocketAddr::new(ip, port.unwrap_or(5060)))
    }

    fn local_for(&self, _dst: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        (proto == self.socket.proto).then(|| self.socket.clone())
    }

    fn log(&mut self, _level: i32, line: &str) {
        black_box(line);
    }

    fn log_enabled(&self, level: i32) -> bool {
        // debug=2: INFO and more severe.
        level <= 2
    }

    fn send(&mut self, out: Outbound) {
        self.sent += 1;
        self.sent_bytes += out.bytes.len();
        black_box(out);
    }

    fn shard(&self) -> usize {
        0
    }
}

/// The measured unit: what the runtime does per received datagram.
#[inline(never)]
fn per_message(prog: &Program, state: &mut ShardState, env: &mut DiscardEnv, c: &Case) {
    match Message::parse(black_box(&c.bytes).to_vec()) {
        Ok(m) if c.reply => prog.on_reply(m, &c.inb, env, state),
        Ok(m) => prog.on_request(m, &c.inb, env, state),
        Err(e) => panic!("{} does not parse: {e:?}", c.name),
    }
}

fn env() -> DiscardEnv {
    DiscardEnv {
        socket: LocalSocket {
            proto: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("literal"),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        },
        sent: 0,
        sent_bytes: 0,
    }
}

fn main() {
    let cfg = match compile_str("route_bench.cfg", CONFIG, &[]) {
        Ok(c) => c,
        Err(d) => panic!("bench config does not compile: {d:?}"),
    };
    let prog = &*cfg.program;
    let mut state = prog.new_shard_state();
    let cases = cases();
    let mut env = env();

    // Every message must be relayed exactly once, or the figures lie.
    for c in &cases {
        let before = env.sent;
        per_message(prog, &mut state, &mut env, c);
        assert_eq!(env.sent, before + 1, "{} was not relayed", c.name);
    }

    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--calls") {
        let calls: usize = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--calls needs a number");
        for _ in 0..calls {
            for c in &cases {
                per_message(prog, &mut state, &mut env, c);
            }
        }
        println!("messages: {}", calls * cases.len());
        return;
    }

    let iters = 200_000;
    println!("{:<14} {:>8} {:>10}", "message", "ns/msg", "allocs/msg");
    let mut total_ns = 0.0;
    let mut total_allocs = 0.0;
    for c in &cases {
        for _ in 0..iters / 10 {
            per_message(prog, &mut state, &mut env, c);
        }
        let a0 = ALLOCS.load(Ordering::Relaxed);
        let t = Instant::now();
        for _ in 0..iters {
            per_message(prog, &mut state, &mut env, c);
        }
        let ns = t.elapsed().as_nanos() as f64 / iters as f64;
        let allocs = (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / iters as f64;
        total_ns += ns;
        total_allocs += allocs;
        println!("{:<14} {ns:>8.0} {allocs:>10.2}", c.name);
    }
    let n = cases.len() as f64;
    println!(
        "{:<14} {:>8.0} {:>10.2}",
        "call average",
        total_ns / n,
        total_allocs / n
    );
    let t = Instant::now();
    for c in &cases {
        for _ in 0..iters {
            black_box(black_box(&c.bytes).to_vec());
        }
    }
    let copy = t.elapsed().as_nanos() as f64 / (iters as f64 * n);
    println!("{:<14} {copy:>8.0} {:>10.2}", "(copy only)", 1.0);
    black_box(env.sent_bytes);
}
