//! Responses steered to the shard that owns their transaction: with
//! `shards=2`, requests sipshard relays (t_relay, forward) leave from a UDP
//! port of the sending shard's own and name it in our Via, so the callee's
//! responses come back to that shard and none is handed over the mesh.
//!
//! The callee (sipp uas) checks every INVITE, ACK and BYE it receives: the
//! top Via is ours, on 127.0.0.1, and not on the shared listen port (else
//! it does not answer and the caller's call fails). After the calls the
//! control socket's `cross_shard_handoffs` must be 0 while every response
//! was received. A raw UDP peer checks that the advertised port answers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;

const HOST: &str = "127.0.0.1";

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Two shards relaying every request to the callee at `uas_port`, with
/// `relay` (`t_relay()` or `forward()`) and the modules it needs.
fn cfg(port: u16, uas_port: u16, stateful: bool) -> String {
    let (module, relay) = match stateful {
        true => (
            "loadmodule \"tm.so\"",
            format!(
                "$du = \"sip:{HOST}:{uas_port}\";\n    if (!t_relay()) {{ sl_reply_error(); }}"
            ),
        ),
        false => ("", format!("forward(\"{HOST}\", {uas_port});")),
    };
    format!(
        r#"
listen=udp:{HOST}:{port}
listen=tcp:{HOST}:{port}
shards=2
debug=1
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "rr.so"
loadmodule "siputils.so"
{module}
request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!has_totag()) {{
        record_route();
    }}
    {relay}
}}
"#
    )
}

/// Regexp actions on a received request: `{tag}o` is set when it carries
/// our Via (our branches are hex right after the magic cookie; sipp's
/// start with `-`), `{tag}s` when our Via names the shared port `shared`;
/// on the INVITE, `rr` when Record-Route names the shared port.
fn via_checks(shared: u16, tag: &str) -> String {
    let rr = match tag {
        "i" => format!(
            r#"
      <ereg regexp="Record-Route: &lt;sip:127\.0\.0\.1:{shared};lr" search_in="msg" assign_to="rr"/>"#
        ),
        _ => String::new(),
    };
    format!(
        r#"<action>{rr}
      <ereg regexp="Via: SIP/2\.0/UDP 127\.0\.0\.1:[0-9]+;branch=z9hG4bK[0-9a-f]" search_in="msg" assign_to="{tag}o"/>
      <ereg regexp="Via: SIP/2\.0/UDP 127\.0\.0\.1:{shared};branch=z9hG4bK[0-9a-f]" search_in="msg" assign_to="{tag}s"/>
    </action>"#
    )
}

