//! Return codes of every function and the language's statements, observed
//! through `xlog` lines and what is sent.

#[path = "script_common.rs"]
mod common;

use common::*;

const HEAD: &str = "listen=udp:127.0.0.1:5060\nloadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"xlog.so\"\n\
loadmodule \"siputils.so\"\nloadmodule \"maxfwd.so\"\nloadmodule \"kex.so\"\nloadmodule \"sanity.so\"\nloadmodule \"corex.so\"\n";

/// Runs `body` as request_route on `req`; returns the log lines and env.
fn run_body(body: &str, req: &str) -> (Vec<String>, FakeEnv) {
    let cfg = compile(&format!("{HEAD}request_route {{\n{body}\n}}\n"));
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, req, "10.0.0.9:5099");
    (env.logs.iter().map(|l| l.1.clone()).collect(), env)
}

fn rc_of(call: &str, req: &str) -> String {
    let (logs, _) = run_body(&format!("{call}; xinfo(\"$rc\");"), req);
    logs.last().cloned().unwrap_or_default()
}

fn body_req() -> String {
    invite().replace(
        "Content-Length: 0\n\n",
        "Content-Type: application/sdp;charset=x\nContent-Length: 5\n\nv=0\r\n",
    )
}

#[test]
fn textops_return_codes() {
    let inv = invite();
    assert_eq!(rc_of("is_method(\"INVITE|BYE\")", &inv), "1");
    assert_eq!(rc_of("is_method(\"BYE|FOO\")", &inv), "-1");
    assert_eq!(rc_of("is_present_hf(\"Contact\")", &inv), "1");
    assert_eq!(rc_of("is_present_hf(\"m\")", &inv), "1", "compact form");
    assert_eq!(rc_of("is_present_hf(\"X-None\")", &inv), "-1");
    assert_eq!(rc_of("remove_hf(\"Contact\")", &inv), "1");
    assert_eq!(rc_of("remove_hf(\"X-None\")", &inv), "-1");
    assert_eq!(
        rc_of("search(\"^call-id: a84b\")", &inv),
        "1",
        "case-insensitive, line anchors"
    );
    assert_eq!(rc_of("search(\"nothing here\")", &inv), "-1");
    assert_eq!(rc_of("subst('/alice/carol/g')", &inv), "1");
    assert_eq!(rc_of("subst('/zzz/y/')", &inv), "-1");
    assert_eq!(rc_of("has_body()", &inv), "-1");
    assert_eq!(rc_of("has_body()", &body_req()), "1");
    assert_eq!(rc_of("has_body(\"application/sdp\")", &body_req()), "1");
    assert_eq!(rc_of("has_body(\"text/plain\")", &body_req()), "-1");
    assert_eq!(rc_of("append_hf(\"X: 1\\r\\n\", \"X-None\")", &inv), "-1");
    assert_eq!(rc_of("insert_hf(\"X: 1\\r\\n\", \"X-None\")", &inv), "-1");
}

#[test]
fn header_edits_land_where_kamailio_puts_them() {
    let (_, env) = run_body(
        "remove_hf(\"Contact\"); if (is_present_hf(\"Contact\")) { xinfo(\"still\"); }\n\
         insert_hf(\"X-First: 1\\r\\n\"); append_hf(\"X-After-To: 2\\r\\n\", \"To\");\n\
         subst('/alice@example/carol@example/'); forward(\"10.0.0.2\");",
        &invite(),
    );
    let t = text(&env.sent[0]);
    assert!(headers(&t, "Contact").is_empty());
    let lines: Vec<&str> = t.split("\r\n").collect();
    assert!(
        lines[1].starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060"),
        "{t}"
    );
    assert_eq!(lines[2], "X-First: 1");
    let to = lines.iter().position(|l| l.starts_with("To:")).unwrap();
    assert_eq!(lines[to + 1], "X-After-To: 2");
    assert!(
        t.contains("From: Alice <sip:carol@example.com>;tag=1928301774"),
        "only the first match: {t}"
    );
    // lumps: the removed header is still visible to the script
    assert_eq!(env.logs[0].1, "still");
}

