//! tm script state on the wire, side by side with Kamailio 5.6: sipp uac
//! → proxy → sipp uas (or a silent socket), the same config text run by
//! sipshard and by kamailio, the same assertions on what crosses the wire
//! (final status line and headers the caller gets, checked by sipp's
//! regexp actions; which callee got the call and what it saw).
//!
//! - `t_branch_timeout()` / `t_branch_replied()` and `$T_rpl(..)` null
//!   after a local timeout (Timer B without reply, Timer C after a 180),
//!   `$avp` from request_route in failure_route;
//! - `$T_rpl($rs)`, `$T_rpl($rr)`, `$T_rpl($hdr(..))` of a 486 with and
//!   without a 180 before it;
//! - serial failover over a destination list kept in `$avp`;
//! - onreply_route appending a header built from `$T_req($hdr(..))`.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::side_by_side::*;
use common::*;

const HOST: &str = "127.0.0.1";

/// The config both servers run: OPTIONS answered (start-up probe),
/// ACKs of our transactions absorbed, others dropped; INVITEs go through
/// `request`, then `t_relay()`.
fn config(port: u16, request: &str, routes: &str) -> String {
    format!(
        r#"#!KAMAILIO
debug=1
children=1
listen=udp:{HOST}:{port}
loadmodule "pv.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "xlog.so"
request_route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply("200", "alive");
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    {request}
    t_relay();
}}
{routes}
"#
    )
}

/// sipp's regexp goes inside an XML attribute.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One call from the caller; true when the final was `code` and its text
/// matched `regexp`.
fn call(dir: &TestDir, name: &str, proxy: u16, code: u16, regexp: &str) -> SippResult {
    let template = std::fs::read_to_string(scenario("uac_expect_final.xml")).unwrap();
    let sf = dir.write(
        &format!("{name}.xml"),
        &template
            .replace("[expect_code]", &code.to_string())
            .replace("[expect_regexp]", &xml_escape(regexp)),
    );
    let args: Vec<String> = [
        "-sf",
        sf.to_str().unwrap(),
        &format!("{HOST}:{proxy}"),
        "-s",
        "service",
        "-i",
        HOST,
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_sipp(dir, name, &args, Duration::from_secs(20))
}

/// How a callee answers.
struct Answer<'a> {
    ringing: bool,
    code: u16,
    reason: &'a str,
    header: &'a str,
    /// The INVITE it gets must match this.
    invite_regexp: &'a str,
}

const RINGING: &str = r#"<send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>"#;

/// A callee on `port` taking one call as `a` says, in the background;
/// join for its result.
fn callee(
    dir: &TestDir,
    name: &str,
    port: u16,
    a: &Answer<'_>,
) -> std::thread::JoinHandle<SippResult> {
    let template = std::fs::read_to_string(scenario("uas_answer.xml")).unwrap();
    let text = template
        .replace("[invite_regexp]", &xml_escape(a.invite_regexp))
        .replace("[ringing]", if a.ringing { RINGING } else { "" })
        .replace("[code]", &a.code.to_string())
        .replace("[reason]", a.reason)
        .replace("[extra_header]", a.header)
        .replace(
            "[ack]",
            if a.code >= 300 {
                "<recv request=\"ACK\"/>"
            } else {
                ""
            },
        );
    let sf = dir.write(&format!("{name}.xml"), &text);
    run_callee(dir, name, port, &sf)
}