/// sipp's uas call flow, checking the Via of the INVITE, ACK and BYE it
/// receives and the INVITE's Record-Route (the shared port). A failed
/// check turns the answer into a 500 (INVITE) or the BYE's 200 into a 500
/// (ACK, BYE), so the caller's call fails: sipp's own `check_it` only
/// logs.
fn uas_scenario(shared: u16) -> String {
    let reply = |code: &str, totag: bool| {
        let tag = if totag {
            ";tag=[pid]SIPpTag01[call_number]"
        } else {
            ""
        };
        format!(
            r#"<![CDATA[
      SIP/2.0 {code}
      [last_Via:]
      [last_From:]
      [last_To:]{tag}
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uas checking the proxy's Via port">
  <recv request="INVITE" crlf="true">
    {inv}
  </recv>
  <nop next="invbad" test="is"/>
  <nop next="invrr" test="io"/>
  <label id="invbad"/>
  <send>{fail_invite}</send>
  <recv request="ACK" next="end"/>
  <label id="invrr"/>
  <nop next="invok" test="rr"/>
  <nop next="invbad"/>
  <label id="invok"/>
  <send>{ringing}</send>
  <send retrans="500">{ok}</send>
  <recv request="ACK" crlf="true">
    {ack}
  </recv>
  <recv request="BYE">
    {bye}
  </recv>
  <nop next="byebad" test="as"/>
  <nop next="byebad" test="bs"/>
  <nop next="ackok" test="ao"/>
  <nop next="byebad"/>
  <label id="ackok"/>
  <nop next="byeok" test="bo"/>
  <label id="byebad"/>
  <send next="end">{fail_bye}</send>
  <label id="byeok"/>
  <send>{bye_ok}</send>
  <label id="end"/>
</scenario>
"#,
        inv = via_checks(shared, "i"),
        fail_invite = reply("500 Via Names The Shared Port", true),
        ringing = reply("180 Ringing", true),
        ok = reply("200 OK", true),
        ack = via_checks(shared, "a"),
        bye = via_checks(shared, "b"),
        fail_bye = reply("500 Via Names The Shared Port", false),
        bye_ok = reply("200 OK", false),
    )
}

/// `name = value` of one statistic, read over the control socket.
fn stat(sock: &std::path::Path, name: &str) -> u64 {
    let (code, out, err) = ctl(sock, &["stats.get_statistics", name]);
    assert_eq!(code, 0, "{err}");
    out.trim()
        .rsplit(" = ")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value for {name}: {out}"))
}

/// sipp uac → sipshard (two shards) → checking sipp uas; `calls` calls,
/// none failed, no response handed over between shards.
fn calls_steered(name: &str, stateful: bool, calls: u64) {
    if !have_sipp() {
        return;
    }
    let _one = serial();
    let dir = TestDir::new(name);
    let (proxy, uas_port) = (free_port(), free_port());
    let sock = ctl_socket(&dir);
    let cfg = dir.write("sipshard.cfg", &cfg(proxy, uas_port, stateful));
    let mut server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);
    let scen = dir.write("uas.xml", &uas_scenario(proxy));
    let uas_args: Vec<String> = [
        "-sf",
        scen.to_str().unwrap(),
        "-i",
        HOST,
        "-p",
        &uas_port.to_string(),
        "-t",
        "u1",
    ]
    .map(String::from)
    .to_vec();
    let _uas = SippBackground::start(&uas_args);
    let target: SocketAddr = format!("{HOST}:{proxy}").parse().unwrap();
    let r = uac_calls(&dir, "uac", target, "service", calls, 500, "u1");
    assert!(server.alive(), "sipshard exited during the run");
    assert_eq!(r.exit, 0, "{r:?}");
    assert_eq!(r.failed, 0, "{r:?}");
    assert_eq!(r.successful, calls, "{r:?}");
    // Every call: 180 and 200 for the INVITE, 200 for the BYE came back
    // from the callee ...
    let replies = stat(&sock, "core:rcv_replies");
    assert!(replies >= 3 * calls, "only {replies} replies received");
    // ... and none crossed to another shard.
    assert_eq!(stat(&sock, "sipshard:cross_shard_handoffs"), 0);
}

#[test]
fn t_relay_responses_reach_their_owner_shard() {
    calls_steered("steer-t-relay", true, 3000);
}

#[test]
fn stateless_forward_with_two_shards() {
    calls_steered("steer-forward", false, 3000);
}

/// Sends an OPTIONS with `call_id` from `caller` through the proxy at
/// `target` and returns what `callee` received and where from.
fn relay_request(
    caller: &UdpSocket,
    callee: &UdpSocket,
    target: SocketAddr,
    call_id: &str,
) -> (String, SocketAddr) {
    let caller_port = caller.local_addr().unwrap().port();
    let request = format!(
        "OPTIONS sip:service@{HOST}:{proxy} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {HOST}:{caller_port};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:a@{HOST}>;tag=1\r\n\
         To: <sip:service@{HOST}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        proxy = target.port()
    );
    caller.send_to(request.as_bytes(), target).unwrap();
    let mut buf = [0u8; 65535];
    let (n, from) = callee
        .recv_from(&mut buf)
        .expect("the request reaches the callee");
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// Answers `got` with a 200 sent from a fresh socket to `to`; the status
/// of what the caller then receives, and from where.
fn answer(got: &str, call_id: &str, to: SocketAddr, caller: &UdpSocket) -> (u16, SocketAddr) {
    let vias: Vec<&str> = got.lines().filter(|l| l.starts_with("Via: ")).collect();
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\nFrom: <sip:a@{HOST}>;tag=1\r\nTo: <sip:service@{HOST}>;tag=2\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        vias.join("\r\n")
    );
    let answerer = UdpSocket::bind("127.0.0.1:0").unwrap();
    answerer.send_to(ok.as_bytes(), to).unwrap();
    let mut buf = [0u8; 65535];
    let (n, from) = caller
        .recv_from(&mut buf)
        .expect("the 200 reaches the caller");
    (status_of(&buf[..n]).unwrap_or(0), from)
}

