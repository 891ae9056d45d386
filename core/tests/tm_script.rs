//! The tm script state Kamailio keeps with a transaction, through a fake
//! runtime with a real table and fake time: `t_branch_timeout()`,
//! `t_branch_replied()`, `$T_req(..)` in onreply routes, `$T_rpl(..)` in
//! failure_route, `$avp`s carried from request_route into the failure,
//! onreply and branch routes, and `$avp(x) = $null` popping one value.

use std::net::{IpAddr, SocketAddr};

use sipshard_core::route_io::{
    Inbound, LocalSocket, Outbound, RouteEnv, Router, TmAccess, TmReply,
};
use sipshard_core::script::{compile_str, Config, ShardState};
use sipshard_core::sip::Message;
use sipshard_core::tm::proxy::Output;
use sipshard_core::tm::table::Table;
use sipshard_core::transport::Transport;

/// A runtime with a transaction table and a clock the test moves.
struct Env {
    table: Table,
    now: u64,
    out: Vec<Output>,
    logs: Vec<String>,
}

impl RouteEnv for Env {
    fn resolve(&mut self, host: &str, port: Option<u16>, _: Transport) -> Option<SocketAddr> {
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port.unwrap_or(5060)))
    }
    fn local_for(&self, _: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        Some(LocalSocket {
            proto,
            addr: "127.0.0.1:5060".parse().unwrap(),
            advertise_host: "127.0.0.1".into(),
            advertise_port: 5060,
        })
    }
    fn log(&mut self, _: i32, line: &str) {
        self.logs.push(line.to_string());
    }
    fn log_enabled(&self, _: i32) -> bool {
        true
    }
    fn send(&mut self, out: Outbound) {
        panic!("nothing stateless expected: {out:?}");
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

/// One proxy: its program, shard state and runtime.
struct Proxy {
    cfg: Config,
    state: ShardState,
    env: Env,
}

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nX-Caller: carol\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

fn inb() -> Inbound {
    Inbound {
        proto: Transport::Udp,
        src: "10.1.1.1:5060".parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        conn: None,
    }
}

impl Proxy {
    fn new(routes: &str) -> Proxy {
        let text = format!(
            "listen=udp:127.0.0.1:5060\nloadmodule \"tm.so\"\nloadmodule \"textops.so\"\nloadmodule \"xlog.so\"\n{routes}"
        );
        let cfg = compile_str("t.cfg", &text, &[]).expect("compiles");
        let table = Table::new(0, cfg.program.tm_config().expect("tm loaded"));
        let state = cfg.program.new_shard_state();
        Proxy {
            cfg,
            state,
            env: Env {
                table,
                now: 0,
                out: Vec::new(),
                logs: Vec::new(),
            },
        }
    }

    fn invite(&mut self) {
        self.request(INVITE.to_string());
    }

    fn request(&mut self, text: String) {
        let msg = Message::parse(text.into_bytes()).unwrap();
        Router::on_request(
            &*self.cfg.program,
            msg,
            &inb(),
            &mut self.env,
            &mut self.state,
        );
        self.failures();
    }

    /// Runs `failure_route` for every `Failure` output, as the runtime.
    fn failures(&mut self) {
        let prog = &*self.cfg.program;
        loop {
            let Some(i) = self
                .env
                .out
                .iter()
                .position(|o| matches!(o, Output::Failure { .. }))
            else {
                return;
            };
            let Output::Failure { tx, code } = self.env.out.remove(i) else {
                unreachable!("matched above")
            };
            Router::on_failure(prog, tx, code, &mut self.env, &mut self.state);
            let now = self.env.now;
            let _ = self.env.table.failure_done(now, tx, &mut self.env.out);
        }
    }

    /// A response from downstream, through the reply routes as the
    /// runtime does it.
    fn respond(&mut self, text: String) {
        self.respond_from(text, "10.0.0.1:5070");
    }

    /// The same, received from `src`.
    fn respond_from(&mut self, text: String, src: &str) {
        let msg = Message::parse(text.into_bytes()).unwrap();
        let prog = &*self.cfg.program;
        let from: Inbound = Inbound {
            src: src.parse().unwrap(),
            ..inb()
        };
        let (tx, n) = self.env.table.match_response(&msg).expect("ours");
        let verdict = Router::on_tm_reply(prog, tx, n, &msg, &from, &mut self.env, &mut self.state);
        let now = self.env.now;
        match verdict {
            TmReply::Keep => self
                .env
                .table
                .on_response(now, &msg, from.src, &mut self.env.out),
            TmReply::Edited(m) => self
                .env
                .table
                .on_response(now, &m, from.src, &mut self.env.out),
            TmReply::Drop => return,
        };
        self.failures();
    }

    fn advance(&mut self, to: u64) {
        self.env.now = to;
        self.env.table.on_timer(to, &mut self.env.out);
        self.failures();
    }

    /// What went out since the last call: (host, port, text).
    fn take_sent(&mut self) -> Vec<(String, u16, String)> {
        let sent = self
            .env
            .out
            .iter()
            .filter_map(|o| match o {
                Output::Send { dst, bytes, .. } => Some((
                    dst.host.clone(),
                    dst.port,
                    String::from_utf8_lossy(bytes).into_owned(),
                )),
                Output::Failure { .. } => None,
            })
            .collect();
        self.env.out.clear();
        sent
    }
}

fn branch_of(text: &str) -> String {
    text.split("branch=")
        .nth(1)
        .and_then(|b| b.split("\r\n").next())
        .unwrap()
        .to_string()
}

fn response(branch: &str, code: u16, reason: &str, extra: &str) -> String {
    format!(
        "SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>;tag=u1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// The status line of the one final reply that went upstream.
fn upstream_final(sent: &[(String, u16, String)]) -> String {
    let finals: Vec<&str> = sent
        .iter()
        .filter(|s| s.0 == "10.1.1.1" && !s.2.starts_with("SIP/2.0 1"))
        .map(|s| s.2.lines().next().unwrap())
        .collect();
    assert_eq!(finals.len(), 1, "{sent:?}");
    finals[0].to_string()
}

const FAILOVER: &str = r#"
request_route {
    $avp(who) = "alice";
    $du = "sip:10.0.0.1:5070";
    t_set_fr(0, 700);
    t_on_failure("F");
    t_relay();
}
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
    t_reply("500", "$var(m)");
}
"#;

/// `$T_rpl($si)` / `$T_rpl($sp)` in failure_route: where the picked reply
/// came from, not where the branch was sent (a callee may answer from
/// another address or port).
#[test]
fn reply_source_is_where_the_reply_came_from() {
    let cfg = r#"
request_route {
    $du = "sip:10.0.0.1:5070";
    t_on_failure("F");
    t_relay();
}
failure_route[F] {
    $var(m) = "from " + $T_rpl($si) + ":" + $T_rpl($sp);
    t_reply("500", "$var(m)");
}
"#;
    let mut p = Proxy::new(cfg);
    p.invite();
    let b = branch_of(&p.take_sent()[1].2);
    p.respond_from(response(&b, 486, "Busy Here", ""), "10.0.0.7:5999");
    assert_eq!(
        upstream_final(&p.take_sent()),
        "SIP/2.0 500 from 10.0.0.7:5999",
        "the branch went to 10.0.0.1:5070"
    );
}

/// No response at all: Timer B (700 ms) ends the branch. The branch timed
/// out and never replied; `$T_rpl` is null (local 408, Kamailio's
/// FAKED_REPLY); `$T_req` is null outside onreply routes; the `$avp` set
/// before `t_relay()` is there.
#[test]
fn timeout_without_reply() {
    let mut p = Proxy::new(FAILOVER);
    p.invite();
    let sent = p.take_sent();
    assert_eq!(sent.len(), 2, "100 + branch: {sent:?} {:?}", p.env.logs);
    p.advance(700);
    assert_eq!(
        upstream_final(&p.take_sent()),
        "SIP/2.0 500 timeout silent by alice rpl=none req=none"
    );
}

/// A 486 straight away: not a timeout, and (as Kamailio marks the branch
/// after handling the reply) not "replied" before it; `$T_rpl` is the 486.
#[test]
fn final_reply_without_provisional() {
    let mut p = Proxy::new(FAILOVER);
    p.invite();
    let b = branch_of(&p.take_sent()[1].2);
    p.respond(response(&b, 486, "Busy Here", "X-Reason: on the phone\r\n"));
    assert_eq!(
        upstream_final(&p.take_sent()),
        "SIP/2.0 500 answer silent by alice rpl=486/Busy Here/on the phone req=none"
    );
}

/// 180 then 603: replied; after a 180, Timer C (`fr_inv_timer`) instead:
/// timed out and replied.
#[test]
fn replied_before_the_final_or_the_timeout() {
    let mut p = Proxy::new(FAILOVER);
    p.invite();
    let b = branch_of(&p.take_sent()[1].2);
    p.respond(response(&b, 180, "Ringing", ""));
    p.respond(response(&b, 603, "Decline", ""));
    assert_eq!(
        upstream_final(&p.take_sent()),
        "SIP/2.0 500 answer replied by alice rpl=603/Decline/ req=none"
    );

    let mut p = Proxy::new(&FAILOVER.replace("t_set_fr(0, 700)", "t_set_fr(1500, 700)"));
    p.invite();
    let b = branch_of(&p.take_sent()[1].2);
    p.respond(response(&b, 180, "Ringing", ""));
    p.take_sent();
    p.advance(1500);
    let sent = p.take_sent();
    assert!(
        sent.iter().any(|s| s.2.starts_with("CANCEL ")),
        "Timer C cancels: {sent:?}"
    );
    assert_eq!(
        upstream_final(&sent),
        "SIP/2.0 500 timeout replied by alice rpl=none req=none"
    );
}

const SERIAL: &str = r#"
request_route {
    $avp(dst) = "sip:10.0.0.3:5090";
    $avp(dst) = "sip:10.0.0.2:5080";
    $avp(tried) = "first";
    $du = "sip:10.0.0.1:5070";
    t_on_failure("NEXT");
    t_on_branch("B");
    t_relay();
}
branch_route[B] {
    append_hf("X-Left: $(avp(dst)[*])\r\n");
}
failure_route[NEXT] {
    if (defined $avp(dst)) {
        $du = $avp(dst);
        $avp(dst) = $null;
        $avp(tried) = $T_rpl($rs);
        t_on_failure("NEXT");
        t_on_branch("B");
        t_relay();
        exit;
    }
    $var(m) = "Tried " + $(avp(tried)[*]) + " last " + $T_rpl($rs);
    t_reply("503", "$var(m)");
}
"#;

/// Serial failover from a `$avp` list: each failure_route pops the next
/// destination (`$avp(dst) = $null` removes the newest only), its changes
/// are seen by the next failure_route, and branch_route sees the list as
/// it is when the branch starts.
#[test]
fn serial_failover_pops_destinations_kept_in_avps() {
    let mut p = Proxy::new(SERIAL);
    p.invite();
    let sent = p.take_sent();
    assert_eq!(sent.len(), 2, "{sent:?} {:?}", p.env.logs);
    assert_eq!((sent[1].0.as_str(), sent[1].1), ("10.0.0.1", 5070));
    assert!(
        sent[1]
            .2
            .contains("X-Left: sip:10.0.0.2:5080, sip:10.0.0.3:5090\r\n"),
        "{}",
        sent[1].2
    );
    p.respond(response(&branch_of(&sent[1].2), 503, "Down", ""));
    let sent = p.take_sent();
    let next: Vec<_> = sent.iter().filter(|s| s.2.starts_with("INVITE ")).collect();
    assert_eq!(next.len(), 1, "{sent:?} {:?}", p.env.logs);
    assert_eq!((next[0].0.as_str(), next[0].1), ("10.0.0.2", 5080));
    assert!(
        next[0].2.contains("X-Left: sip:10.0.0.3:5090\r\n"),
        "{}",
        next[0].2
    );
    p.respond(response(&branch_of(&next[0].2), 486, "Busy", ""));
    let sent = p.take_sent();
    let next: Vec<_> = sent.iter().filter(|s| s.2.starts_with("INVITE ")).collect();
    assert_eq!(next.len(), 1, "{sent:?}");
    assert_eq!((next[0].0.as_str(), next[0].1), ("10.0.0.3", 5090));
    assert!(next[0].2.contains("X-Left: <null>\r\n"), "{}", next[0].2);
    p.respond(response(&branch_of(&next[0].2), 404, "Nope", ""));
    assert_eq!(
        upstream_final(&p.take_sent()),
        "SIP/2.0 503 Tried 486, 503, first last 404"
    );
}

const ONREPLY: &str = r#"
request_route {
    $avp(tag) = "t1";
    $du = "sip:10.0.0.1:5070";
    t_on_reply("R");
    t_relay();
}
onreply_route[R] {
    append_hf("X-For: $T_req($hdr(X-Caller)) $T_req($rU) $T_req($si) $avp(tag) $T_rpl($rs)\r\n");
    $avp(tag) = "seen-" + $rs;
}
"#;

/// onreply_route: `$T_req(..)` reads the request (its header, R-URI user
/// and source), `$avp` comes from request_route and keeps what an earlier
/// reply's run set, `$T_rpl` is null there; the header it appends reaches
/// the caller.
#[test]
fn onreply_route_reads_the_request_and_edits_the_reply() {
    let mut p = Proxy::new(ONREPLY);
    p.invite();
    let b = branch_of(&p.take_sent()[1].2);
    p.respond(response(&b, 180, "Ringing", ""));
    let sent = p.take_sent();
    assert_eq!(sent.len(), 1, "{sent:?} {:?}", p.env.logs);
    assert!(
        sent[0]
            .2
            .contains("X-For: carol bob 10.1.1.1 t1 <null>\r\n"),
        "{}",
        sent[0].2
    );
    p.respond(response(&b, 200, "OK", ""));
    let sent = p.take_sent();
    assert!(
        sent[0].2.starts_with("SIP/2.0 200 OK\r\n")
            && sent[0]
                .2
                .contains("X-For: carol bob 10.1.1.1 seen-180 <null>\r\n"),
        "{sent:?}"
    );
    assert_eq!(sent[0].2.matches("Via:").count(), 1, "our Via stripped");
}

/// `sipshard check`'s compiler accepts the new names; misuse is refused.
#[test]
fn compile_accepts_and_rejects() {
    for ok in [FAILOVER, SERIAL, ONREPLY] {
        Proxy::new(ok);
    }
    let bad = |routes: &str| {
        let text = format!("listen=udp:127.0.0.1:5060\nloadmodule \"tm.so\"\n{routes}");
        compile_str("t.cfg", &text, &[]).expect_err(routes)
    };
    let e = bad("request_route { if (t_branch_timeout()) exit; }");
    assert!(format!("{e:?}").contains("t_branch_timeout"), "{e:?}");
    bad("request_route { $var(x) = $T_req; }");
    bad("request_route { $T_rpl($rs) = 1; }");
}

/// `t_reply`'s reason as Kamailio 5.6 reads it (`fixup_var_str_12`,
/// checked on kamailio): a reason starting with a pseudo-variable is that
/// pseudo-variable alone, any other is sent as written; both odd cases
/// get a compile warning.
#[test]
fn t_reply_reason_is_a_leading_pv_or_literal_text() {
    for (reason, want, warns) in [
        ("Timeout by $avp(who)", "Timeout by $avp(who)", true),
        ("$avp(who) and more", "alice", true),
        ("$avp(who)", "alice", false),
        ("Busy Here", "Busy Here", false),
    ] {
        let mut p = Proxy::new(&format!(
            "request_route {{\n    $avp(who) = \"alice\";\n    t_reply(\"408\", \"{reason}\");\n}}\n"
        ));
        assert_eq!(
            !p.cfg.warnings.is_empty(),
            warns,
            "{reason}: {:?}",
            p.cfg.warnings
        );
        p.invite();
        assert_eq!(
            upstream_final(&p.take_sent()),
            format!("SIP/2.0 408 {want}")
        );
    }
}

/// The `$avp`s kept per transaction do not outlive it for long: with
/// 5000 transactions that each leave an `$avp` and end (the callee never
/// answers; Timer B and the wait timers run out), the store is swept down
/// to about the live ones.
#[test]
fn avps_of_ended_transactions_are_swept() {
    let mut p = Proxy::new(
        "request_route {\n    $avp(x) = \"v\";\n    $du = \"sip:10.0.0.1:5070\";\n    t_set_fr(0, 500);\n    t_relay();\n}\n",
    );
    for i in 0..5000u64 {
        let text = INVITE
            .replace("branch=z9hG4bKabc", &format!("branch=z9hG4bKsweep{i}"))
            .replace("Call-ID: c1", &format!("Call-ID: sweep{i}"));
        p.request(text);
        p.env.out.clear();
        if i % 100 == 99 {
            // Everything started so far times out and ends.
            p.advance(p.env.now + 60_000);
            p.env.out.clear();
        }
    }
    let live = p.env.table.len();
    let kept = p.state.tx_avps.len();
    assert!(live <= 100, "transactions end: {live} live");
    assert!(
        kept <= 1100,
        "{kept} avp sets kept for {live} live transactions"
    );
}