/// A callee on `port` running scenario file `sf` for one call, in the
/// background; join for its result.
fn run_callee(
    dir: &TestDir,
    name: &str,
    port: u16,
    sf: &std::path::Path,
) -> std::thread::JoinHandle<SippResult> {
    let args: Vec<String> = [
        "-sf",
        sf.to_str().unwrap(),
        "-i",
        HOST,
        "-p",
        &port.to_string(),
        "-m",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The test's TestDir removes the directory; this copy must not.
    let dir = std::mem::ManuallyDrop::new(TestDir(dir.0.clone()));
    let name = name.to_string();
    let h = std::thread::spawn(move || run_sipp(&dir, &name, &args, Duration::from_secs(20)));
    // Give it time to bind.
    std::thread::sleep(Duration::from_millis(300));
    h
}

/// A callee that answers the INVITE matching `invite_regexp` with a final
/// `code` at once (no 180).
fn final_answer<'a>(code: u16, reason: &'a str, invite_regexp: &'a str) -> Answer<'a> {
    Answer {
        ringing: false,
        code,
        reason,
        header: "X-Reason: none",
        invite_regexp,
    }
}

fn assert_one_call(who: &str, server: Server, r: &SippResult) {
    assert_eq!(
        (r.successful, r.failed),
        (1, 0),
        "{server:?}: {who} did not complete its one call as expected: {r:?}"
    );
}

const FAILURE_FLAGS: &str = r#"
failure_route[F] {
    if (t_is_canceled()) {
        exit;
    }
    if (t_branch_timeout()) { $var(m) = "timeout"; } else { $var(m) = "answer"; }
    if (t_branch_replied()) { $var(m) = $var(m) + " replied"; } else { $var(m) = $var(m) + " silent"; }
    $var(m) = $var(m) + " by " + $avp(who);
    if ($T_rpl($rs) == $null) {
        $var(m) = $var(m) + " rpl=none";
    } else {
        $var(m) = $var(m) + " rpl=" + $T_rpl($rs) + "/" + $T_rpl($rr) + "/" + $T_rpl($hdr(X-Reason));
    }
    if ($T_req($hdr(X-Caller)) == $null) {
        $var(m) = $var(m) + " req=none";
    }
    t_reply("486", "$var(m)");
}
"#;

fn failure_request(dst: u16) -> String {
    format!(
        "$avp(who) = \"carol\";\n    $du = \"sip:{HOST}:{dst}\";\n    t_set_fr(0, 1000);\n    t_on_failure(\"F\");"
    )
}

/// The callee never answers: Timer B (`t_set_fr(0, 1000)`) ends the
/// branch. failure_route sees a timeout, no reply, `$T_rpl` null (a local
/// 408) and `$T_req` null (not an onreply route), and the `$avp` set before
/// `t_relay()`; the caller gets its `t_reply` text.
#[test]
fn failure_route_after_a_timeout_without_reply() {
    on_each_server("routes-timeout", |server, dir| {
        let proxy = free_port();
        // A callee that never answers: a socket nobody reads.
        let sink = UdpSocket::bind((HOST, 0)).unwrap();
        let silent = sink.local_addr().unwrap().port();
        let cfg = config(proxy, &failure_request(silent), FAILURE_FLAGS);
        let mut p = start(server, dir, proxy, &cfg);
        let r = call(
            dir,
            "uac",
            proxy,
            486,
            "^SIP/2.0 486 timeout silent by carol rpl=none req=none[[:space:]]",
        );
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
        drop(sink);
    });
}

/// The callee answers from another port than the one the INVITE reached
/// (an SBC with separate receive and send sockets): in failure_route,
/// `$T_rpl($si)` and `$T_rpl($sp)` are where the reply came from, not
/// where the branch was sent.
#[test]
fn failure_route_reads_where_the_reply_came_from() {
    on_each_server("routes-reply-src", |server, dir| {
        let proxy = free_port();
        let inbox = UdpSocket::bind((HOST, 0)).unwrap();
        let outbox = UdpSocket::bind((HOST, 0)).unwrap();
        let (a, c) = (
            inbox.local_addr().unwrap().port(),
            outbox.local_addr().unwrap().port(),
        );
        let request = format!("$du = \"sip:{HOST}:{a}\";\n    t_on_failure(\"F\");");
        let routes = r#"
failure_route[F] {
    if (t_is_canceled()) {
        exit;
    }
    $var(m) = "from " + $T_rpl($si) + ":" + $T_rpl($sp);
    t_reply("486", "$var(m)");
}
"#;
        let cfg = config(proxy, &request, routes);
        let mut p = start(server, dir, proxy, &cfg);
        let answering = std::thread::spawn(move || busy_from_another_port(&inbox, &outbox));
        let r = call(
            dir,
            "uac",
            proxy,
            486,
            &format!("^SIP/2.0 486 from {HOST}:{c}[[:space:]]"),
        );
        assert!(
            answering.join().unwrap(),
            "{server:?}: the callee got no INVITE"
        );
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
    });
}

/// Waits for an INVITE on `inbox` and answers it 486 from `outbox`;
/// false if none came.
fn busy_from_another_port(inbox: &UdpSocket, outbox: &UdpSocket) -> bool {
    inbox
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while let Ok((n, from)) = inbox.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("INVITE ") {
            continue;
        }
        let mut reply = String::from("SIP/2.0 486 Busy Here\r\n");
        for line in text.split("\r\n").take_while(|l| !l.is_empty()) {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match name.as_str() {
                "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                    reply += &format!("{line}\r\n")
                }
                "to" | "t" => reply += &format!("{line};tag=busy\r\n"),
                _ => {}
            }
        }
        reply += "Content-Length: 0\r\n\r\n";
        outbox.send_to(reply.as_bytes(), from).unwrap();
        return true;
    }
    false
}

