//! The RFC 4475 and RFC 5118 torture messages sent to a running sipshard
//! over UDP and over TCP. Each gets what its RFC section says: the reply
//! code where a reply is possible (400 for malformed requests, 505 for an
//! unknown version, 416 for an unknown Request-URI scheme, 420 for an
//! unsupported Proxy-Require, 483 for Max-Forwards 0), no reply for
//! responses and for requests too broken to answer. Well-formed requests
//! reach the routing script, which answers `200`. The server must still
//! answer afterwards.
//!
//! The config is a Kamailio-style REQINIT (force_rport, maxfwd, sanity)
//! that answers locally, so nothing is forwarded to the example.com hosts
//! the messages name.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

fn config(port: u16) -> String {
    format!(
        r#"
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
debug=0
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "sanity.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("sanity", "autodrop", 0)
request_route {{
    force_rport();
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    # The default checks plus Proxy-Require (512); URIs incl. Contact (15).
    if (!sanity_check("18407", "15")) {{
        exit;
    }}
    if (is_method("ACK")) {{
        exit;
    }}
    sl_send_reply("200", "Routed");
}}
"#
    )
}

/// (file, reply over UDP, reply over TCP). `None`: no reply.
const EXPECTED: &[(&str, Option<u16>, Option<u16>)] = &[
    // RFC 4475 §3.1.1: valid messages.
    ("rfc4475/wsinv.dat", Some(200), Some(200)),
    ("rfc4475/intmeth.dat", Some(200), Some(200)),
    ("rfc4475/esc01.dat", Some(200), Some(200)),
    ("rfc4475/escnull.dat", Some(200), Some(200)),
    ("rfc4475/esc02.dat", Some(200), Some(200)),
    ("rfc4475/lwsdisp.dat", Some(200), Some(200)),
    ("rfc4475/longreq.dat", Some(200), Some(200)),
    // §3.1.1.8 dblreq: one datagram, the second request ignored over UDP.
    ("rfc4475/dblreq.dat", Some(200), Some(200)),
    ("rfc4475/semiuri.dat", Some(200), Some(200)),
    ("rfc4475/transports.dat", Some(200), Some(200)),
    ("rfc4475/mpart01.dat", Some(200), Some(200)),
    ("rfc4475/unreason.dat", None, None),
    ("rfc4475/noreason.dat", None, None),
    // §3.1.2: invalid messages.
    ("rfc4475/badinv01.dat", Some(400), Some(400)),
    // §3.1.2.2: Content-Length larger than the message: over a stream the
    // receiver waits for the rest.
    ("rfc4475/clerr.dat", Some(400), None),
    ("rfc4475/scalar02.dat", Some(400), Some(400)),
    ("rfc4475/scalarlg.dat", None, None),
    ("rfc4475/quotbal.dat", Some(400), Some(400)),
    ("rfc4475/ltgtruri.dat", Some(400), Some(400)),
    ("rfc4475/lwsruri.dat", Some(400), Some(400)),
    ("rfc4475/lwsstart.dat", Some(400), Some(400)),
    ("rfc4475/trws.dat", Some(400), Some(400)),
    // §3.1.2.10: headers are not allowed in a Request-URI (RFC 3261 §19.1.1).
    ("rfc4475/escruri.dat", Some(400), Some(400)),
    ("rfc4475/regbadct.dat", Some(400), Some(400)),
    ("rfc4475/badaspec.dat", Some(400), Some(400)),
    // §3.1.2.14 baddn ships without the blank line that ends the headers:
    // a datagram ends there, a stream does not.
    ("rfc4475/baddn.dat", Some(400), None),
    ("rfc4475/badvers.dat", Some(505), Some(505)),
    ("rfc4475/mismatch01.dat", Some(400), Some(400)),
    ("rfc4475/mismatch02.dat", Some(400), Some(400)),
    ("rfc4475/bigcode.dat", None, None),
    // §3.2.1: a missing transaction identifier is accepted.
    ("rfc4475/badbranch.dat", Some(200), Some(200)),
    // §3.3.1 insuf lacks From, To and Call-ID: no reply can be built.
    ("rfc4475/insuf.dat", None, None),
    ("rfc4475/unkscm.dat", Some(416), Some(416)),
    ("rfc4475/novelsc.dat", Some(416), Some(416)),
    ("rfc4475/unksm2.dat", Some(200), Some(200)),
    ("rfc4475/bext01.dat", Some(420), Some(420)),
    ("rfc4475/invut.dat", Some(200), Some(200)),
    ("rfc4475/regaut01.dat", Some(200), Some(200)),
    ("rfc4475/multi01.dat", Some(400), Some(400)),
    ("rfc4475/mcl01.dat", Some(400), Some(400)),
    ("rfc4475/bcast.dat", None, None),
    ("rfc4475/zeromf.dat", Some(483), Some(483)),
    ("rfc4475/cparam01.dat", Some(200), Some(200)),
    ("rfc4475/cparam02.dat", Some(200), Some(200)),
    ("rfc4475/regescrt.dat", Some(200), Some(200)),
    ("rfc4475/sdp01.dat", Some(200), Some(200)),
    // §3.4: backward compatibility. inv2543 has no Content-Length, which a
    // stream requires (RFC 3261 §18.3).
    ("rfc4475/inv2543.dat", Some(200), Some(400)),
    ("rfc4475/baddate.dat", Some(200), Some(200)),
    ("rfc4475/ncl.dat", Some(400), Some(400)),
    // RFC 5118 §4.
    ("rfc5118/ipv6-good.dat", Some(200), Some(200)),
    ("rfc5118/port-ambiguous.dat", Some(200), Some(200)),
    ("rfc5118/port-unambiguous.dat", Some(200), Some(200)),
    ("rfc5118/ipv6-bad.dat", Some(400), Some(400)),
    ("rfc5118/ipv6-in-sdp.dat", Some(200), Some(200)),
    (
        "rfc5118/via-received-param-with-delim.dat",
        Some(200),
        Some(200),
    ),
    (
        "rfc5118/via-received-param-no-delim.dat",
        Some(200),
        Some(200),
    ),
    ("rfc5118/mult-ip-in-header.dat", Some(200), Some(200)),
    ("rfc5118/mult-ip-in-sdp.dat", Some(200), Some(200)),
    ("rfc5118/ipv4-mapped-ipv6.dat", Some(200), Some(200)),
    ("rfc5118/ipv6-bug-abnf-3-colons.dat", Some(400), Some(400)),
    (
        "rfc5118/ipv6-correct-abnf-2-colons.dat",
        Some(200),
        Some(200),
    ),
];

