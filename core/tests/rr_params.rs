//! Module `rr`: `add_rr_param()` on our Record-Route(s), and on in-dialog
//! requests `check_route_param()` / `is_direction()` reading our Route
//! entry (Kamailio 5.6's answers, before and after `loose_route()`).

#[path = "script_common.rs"]
mod common;

use common::*;

const HEAD: &str = "listen=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\nloadmodule \"xlog.so\"\n\
loadmodule \"rr.so\"\n";

fn run(body: &str, req: &str) -> (Vec<String>, FakeEnv) {
    let cfg = compile(&format!("{HEAD}\nrequest_route {{\n{body}\n}}\n"));
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, req, "10.0.0.1:5062");
    (env.logs.iter().map(|l| l.1.clone()).collect(), env)
}

fn record_routes(body: &str) -> Vec<String> {
    let (logs, env) = run(body, &invite());
    assert_eq!(env.sent.len(), 1, "{logs:?}");
    headers(&text(&env.sent[0]), "Record-Route")
}

#[test]
fn add_rr_param_before_or_after_record_route() {
    assert_eq!(
        record_routes(
            "add_rr_param(\";p=v\"); record_route(\";x=y\"); forward(\"10.0.0.2\", \"5070\");"
        ),
        vec!["<sip:127.0.0.1:5060;lr;ftag=1928301774;x=y;p=v>"]
    );
    assert_eq!(
        record_routes("record_route(); add_rr_param(\";p=v\"); add_rr_param(\"q=1\"); forward(\"10.0.0.2\", \"5070\");"),
        vec!["<sip:127.0.0.1:5060;lr;ftag=1928301774;p=v;q=1>"]
    );
    assert_eq!(
        record_routes("record_route(); add_rr_param(\";p=v\"); $du = \"sip:10.0.0.2:5070;transport=tcp\"; forward();"),
        vec![
            "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=1928301774;p=v>",
            "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774;p=v>"
        ]
    );
    let (logs, _) = run("add_rr_param(\"\"); xinfo(\"$rc\");", &invite());
    assert_eq!(logs.last().map(String::as_str), Some("-1"));
}

/// An in-dialog BYE with `routes`, from the caller (From tag = the
/// dialog's ftag) or from the callee.
fn bye(routes: &[&str], from_caller: bool) -> String {
    in_dialog_bye(routes, from_caller)
}

const OURS: &str = "<sip:127.0.0.1:5060;lr;ftag=1928301774;p=v>";

const CHECKS: &str = "if (check_route_param(\"p=v\")) { $var(m) = \"p\"; } else { $var(m) = \"-\"; }
if (check_route_param(\"^;lr;ftag=[0-9]+;p=v\")) { $var(m) = $var(m) + \"P\"; } else { $var(m) = $var(m) + \"-\"; }
if (check_route_param(\"p=w\")) { $var(m) = $var(m) + \"w\"; } else { $var(m) = $var(m) + \"-\"; }
if (is_direction(\"downstream\")) { $var(m) = $var(m) + \" down\"; }
if (is_direction(\"upstream\")) { $var(m) = $var(m) + \" up\"; }
xinfo(\"$var(m)\");";

fn checks(req: &str) -> Vec<String> {
    run(&format!("{CHECKS}\nloose_route();\n{CHECKS}"), req).0
}

#[test]
fn check_route_param_and_is_direction_read_our_route() {
    assert_eq!(checks(&bye(&[OURS], true)), vec!["pP- down", "pP- down"]);
    assert_eq!(checks(&bye(&[OURS], false)), vec!["pP- up", "pP- up"]);
    // Both entries of a double Record-Route pair, either way round.
    let pair = [
        "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=1928301774;p=v>",
        "<sip:127.0.0.1:5060;r2=on;lr;ftag=1928301774;p=v>",
    ];
    assert_eq!(checks(&bye(&pair, false)), vec!["p-- up", "p-- up"]);
    // Not ours, no Route, no ftag: no parameters to match, and downstream.
    assert_eq!(
        checks(&bye(&["<sip:10.9.9.9;lr;ftag=x;p=v>"], false)),
        vec!["--- down", "--- down"]
    );
    assert_eq!(checks(&bye(&[], false)), vec!["--- down", "--- down"]);
    assert_eq!(
        checks(&bye(&["<sip:127.0.0.1:5060;lr;p=v>"], false)),
        vec!["p-- down", "p-- down"]
    );
}

#[test]
fn is_direction_refuses_other_words() {
    let (logs, _) = run(
        "is_direction(\"sideways\"); xinfo(\"$rc\");",
        &bye(&[OURS], true),
    );
    assert_eq!(logs.last().map(String::as_str), Some("-1"), "{logs:?}");
}