/// The callee rings and never answers: Timer C (`fr_inv_timer`, here
/// `t_set_fr(1500, 1000)`) cancels the branch (the callee must get the
/// CANCEL, answer 487 and get the ACK) and failure_route sees a timeout on
/// a branch that had replied (the 180), `$T_rpl` null (a local 408).
#[test]
fn failure_route_after_timer_c_sees_a_timeout_of_a_replied_branch() {
    on_each_server("routes-timer-c", |server, dir| {
        let (proxy, uas) = (free_port(), free_port());
        let request = failure_request(uas).replace("t_set_fr(0, 1000)", "t_set_fr(1500, 1000)");
        let cfg = config(proxy, &request, FAILURE_FLAGS);
        let mut p = start(server, dir, proxy, &cfg);
        let c = run_callee(
            dir,
            "uas",
            uas,
            std::path::Path::new(&scenario("uas_cancel.xml")),
        );
        let r = call(
            dir,
            "uac",
            proxy,
            486,
            "^SIP/2.0 486 timeout replied by carol rpl=none req=none[[:space:]]",
        );
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
        assert_one_call("the callee (cancelled)", server, &c.join().unwrap());
    });
}

/// The callee answers 486 with `X-Reason`, after a 180 or straight away.
/// `$T_rpl(..)` reads that 486 in failure_route; not a timeout;
/// `t_branch_replied()` is true only with the 180 before it (Kamailio
/// marks the branch after handling the reply that ends it).
#[test]
fn failure_route_reads_the_reply_with_t_rpl() {
    if !have_sipp() || !have_kamailio() {
        return;
    }
    let _one = serial();
    for server in SERVERS {
        for ringing in [true, false] {
            let dir = TestDir::new(&format!("routes-rpl-{server:?}-{ringing}"));
            let (proxy, uas) = (free_port(), free_port());
            let cfg = config(proxy, &failure_request(uas), FAILURE_FLAGS);
            let mut p = start(server, &dir, proxy, &cfg);
            let c = callee(
                &dir,
                "uas",
                uas,
                &Answer {
                    ringing,
                    code: 486,
                    reason: "Busy Here",
                    header: "X-Reason: on the phone",
                    invite_regexp: "X-Caller: carol",
                },
            );
            let flag = if ringing { "replied" } else { "silent" };
            let r = call(
                &dir,
                "uac",
                proxy,
                486,
                &format!(
                    "^SIP/2.0 486 answer {flag} by carol rpl=486/Busy Here/on the phone req=none[[:space:]]"
                ),
            );
            assert!(p.alive(), "{server:?} exited");
            assert_one_call("the caller", server, &r);
            assert_one_call("the callee", server, &c.join().unwrap());
        }
    }
}

/// Serial failover: the first callee answers 503, the next one (from the
/// `$avp(dst)` list, newest first) 486, the last 200. Each failure_route
/// pops the next destination with `$avp(dst) = $null` and records the
/// failed code in `$avp(tried)`; the last branch carries `X-Tried` with
/// every code (`$(avp(tried)[*])`, newest first). The caller gets the 200.
#[test]
fn serial_failover_over_an_avp_list() {
    on_each_server("routes-serial", |server, dir| {
        let (proxy, a, b, c) = (free_port(), free_port(), free_port(), free_port());
        let request = format!(
            "$avp(dst) = \"sip:{HOST}:{c}\";\n    $avp(dst) = \"sip:{HOST}:{b}\";\n    $du = \"sip:{HOST}:{a}\";\n    t_on_failure(\"NEXT\");"
        );
        let routes = r#"
failure_route[NEXT] {
    if (t_is_canceled()) {
        exit;
    }
    if ($avp(dst) != $null) {
        $avp(tried) = $T_rpl($rs);
        $du = $avp(dst);
        $avp(dst) = $null;
        if ($avp(dst) == $null) {
            append_hf("X-Tried: $(avp(tried)[*])\r\n");
        }
        t_on_failure("NEXT");
        t_relay();
        exit;
    }
}
"#;
        let cfg = config(proxy, &request, routes);
        let mut p = start(server, dir, proxy, &cfg);
        let ua = callee(
            dir,
            "uas-a",
            a,
            &final_answer(503, "Service Unavailable", "X-Caller: carol"),
        );
        let ub = callee(
            dir,
            "uas-b",
            b,
            &final_answer(486, "Busy Here", "X-Caller: carol"),
        );
        let uc = callee(
            dir,
            "uas-c",
            c,
            &final_answer(200, "OK", "X-Tried: 486, 503[[:space:]]"),
        );
        let r = call(dir, "uac", proxy, 200, "^SIP/2.0 200 OK[[:space:]]");
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
        assert_one_call("callee a (503)", server, &ua.join().unwrap());
        assert_one_call("callee b (486)", server, &ub.join().unwrap());
        assert_one_call("callee c (200)", server, &uc.join().unwrap());
    });
}