#[test]
fn flags_and_uri_rewriting() {
    let inv = invite();
    assert_eq!(rc_of("setflag(3); isflagset(3)", &inv), "1");
    assert_eq!(rc_of("setflag(3); resetflag(3); isflagset(3)", &inv), "-1");
    assert_eq!(rc_of("isflagset(64)", &inv), "-1");
    let (logs, env) = run_body(
        "rewriteuser(\"0049123\"); strip(2); prefix(\"+\"); sethost(\"10.0.0.7\"); xinfo(\"$ru $rU $rd $rp\"); forward();",
        &inv,
    );
    assert_eq!(logs[0], "sip:+49123@10.0.0.7 +49123 10.0.0.7 5060");
    assert!(text(&env.sent[0]).starts_with("INVITE sip:+49123@10.0.0.7 SIP/2.0\r\n"));
    assert_eq!(env.sent[0].dst, "10.0.0.7:5060".parse().unwrap());
    let (logs, _) = run_body(
        "seturi(\"sip:x@10.1.1.1:5070\"); xinfo(\"$ru|$ou|$oU\");",
        &inv,
    );
    assert_eq!(logs[0], "sip:x@10.1.1.1:5070|sip:bob@example.com|bob");
    assert_eq!(rc_of("seturi(\"not a uri\")", &inv), "-1");
}

#[test]
fn du_and_kex() {
    let inv = invite();
    assert_eq!(rc_of("isdsturiset()", &inv), "-1");
    assert_eq!(
        rc_of("setdsturi(\"sip:10.0.0.3:5090\"); isdsturiset()", &inv),
        "1"
    );
    assert_eq!(
        rc_of("$du = \"sip:10.0.0.3\"; resetdsturi(); isdsturiset()", &inv),
        "-1"
    );
    let (_, env) = run_body(
        "setdsturi(\"sip:10.0.0.3:5090;transport=tcp\"); forward();",
        &inv,
    );
    assert_eq!(env.sent[0].dst, "10.0.0.3:5090".parse().unwrap());
    assert_eq!(env.sent[0].proto, sipshard_core::transport::Transport::Tcp);
    assert!(text(&env.sent[0]).contains("Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK"));
}

#[test]
fn forward_variants_and_failures() {
    let inv = invite();
    let (_, env) = run_body("forward(\"10.0.0.5\", \"5090\");", &inv);
    assert_eq!(env.sent[0].dst, "10.0.0.5:5090".parse().unwrap());
    let (_, env) = run_body("forward_tcp(\"10.0.0.5\", 5090);", &inv);
    assert_eq!(env.sent[0].proto, sipshard_core::transport::Transport::Tcp);
    // example.com does not resolve in the fake env
    assert_eq!(rc_of("forward()", &inv), "-1");
    let (_, env) = run_body("add_local_rport(); forward(\"10.0.0.5\");", &inv);
    assert!(headers(&text(&env.sent[0]), "Via")[0].ends_with(";rport"));
}

#[test]
fn sl_functions() {
    let inv = invite();
    let (logs, env) = run_body("append_to_reply(\"X-Why: test\\r\\n\"); sl_send_reply(\"404\", \"Not here $rU\"); xinfo(\"$rc\");", &inv);
    let t = text(&env.sent[0]);
    assert!(t.starts_with("SIP/2.0 404 Not here bob\r\n"));
    assert_eq!(headers(&t, "X-Why"), vec!["test"]);
    assert_eq!(logs[0], "1");
    assert_eq!(rc_of("sl_send_reply(\"99\", \"x\")", &inv), "-1");
    let (_, env) = run_body("sl_reply_error();", &inv);
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 500 Internal Server Error\r\n"));
    let (_, env) = run_body(
        "$ru = \"sip:new@10.0.0.1\"; sl_send_reply(\"302\", \"Moved\");",
        &inv,
    );
    assert_eq!(
        headers(&text(&env.sent[0]), "Contact"),
        vec!["<sip:new@10.0.0.1>"]
    );
    let ack = inv
        .replace("INVITE sip", "ACK sip")
        .replace("314159 INVITE", "314159 ACK");
    let (_, env) = run_body("sl_send_reply(\"200\", \"OK\");", &ack);
    assert!(env.sent.is_empty(), "ACKs are never answered");
}

