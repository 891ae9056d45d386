//! Runs real SIP messages through compiled configs and checks the bytes
//! that leave (seed guide configs, REQINIT, replies, relaying).

#[path = "script_common.rs"]
mod common;

use common::*;
use sipshard_core::script::compile_file;

fn seed() -> sipshard_core::script::Config {
    compile_file(&cfg_path("seed_forward.cfg"), &[]).expect("seed config compiles")
}

#[test]
fn seed_forward_appends_header_and_adds_our_via() {
    let cfg = seed();
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099");
    assert_eq!(env.sent.len(), 1);
    let out = &env.sent[0];
    assert_eq!(out.dst, "192.168.1.110:5060".parse().unwrap());
    assert_eq!(out.local, LOCAL.parse().unwrap());
    let t = text(out);
    assert!(
        t.starts_with(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"
        ),
        "{t}"
    );
    let vias = headers(&t, "Via");
    assert_eq!(vias.len(), 2);
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;received=10.0.0.9;rport=5099"
    );
    assert_eq!(headers(&t, "X-Proxied"), vec!["You betcha"]);
    assert!(
        t.ends_with("X-Proxied: You betcha\r\nContent-Length: 0\r\n\r\n")
            || t.contains("X-Proxied: You betcha\r\n")
    );
    assert_eq!(
        env.logs[0].1,
        "Received INVITE to sip:bob@example.com - Forwarding"
    );
    assert_eq!(env.logs[0].0, -1, "xlog without level logs at L_ERR");
}

#[test]
fn stateless_branch_is_stable_and_shared_by_cancel() {
    let cfg = seed();
    let mut shard = cfg.program.new_shard_state();
    let a = run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099");
    let b = run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099");
    let cancel = invite()
        .replace("INVITE sip", "CANCEL sip")
        .replace("314159 INVITE", "314159 CANCEL");
    let c = run_request(&cfg, &mut shard, &cancel, "10.0.0.9:5099");
    let branch = |e: &FakeEnv| headers(&text(&e.sent[0]), "Via")[0].clone();
    assert_eq!(branch(&a), branch(&b));
    assert_eq!(branch(&a), branch(&c));
    let other = invite().replace("314159 INVITE", "314160 INVITE");
    let d = run_request(&cfg, &mut shard, &other, "10.0.0.9:5099");
    assert_ne!(branch(&a), branch(&d));
}

fn reply_404(top_via: &str) -> String {
    format!(
        "SIP/2.0 404 Not Found
Via: {top_via}
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;received=10.0.0.9;rport=5099
To: Bob <sip:bob@example.com>;tag=8321234356
From: Alice <sip:alice@example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Content-Length: 0

"
    )
}

#[test]
fn seed_onreply_route_sees_status_and_reply_is_relayed_by_via() {
    let cfg = seed();
    let mut shard = cfg.program.new_shard_state();
    let env = run_reply(
        &cfg,
        &mut shard,
        &reply_404("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc"),
        "192.168.1.110:5060",
    );
    let logs: Vec<&str> = env.logs.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(logs, vec!["Got a reply 404", "Got a 404 for <null>"]);
    assert_eq!(env.sent.len(), 1);
    let out = &env.sent[0];
    assert_eq!(
        out.dst,
        "10.0.0.9:5099".parse().unwrap(),
        "received and rport win"
    );
    let t = text(out);
    assert_eq!(headers(&t, "Via").len(), 1);
    assert!(!t.contains("127.0.0.1:5060;branch"));
    assert_eq!(headers(&t, "X-Proxied"), vec!["For the reply"]);
}

#[test]
fn reply_whose_top_via_is_not_ours_is_dropped() {
    let cfg = seed();
    let mut shard = cfg.program.new_shard_state();
    let env = run_reply(
        &cfg,
        &mut shard,
        &reply_404("SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKabc"),
        "192.168.1.110:5060",
    );
    assert!(env.sent.is_empty());
}

#[test]
fn drop_in_reply_route_stops_relaying() {
    let cfg = compile("listen=udp:127.0.0.1:5060\nreply_route { if (status == 404) drop; }\n");
    let mut shard = cfg.program.new_shard_state();
    let env = run_reply(
        &cfg,
        &mut shard,
        &reply_404("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa"),
        "1.1.1.1:5060",
    );
    assert!(env.sent.is_empty());
    let ok =
        reply_404("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa").replace("404 Not Found", "200 OK");
    let env = run_reply(&cfg, &mut shard, &ok, "1.1.1.1:5060");
    assert_eq!(env.sent.len(), 1);
}

fn reqinit() -> sipshard_core::script::Config {
    compile_file(&cfg_path("reqinit.cfg"), &[]).expect("reqinit config compiles")
}