/// Header edits request_route makes before `t_relay()` reach the branch
/// failure_route adds (Kamailio keeps the request's lumps with the
/// transaction): the second callee's INVITE must carry `X-Edited`
/// exactly once, on both servers.
#[test]
fn failover_branch_carries_request_route_header_edits() {
    on_each_server("routes-lumps", |server, dir| {
        let (proxy, a, b) = (free_port(), free_port(), free_port());
        let request = format!(
            "append_hf(\"X-Edited: yes\\r\\n\");\n    $du = \"sip:{HOST}:{a}\";\n    t_on_failure(\"NEXT\");"
        );
        let routes = format!(
            r#"
failure_route[NEXT] {{
    if (t_is_canceled()) {{
        exit;
    }}
    $du = "sip:{HOST}:{b}";
    t_relay();
}}
"#
        );
        let cfg = config(proxy, &request, &routes);
        let mut p = start(server, dir, proxy, &cfg);
        let edited = "X-Edited: yes[[:space:]]";
        let ua = callee(
            dir,
            "uas-a",
            a,
            &final_answer(503, "Service Unavailable", edited),
        );
        let once = "^([^X]|X[^-]|X-[^E])*X-Edited: yes[[:space:]]+([^X]|X[^-]|X-[^E])*$";
        let ub = callee(dir, "uas-b", b, &final_answer(200, "OK", once));
        let r = call(dir, "uac", proxy, 200, "^SIP/2.0 200 OK[[:space:]]");
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
        assert_one_call("callee a (503)", server, &ua.join().unwrap());
        assert_one_call("callee b (200, edited INVITE)", server, &ub.join().unwrap());
    });
}

/// onreply_route armed with `t_on_reply`: it appends `X-For` built from
/// `$T_req($hdr(X-Caller))` and `$T_req($rU)` (the request's), `$avp`
/// from request_route, and `$T_rpl` (null there) to the 180 and the 200
/// the caller receives.
#[test]
fn onreply_route_appends_a_header_from_t_req() {
    on_each_server("routes-onreply", |server, dir| {
        let (proxy, uas) = (free_port(), free_port());
        let request =
            format!("$avp(tag) = \"t1\";\n    $du = \"sip:{HOST}:{uas}\";\n    t_on_reply(\"R\");");
        let routes = r#"
onreply_route[R] {
    append_hf("X-For: $T_req($hdr(X-Caller)) $T_req($rU) $avp(tag) $rs rpl=$T_rpl($rs)\r\n");
}
"#;
        let cfg = config(proxy, &request, routes);
        let mut p = start(server, dir, proxy, &cfg);
        let c = callee(
            dir,
            "uas",
            uas,
            &Answer {
                ringing: true,
                code: 200,
                reason: "OK",
                header: "X-Reason: none",
                invite_regexp: "X-Caller: carol",
            },
        );
        let r = call(
            dir,
            "uac",
            proxy,
            200,
            "^SIP/2.0 200 OK[[:space:]].*X-For: carol service t1 200 rpl=<null>[[:space:]]",
        );
        assert!(p.alive(), "{server:?} exited");
        assert_one_call("the caller", server, &r);
        assert_one_call("the callee", server, &c.join().unwrap());
    });
}

/// `t_reply`'s reason as Kamailio reads it: text that does not start with
/// a pseudo-variable goes out as written (`$avp(who)` not expanded), one
/// that does is that pseudo-variable alone.
#[test]
fn t_reply_reason_is_a_leading_pv_or_literal_text() {
    if !have_sipp() || !have_kamailio() {
        return;
    }
    let _one = serial();
    for server in SERVERS {
        for (reason, want) in [
            (
                "Timeout by $avp(who)",
                r"^SIP/2.0 408 Timeout by \$avp\(who\)[[:space:]]",
            ),
            ("$avp(who) and more", "^SIP/2.0 408 carol[[:space:]]"),
        ] {
            let dir = TestDir::new(&format!("routes-reason-{server:?}"));
            let proxy = free_port();
            let request = format!(
                "$avp(who) = \"carol\";\n    t_newtran();\n    t_reply(\"408\", \"{reason}\");\n    exit;"
            );
            let cfg = config(proxy, &request, "");
            let mut p = start(server, &dir, proxy, &cfg);
            let r = call(&dir, "uac", proxy, 408, want);
            assert!(p.alive(), "{server:?} exited");
            assert_one_call("the caller", server, &r);
        }
    }
}