fn torture_file(name: &str) -> Vec<u8> {
    let path = format!("{}/../core/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn wait_for(expected: Option<u16>) -> Duration {
    // A reply comes within milliseconds; silence is waited for briefly.
    if expected.is_some() {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(300)
    }
}

fn check(
    transport: &str,
    exchange: impl Fn(SocketAddr, &[u8], Duration) -> Option<Vec<u8>>,
    tcp: bool,
) {
    let dir = TestDir::new(&format!("torture-{transport}"));
    let port = free_port();
    let cfg = dir.write("torture.cfg", &config(port));
    let mut server = Sipshard::start(&cfg, &[]);
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut wrong = Vec::new();
    for (file, udp, stream) in EXPECTED {
        let expected = if tcp { *stream } else { *udp };
        let got =
            exchange(target, &torture_file(file), wait_for(expected)).and_then(|r| status_of(&r));
        if got != expected {
            wrong.push(format!("{file}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(server.alive(), "sipshard exited");
    let ping = exchange(
        target,
        &options_to(target, "after-torture"),
        Duration::from_secs(3),
    );
    assert_eq!(
        ping.as_deref().and_then(status_of),
        Some(200),
        "server stopped answering"
    );
    assert!(
        wrong.is_empty(),
        "{transport}: {} verdict(s) wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_torture_message_has_a_listed_verdict() {
    let mut listed: Vec<&str> = EXPECTED.iter().map(|(f, _, _)| *f).collect();
    listed.sort();
    let mut on_disk = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        let dir = format!("{}/../core/tests/data/{sub}", env!("CARGO_MANIFEST_DIR"));
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".dat") {
                on_disk.push(format!("{sub}/{name}"));
            }
        }
    }
    on_disk.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn torture_over_udp() {
    check("udp", udp_exchange, false);
}

#[test]
fn torture_over_tcp() {
    check("tcp", tcp_exchange, true);
}
