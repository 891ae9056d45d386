//! Module `rr`, double Record-Routing (`enable_double_rr`): two
//! Record-Routes with `;r2=on` when a request leaves on another transport
//! than it came in on (the outbound socket's on top), one otherwise, and
//! `loose_route()` removing both entries of such a pair.

#[path = "script_common.rs"]
mod common;

use common::*;
use sipshard_core::script::compile_str;

const HEAD: &str = "listen=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\nloadmodule \"xlog.so\"\n\
loadmodule \"rr.so\"\n";

const TO_TCP: &str = "record_route(); $du = \"sip:10.0.0.2:5070;transport=tcp\"; forward();";
const TO_UDP: &str = "record_route(); forward(\"10.0.0.2\", \"5070\");";

fn run(params: &str, body: &str, req: &str) -> (Vec<String>, FakeEnv) {
    let cfg = compile(&format!("{HEAD}{params}\nrequest_route {{\n{body}\n}}\n"));
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, req, "10.0.0.1:5062");
    (env.logs.iter().map(|l| l.1.clone()).collect(), env)
}

/// The Record-Route values of the one request sent.
fn record_routes(params: &str, body: &str) -> Vec<String> {
    let (logs, env) = run(params, body, &invite());
    assert_eq!(env.sent.len(), 1, "{logs:?}");
    headers(&text(&env.sent[0]), "Record-Route")
}

#[test]
fn udp_in_tcp_out_gets_two_with_the_outbound_one_on_top() {
    let (logs, env) = run("", TO_TCP, &invite());
    assert_eq!(env.sent.len(), 1, "{logs:?}");
    let out = text(&env.sent[0]);
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        lines[1],
        "Record-Route: <sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=1928301774>"
    );
    assert_eq!(
        lines[2],
        "Record-Route: <sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774>"
    );
    assert!(lines[3].starts_with("Via: SIP/2.0/TCP 127.0.0.1:5060;branch="));
}

#[test]
fn same_socket_gets_one_and_params_go_on_both() {
    assert_eq!(
        record_routes("", TO_UDP),
        vec!["<sip:127.0.0.1:5060;lr;ftag=1928301774>"]
    );
    assert_eq!(
        record_routes(
            "",
            &TO_TCP.replace("record_route()", "record_route(\";x=y\")")
        ),
        vec![
            "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=1928301774;x=y>",
            "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774;x=y>"
        ]
    );
}

#[test]
fn modparam_zero_is_one_and_two_is_always_two() {
    assert_eq!(
        record_routes("modparam(\"rr\", \"enable_double_rr\", 0)", TO_TCP),
        vec!["<sip:127.0.0.1:5060;lr;ftag=1928301774>"]
    );
    assert_eq!(
        record_routes("modparam(\"rr\", \"enable_double_rr\", 2)", TO_UDP),
        vec![
            "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774>",
            "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774>"
        ]
    );
    let bad =
        format!("{HEAD}modparam(\"rr\", \"enable_double_rr\", 3)\nrequest_route {{ drop; }}\n");
    let Err(err) = compile_str("t.cfg", &bad, &[]) else {
        panic!("3 is refused");
    };
    assert!(
        err.iter()
            .any(|d| d.to_string().contains("enable_double_rr")),
        "{err:?}"
    );
}

/// An in-dialog BYE from the caller with `routes`.
fn in_dialog(routes: &[&str]) -> String {
    in_dialog_bye(routes, true)
}

const TCP_SIDE: &str = "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=1928301774>";
const UDP_SIDE: &str = "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774>";

#[test]
fn loose_route_removes_both_entries_of_the_pair() {
    let one_header = format!("{TCP_SIDE}, {UDP_SIDE}");
    let reversed = format!("{UDP_SIDE}, {TCP_SIDE}");
    for routes in [
        vec![one_header.as_str()],
        vec![reversed.as_str()],
        vec![TCP_SIDE, UDP_SIDE],
    ] {
        let (logs, env) = run(
            "",
            "if (loose_route()) { xinfo(\"lr $du\"); forward(); }",
            &in_dialog(&routes),
        );
        assert_eq!(logs, vec!["lr <null>"], "{routes:?}");
        let out = text(&env.sent[0]);
        assert!(headers(&out, "Route").is_empty(), "{routes:?}: {out}");
        assert_eq!(env.sent[0].dst, "10.0.0.2:5070".parse().unwrap());
    }
}

#[test]
fn loose_route_after_the_pair_follows_the_next_hop() {
    for routes in [
        vec![TCP_SIDE, UDP_SIDE, "<sip:10.0.0.7:5080;lr>"],
        vec![TCP_SIDE, &format!("{UDP_SIDE}, <sip:10.0.0.7:5080;lr>")],
    ] {
        let (logs, env) = run(
            "",
            "if (loose_route()) { xinfo(\"$du\"); forward(); }",
            &in_dialog(&routes),
        );
        assert_eq!(logs, vec!["sip:10.0.0.7:5080;lr"], "{routes:?}");
        let out = text(&env.sent[0]);
        assert_eq!(headers(&out, "Route"), vec!["<sip:10.0.0.7:5080;lr>"]);
    }
    // Without `;r2` only the top entry is ours to remove.
    let (logs, _) = run(
        "",
        "if (loose_route()) { xinfo(\"$du\"); }",
        &in_dialog(&["<sip:127.0.0.1:5060;lr>", "<sip:127.0.0.1:5060;lr;x=1>"]),
    );
    assert_eq!(logs, vec!["sip:127.0.0.1:5060;lr;x=1"]);
}