#[test]
fn siputils_and_corex() {
    let inv = invite();
    assert_eq!(rc_of("has_totag()", &inv), "-1");
    assert_eq!(
        rc_of(
            "has_totag()",
            &inv.replace(
                "To: Bob <sip:bob@example.com>",
                "To: <sip:bob@example.com>;tag=9"
            )
        ),
        "1"
    );
    assert_eq!(rc_of("is_first_hop()", &inv), "1");
    assert_eq!(rc_of("is_request()", &inv), "1");
    assert_eq!(rc_of("is_reply()", &inv), "-1");
    assert_eq!(rc_of("is_faked_msg()", &inv), "-1");
    assert_eq!(rc_of("force_rport()", &inv), "1");
    assert_eq!(rc_of("set_reply_no_connect()", &inv), "1");
}

#[test]
fn maxfwd_and_sanity_return_codes() {
    let inv = invite();
    assert_eq!(rc_of("mf_process_maxfwd_header(\"10\")", &inv), "1");
    assert_eq!(
        rc_of(
            "maxfwd_process(\"10\")",
            &with_header(&inv, "Max-Forwards", None)
        ),
        "2"
    );
    assert_eq!(
        rc_of(
            "process_maxfwd(10)",
            &with_header(&inv, "Max-Forwards", Some("0"))
        ),
        "-1"
    );
    assert_eq!(rc_of("mf_process_maxfwd_header(\"0\")", &inv), "-2");
    assert_eq!(rc_of("sanity_check()", &inv), "1");
    assert_eq!(rc_of("sanity_check(\"17895\", \"7\")", &inv), "1");
    // autodrop (module default 1): failure returns 0 and ends the script
    let bad = inv.replace("314159 INVITE", "314159 BYE");
    let (logs, env) = run_body(
        "sanity_check(\"17895\", \"7\"); xinfo(\"not reached\");",
        &bad,
    );
    assert!(logs.is_empty());
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 400 CSeq method does not match request method"));
    let mailto = inv.replace(
        "INVITE sip:bob@example.com",
        "INVITE mailto:bob@example.com",
    );
    let (_, env) = run_body("sanity_check(\"2\");", &mailto);
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 416 Unsupported URI Scheme in Request URI"));
}

#[test]
fn noreply_and_no_autodrop_modparams() {
    let cfg = compile(&format!(
        "{HEAD}modparam(\"sanity\", \"noreply\", 1)\nmodparam(\"sanity\", \"autodrop\", 0)\n\
         request_route {{ if (!sanity_check(\"32\")) {{ xinfo(\"bad $rc\"); }} }}\n"
    ));
    let mut shard = cfg.program.new_shard_state();
    let bad = invite().replace("314159 INVITE", "314159 BYE");
    let env = run_request(&cfg, &mut shard, &bad, "10.0.0.9:5099");
    assert!(env.sent.is_empty());
    assert_eq!(env.logs[0].1, "bad -1");
}

#[test]
fn xlog_levels() {
    let (_, env) = run_body(
        "xlog(\"a\"); xlog(\"L_INFO\", \"b\"); xlog(\"L_LOCAL0\", \"L_DBG\", \"c\\n\"); xdbg(\"d\"); xinfo(\"e\"); xnotice(\"f\"); \
         xwarn(\"g\"); xerr(\"h\"); xbug(\"i\"); xcrit(\"j\"); xalert(\"k\"); xlog(L_WARN, \"l\");",
        &invite(),
    );
    let got: Vec<(i32, &str)> = env.logs.iter().map(|(l, s)| (*l, s.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (-1, "a"),
            (2, "b"),
            (3, "c"),
            (3, "d"),
            (2, "e"),
            (1, "f"),
            (0, "g"),
            (-1, "h"),
            (-4, "i"),
            (-3, "j"),
            (-5, "k"),
            (0, "l")
        ]
    );
}