/// A raw callee: the request relayed to it names a port other than the
/// shared one in our Via, is sent from that port, and keeps the shared
/// port in Record-Route; a 200 sent to that port from an address the
/// proxy never heard from is relayed back to the caller. 200s sent to the
/// shared port instead (16 source ports, so the kernel's hash puts some on
/// the shard that does not own the transaction) are relayed too, over the
/// mesh hand-off.
#[test]
fn response_to_the_advertised_port_is_relayed() {
    let _one = serial();
    let dir = TestDir::new("steer-raw");
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let callee_port = callee.local_addr().unwrap().port();
    let proxy = free_port();
    let sock = ctl_socket(&dir);
    let cfg = dir.write("sipshard.cfg", &cfg(proxy, callee_port, true));
    let _server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);
    let target: SocketAddr = format!("{HOST}:{proxy}").parse().unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    let (got, from) = relay_request(&caller, &callee, target, "steer-raw-0");
    let top = got
        .lines()
        .find(|l| l.starts_with("Via: "))
        .expect("a Via")
        .to_string();
    let sent_by = top
        .strip_prefix("Via: SIP/2.0/UDP ")
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("our Via on top: {top}"));
    let via_port: u16 = sent_by
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("sent-by 127.0.0.1:PORT: {top}"));
    assert_ne!(via_port, proxy, "Via names the shared port: {top}");
    assert_eq!(from.port(), via_port, "sent from the port Via names");
    let rr = format!("Record-Route: <sip:{HOST}:{proxy};lr");
    assert!(
        got.contains(&rr),
        "Record-Route keeps the shared port: {got}"
    );
    let own: SocketAddr = format!("{HOST}:{via_port}").parse().unwrap();
    let (code, from) = answer(&got, "steer-raw-0", own, &caller);
    assert_eq!(code, 200);
    assert_eq!(
        from, target,
        "the reply leaves from the shared listen socket"
    );
    assert_eq!(stat(&sock, "sipshard:cross_shard_handoffs"), 0);

    for i in 1..=16 {
        let call_id = format!("steer-raw-{i}");
        let (got, from) = relay_request(&caller, &callee, target, &call_id);
        assert_eq!(from.port(), via_port, "the same shard sends: {got}");
        let (code, from) = answer(&got, &call_id, target, &caller);
        assert_eq!((code, from), (200, target), "{call_id}");
    }
    assert!(stat(&sock, "sipshard:cross_shard_handoffs") >= 1);
}

/// Switched off (`shard_ports=no` in the config, or
/// `SIPSHARD_SHARD_PORTS=off` for an A/B run of one config): no per-shard
/// port, our Via names the shared port and the request leaves from it (the
/// firewall escape hatch).
#[test]
fn switched_off_requests_keep_the_shared_port() {
    switched_off_case("steer-off-cfg", true, false);
    switched_off_case("steer-off-env", false, true);
}

fn switched_off_case(name: &str, by_config: bool, by_env: bool) {
    let _one = serial();
    let dir = TestDir::new(name);
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let proxy = free_port();
    let mut text = cfg(proxy, callee.local_addr().unwrap().port(), true);
    if by_config {
        text = text.replace("shards=2\n", "shards=2\nshard_ports=no\n");
        assert!(text.contains("shard_ports=no"));
    }
    let cfg = dir.write("sipshard.cfg", &text);
    let mut cmd = std::process::Command::new(sipshard_bin());
    cmd.arg("run").arg("-f").arg(&cfg);
    if by_env {
        cmd.env("SIPSHARD_SHARD_PORTS", "off");
    }
    let _server = Sipshard::spawn(cmd);
    let target: SocketAddr = format!("{HOST}:{proxy}").parse().unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (got, from) = relay_request(&caller, &callee, target, name);
    assert_eq!(from, target, "sent from the shared socket");
    let via = format!("Via: SIP/2.0/UDP {HOST}:{proxy};branch=z9hG4bK");
    assert!(got.contains(&via), "{got}");
    let (code, _) = answer(&got, name, target, &caller);
    assert_eq!(code, 200);
}