#[test]
fn maxfwd_zero_gets_483_from_sl() {
    let cfg = reqinit();
    let mut shard = cfg.program.new_shard_state();
    let req = with_header(&invite(), "Max-Forwards", Some("0"));
    let env = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert_eq!(env.sent.len(), 1);
    let out = &env.sent[0];
    let t = text(out);
    assert!(t.starts_with("SIP/2.0 483 Too Many Hops\r\n"), "{t}");
    // force_rport(): reply to the source port, Via says so; as in
    // Kamailio the empty `rport` is filled in place, `received` appended.
    assert_eq!(out.dst, "10.0.0.9:5099".parse().unwrap());
    assert_eq!(
        headers(&t, "Via"),
        vec!["SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;rport=5099;received=10.0.0.9"]
    );
    let to = &headers(&t, "To")[0];
    let tag = to.split(";tag=").nth(1).expect("sl adds a To-tag");
    assert_eq!(tag.len(), 41);
    assert_eq!(&tag[32..33], ".");
    assert_eq!(
        headers(&t, "Call-ID"),
        vec!["a84b4c76e66710@pc33.example.com"]
    );
    assert_eq!(headers(&t, "CSeq"), vec!["314159 INVITE"]);
    assert_eq!(headers(&t, "Content-Length"), vec!["0"]);
    // Retransmission: same tag.
    let env2 = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert_eq!(text(&env2.sent[0]), t);
}

#[test]
fn maxfwd_decrements_adds_and_caps() {
    let cfg = reqinit();
    let mf = |req: &str| {
        let env = run_request(
            &cfg,
            &mut cfg.program.new_shard_state(),
            req,
            "10.0.0.9:5099",
        );
        let t = text(&env.sent[0]);
        assert_eq!(
            env.sent[0].dst,
            "10.0.0.2:5080".parse().unwrap(),
            "$du wins"
        );
        headers(&t, "Max-Forwards")
    };
    assert_eq!(mf(&invite()), vec!["69"]);
    assert_eq!(
        mf(&with_header(&invite(), "Max-Forwards", Some("100"))),
        vec!["70"]
    );
    assert_eq!(
        mf(&with_header(&invite(), "Max-Forwards", None)),
        vec!["10"]
    );
}

#[test]
fn sanity_failure_replies_with_kamailio_text() {
    let cfg = reqinit();
    let mut shard = cfg.program.new_shard_state();
    let bad = invite().replace("314159 INVITE", "314159 BYE");
    let env = run_request(&cfg, &mut shard, &bad, "10.0.0.9:5099");
    assert_eq!(env.sent.len(), 1, "replied, not forwarded (script exits)");
    assert!(
        text(&env.sent[0]).starts_with("SIP/2.0 400 CSeq method does not match request method\r\n")
    );
    assert!(env
        .logs
        .iter()
        .any(|l| l.1 == "Malformed SIP request from 10.0.0.9:5099"));
}

#[test]
fn scanner_user_agent_is_dropped_silently() {
    let cfg = reqinit();
    let mut shard = cfg.program.new_shard_state();
    let req = with_header(&invite(), "User-Agent", Some("friendly-scanner"));
    let env = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert!(env.sent.is_empty());
}

#[test]
fn uri_myself_through_alias() {
    let cfg = reqinit();
    let mut shard = cfg.program.new_shard_state();
    let req = invite()
        .replace(
            "INVITE sip:bob@example.com",
            "OPTIONS sip:keepalive@proxy.example.com",
        )
        .replace("314159 INVITE", "314159 OPTIONS");
    let env = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 200 Keepalive\r\n"));
    let req = req.replace("proxy.example.com", "127.0.0.1:5060");
    let env = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 200 Keepalive\r\n"));
    let req = req.replace("127.0.0.1:5060", "127.0.0.1:5070");
    let env = run_request(&cfg, &mut shard, &req, "10.0.0.9:5099");
    assert!(
        text(&env.sent[0]).starts_with("OPTIONS"),
        "other port is not myself"
    );
}

#[test]
fn request_without_relay_or_reply_is_dropped() {
    let cfg = compile("listen=udp:127.0.0.1:5060\nrequest_route { $var(x) = 1; }\n");
    let mut shard = cfg.program.new_shard_state();
    assert!(run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099")
        .sent
        .is_empty());
}

/// Rough cost of one request through a 10-statement stateless route
/// (measure with `--release`):
/// `cargo test --release -p sipshard-core --test script_run -- --ignored --nocapture route_cost`
#[test]
#[ignore]
fn route_cost() {
    let time = |route: &str| {
        let cfg = compile(&format!(
            "listen=udp:127.0.0.1:5060\nloadmodule \"textops.so\"\nloadmodule \"siputils.so\"\nloadmodule \"maxfwd.so\"\n\
             request_route {{\n{route}\n}}\n"
        ));
        let mut shard = cfg.program.new_shard_state();
        let inb = inbound("10.0.0.9:5099");
        let n = 20_000;
        let msgs: Vec<_> = (0..n).map(|_| msg(&invite())).collect();
        let mut env = FakeEnv::default();
        let start = std::time::Instant::now();
        for m in msgs {
            cfg.program.on_request(m, &inb, &mut env, &mut shard);
            env.sent.clear();
        }
        start.elapsed().as_nanos() / n as u128
    };
    let ten = " force_rport();\n if (!mf_process_maxfwd_header(\"10\")) exit;\n if (has_totag()) exit;\n\
         if (is_method(\"REGISTER|PUBLISH\")) exit;\n if ($ua =~ \"friendly|scanner\") exit;\n if (uri == myself) exit;\n\
         $var(n) = $var(n) + 1;\n setflag(1);\n append_hf(\"X-Proxied: yes\\r\\n\");";
    println!("route_cost: empty route {} ns", time(""));
    println!("route_cost: 10 statements {} ns", time(ten));
    println!(
        "route_cost: 10 statements + forward {} ns",
        time(&format!("{ten}\n forward(\"10.0.0.2\");"))
    );
}
