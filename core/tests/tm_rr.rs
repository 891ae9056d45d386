//! Module `rr` through the script: Record-Route format and position,
//! `loose_route()` return codes and what it does to Route / `$du`.

#[path = "script_common.rs"]
mod common;

use common::*;

const HEAD: &str = "listen=udp:127.0.0.1:5060\nloadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"xlog.so\"\n\
loadmodule \"siputils.so\"\nloadmodule \"rr.so\"\n";

fn run(params: &str, body: &str, req: &str) -> (Vec<String>, FakeEnv) {
    let cfg = compile(&format!("{HEAD}{params}\nrequest_route {{\n{body}\n}}\n"));
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, req, "10.0.0.1:5062");
    (env.logs.iter().map(|l| l.1.clone()).collect(), env)
}

/// An in-dialog BYE from the caller with `routes`.
fn in_dialog(routes: &[&str]) -> String {
    in_dialog_bye(routes, true)
}

#[test]
fn record_route_is_the_first_line_with_lr_and_ftag() {
    let (logs, env) = run(
        "",
        "record_route(); forward(\"10.0.0.2\", \"5070\");",
        &invite(),
    );
    assert_eq!(env.sent.len(), 1, "{logs:?}");
    let out = text(&env.sent[0]);
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        lines[1],
        "Record-Route: <sip:127.0.0.1:5060;lr;ftag=1928301774>"
    );
    assert!(lines[2].starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060;branch="));
    assert!(lines[3].starts_with("Via: SIP/2.0/UDP 10.0.0.1:5062;"));
}

#[test]
fn record_route_params_and_append_fromtag_off() {
    let (_, env) = run(
        "modparam(\"rr\", \"append_fromtag\", 0)",
        "record_route(\";nat=yes\"); forward(\"10.0.0.2\", \"5070\");",
        &invite(),
    );
    assert_eq!(
        headers(&text(&env.sent[0]), "Record-Route"),
        vec!["<sip:127.0.0.1:5060;lr;nat=yes>"]
    );
    let (logs, env) = run(
        "",
        "record_route(); record_route(); xinfo(\"$rc\"); forward(\"10.0.0.2\", \"5070\");",
        &invite(),
    );
    assert_eq!(
        logs.last().map(String::as_str),
        Some("-1"),
        "twice is refused"
    );
    assert_eq!(headers(&text(&env.sent[0]), "Record-Route").len(), 1);
}

#[test]
fn record_route_preset_one_and_two() {
    let (_, env) = run(
        "",
        "record_route_preset(\"192.0.2.1:5090\", \"sip:198.51.100.1:5090\"); forward(\"10.0.0.2\", \"5070\");",
        &invite(),
    );
    assert_eq!(
        headers(&text(&env.sent[0]), "Record-Route"),
        vec![
            "<sip:192.0.2.1:5090;lr;ftag=1928301774>",
            "<sip:198.51.100.1:5090;lr;ftag=1928301774>"
        ]
    );
}

#[test]
fn loose_route_without_route_is_false() {
    let (logs, _) = run("", "loose_route(); xinfo(\"$rc\");", &in_dialog(&[]));
    assert_eq!(logs, vec!["-1"]);
}

#[test]
fn loose_route_removes_our_route_and_follows_the_ruri() {
    let (logs, env) = run(
        "",
        "if (loose_route()) { xinfo(\"lr $du\"); forward(); }",
        &in_dialog(&["<sip:127.0.0.1:5060;lr;ftag=1928301774>"]),
    );
    assert_eq!(logs, vec!["lr <null>"]);
    let out = text(&env.sent[0]);
    assert!(headers(&out, "Route").is_empty(), "{out}");
    assert_eq!(env.sent[0].dst, "10.0.0.2:5070".parse().unwrap());
}

#[test]
fn loose_route_sets_du_to_the_next_route() {
    // Two Route headers, and two values in one header.
    for routes in [
        vec!["<sip:127.0.0.1;lr>", "<sip:10.0.0.7:5080;lr>"],
        vec!["<sip:127.0.0.1;lr>, <sip:10.0.0.7:5080;lr>"],
    ] {
        let (logs, env) = run(
            "",
            "if (loose_route()) { xinfo(\"$du\"); forward(); }",
            &in_dialog(&routes),
        );
        assert_eq!(logs, vec!["sip:10.0.0.7:5080;lr"], "{routes:?}");
        let out = text(&env.sent[0]);
        assert_eq!(headers(&out, "Route"), vec!["<sip:10.0.0.7:5080;lr>"]);
        assert_eq!(env.sent[0].dst, "10.0.0.7:5080".parse().unwrap());
    }
}

#[test]
fn loose_route_follows_a_foreign_top_route() {
    let (logs, _) = run(
        "",
        "loose_route(); xinfo(\"$rc $du\");",
        &in_dialog(&["<sip:10.9.9.9;lr>"]),
    );
    assert_eq!(logs, vec!["1 sip:10.9.9.9;lr"]);
}

#[test]
fn initial_request_routed_only_to_us_is_not_route_driven() {
    let inv = invite().replacen(
        "Max-Forwards",
        "Route: <sip:127.0.0.1:5060;lr>\nMax-Forwards",
        1,
    );
    let (logs, env) = run(
        "",
        "loose_route(); xinfo(\"$rc\"); forward(\"10.0.0.2\", \"5070\");",
        &inv,
    );
    assert_eq!(logs, vec!["-1"]);
    assert!(
        headers(&text(&env.sent[0]), "Route").is_empty(),
        "our Route is removed"
    );
}
