//! Parse cost per message for a typical INVITE (and a 200 OK), plus the
//! stateless forward path. Run with
//! `cargo run --release -p sipshard-core --example parse_bench`.
//! On a shared machine compare runs against each other, not absolute
//! numbers.

use std::hint::black_box;
use std::time::Instant;

use sipshard_core::proxy::{forward_stateless, stateless_branch};
use sipshard_core::route_io::LocalSocket;
use sipshard_core::sip::{Edits, Message};
use sipshard_core::transport::Transport;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer\r\n\
User-Agent: bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 142\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

fn measure(name: &str, iters: usize, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    let ns = t.elapsed().as_nanos() as f64 / iters as f64;
    println!("{name:<40} {ns:>8.0} ns/op");
}

fn main() {
    let iters = 200_000;
    let msg = Message::parse(INVITE.to_vec()).expect("bench INVITE parses");
    assert_eq!(msg.body().len(), 142);
    measure("copy buffer (baseline)", iters, || {
        black_box(black_box(INVITE).to_vec());
    });
    measure("copy + parse INVITE", iters, || {
        let m = Message::parse(black_box(INVITE).to_vec()).unwrap();
        black_box(m.headers().count());
    });
    measure("copy + parse + via/from/to/cseq views", iters, || {
        let m = Message::parse(black_box(INVITE).to_vec()).unwrap();
        black_box((
            m.top_via().and_then(|v| v.branch()),
            m.from_tag(),
            m.to_tag(),
            m.cseq(),
            m.call_id(),
        ));
    });
    measure("stateless_branch", iters, || {
        black_box(stateless_branch(black_box(&msg)));
    });
    let sock = LocalSocket {
        proto: Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
        advertise_host: "127.0.0.1".into(),
        advertise_port: 5060,
    };
    let src = "192.0.2.101:5060".parse().unwrap();
    measure("forward_stateless (branch+via+splice)", iters, || {
        black_box(forward_stateless(&msg, &Edits::new(), &sock, src, false).unwrap());
    });
}