#[test]
fn statements_switch_while_return_and_vars() {
    let cfg = compile(&format!(
        "{HEAD}request_route {{\n\
           $var(n) = $var(n) + 1;\n\
           $avp(a) = \"x\"; $avp(a) = \"y\";\n\
           route(SUB); $var(r) = $retcode;\n\
           switch($var(r)) {{ case -2: xinfo(\"minus two\"); case 5: xinfo(\"fell\"); break; default: xinfo(\"no\"); }}\n\
           switch($rm) {{ case \"INVITE\": xinfo(\"inv\"); break; }}\n\
           $var(i) = 0; while ($var(i) < 3) {{ $var(i) = $var(i) + 1; }}\n\
           xinfo(\"n=$var(n) i=$var(i) avp=$avp(a) first=$(avp(a)[1]) len=$(ru{{s.len}}) user=$(fu{{uri.user}}{{s.toupper}})\");\n\
           if ($ua == $null && !defined $hdr(X-None) && $rs == $null) xinfo(\"nulls\");\n\
           if (src_ip == 10.0.0.0/8 && src_ip != myself && $si =~ \"^10\\.\" && $ci !~ \"^zz\") xinfo(\"net\");\n\
           $var(s) = \"sip:\" + $rU + \"@\" + $rd; xinfo(\"$var(s)\");\n\
         }}\n\
         route[SUB] {{ return -2; }}\n"
    ));
    let mut shard = cfg.program.new_shard_state();
    let env = run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099");
    let logs: Vec<&str> = env.logs.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(
        logs,
        vec![
            "minus two",
            "fell",
            "inv",
            "n=1 i=3 avp=y first=x len=19 user=ALICE",
            "nulls",
            "net",
            "sip:bob@example.com",
        ]
    );
    // $var persists per shard across messages; $avp does not.
    let env = run_request(&cfg, &mut shard, &invite(), "10.0.0.9:5099");
    assert!(env.logs[3].1.starts_with("n=2 "), "{:?}", env.logs);
}

#[test]
fn function_returning_zero_and_exit_in_sub_route_end_the_script() {
    let (logs, _) = run_body(
        "route(S); xinfo(\"after\");\n}\nroute[S] {\n exit;",
        &invite(),
    );
    assert!(logs.is_empty(), "{logs:?}");
    let (logs, _) = run_body(
        "if (route(T)) { xinfo(\"t\"); }\n}\nroute[T] {\n return 1;",
        &invite(),
    );
    assert_eq!(logs, vec!["t"]);
    let (logs, _) = run_body("drop; xinfo(\"x\");", &invite());
    assert!(logs.is_empty());
}

#[test]
fn sanity_proxy_require_gets_420_listing_the_extension() {
    let req = with_header(&invite(), "Proxy-Require", Some("foo-ext"));
    let (_, env) = run_body(
        "if (!sanity_check(\"512\")) { exit; }\nforward(\"10.0.0.2\");",
        &req,
    );
    assert_eq!(env.sent.len(), 1, "replied, not forwarded");
    let t = text(&env.sent[0]);
    assert!(
        t.starts_with("SIP/2.0 420 Bad Proxy Require Extension\r\n"),
        "{t}"
    );
    assert_eq!(headers(&t, "Unsupported"), vec!["foo-ext"]);
    // Without Proxy-Require the same check passes.
    let (_, env) = run_body(
        "if (!sanity_check(\"512\")) { exit; }\nforward(\"10.0.0.2\");",
        &invite(),
    );
    assert_eq!(env.sent.len(), 1);
    assert!(text(&env.sent[0]).starts_with("INVITE "));
}

#[test]
fn sanity_rejects_headers_in_the_request_uri() {
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI.
    let req = invite().replace(
        "INVITE sip:bob@example.com",
        "INVITE sip:bob@example.com?Route=%3Csip:example.com%3E",
    );
    let (_, env) = run_body(
        "if (!sanity_check(\"1024\", \"1\")) { exit; }\nforward(\"10.0.0.2\");",
        &req,
    );
    assert_eq!(env.sent.len(), 1, "replied, not forwarded");
    assert!(text(&env.sent[0]).starts_with("SIP/2.0 400 Bad Request URI\r\n"));
    let (_, env) = run_body(
        "if (!sanity_check(\"1024\", \"1\")) { exit; }\nforward(\"10.0.0.2\");",
        &invite(),
    );
    assert!(text(&env.sent[0]).starts_with("INVITE "));
}
