//! RFC 5626 outbound and RFC 5627 GRUU, side by side with Kamailio 5.6:
//! the same config file runs in both, the same two phones (the same UDP
//! sockets) send both the same REGISTERs and calls, and what comes back
//! must be the same:
//!
//! - the 200 OKs: Contact lists with `received`, `pub-gruu`, `temp-gruu`,
//!   `+sip.instance`, `reg-id` (record ids, which each server makes its own
//!   way, are masked), and `Supported`/`Require: outbound`/`Flow-Timer`;
//!   a new REGISTER with the same instance and reg-id replaces that flow's
//!   binding;
//! - calls to a pub-gruu reach one binding of that instance only, a call
//!   to a temp-gruu the binding it names, a call to the AOR every binding.
//!
//! A phone's Contacts name unreachable TEST-NET addresses; calls reach it
//! through `received_avp`. Kamailio must be installed (CI has it).

mod common;
mod registrar_ua;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use registrar_ua::*;

const INST_A: &str = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
const INST_B: &str = "<urn:uuid:11111111-0000-1000-8000-000A95A0E128>";

fn cfg(port: u16) -> String {
    format!(
        r#"#!KAMAILIO
listen=udp:127.0.0.1:{port}
mpath="{KAMAILIO_MODULES}"
children=1
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "gruu_enabled", 1)
modparam("registrar", "outbound_mode", 1)
modparam("registrar", "flow_timer", 25)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
request_route {{
    if (is_method("REGISTER")) {{
        $avp(RECEIVED) = "sip:" + $si + ":" + $sp;
        save("location");
        exit;
    }}
    if (!lookup("location")) {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    t_relay();
}}
"#
    )
}

/// A response reduced to what both servers must agree on: the status
/// line, then the Contact, Supported, Require, Unsupported, Flow-Timer
/// and P-Registrar-Error lines in order, record ids masked.
fn essence(resp: &str) -> String {
    let mut out = vec![resp.split("\r\n").next().unwrap_or("").to_string()];
    for l in resp.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if [
            "contact",
            "supported",
            "require",
            "unsupported",
            "flow-timer",
            "p-registrar-error",
        ]
        .contains(&name.as_str())
        {
            out.push(mask_ruids(l));
        }
    }
    out.join("\n")
}

/// `temp-gruu="sip:RUID-HASH@` with the RUID masked.
fn mask_ruids(l: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find("temp-gruu=\"sip:") {
        let (head, tail) = rest.split_at(i + "temp-gruu=\"sip:".len());
        out.push_str(head);
        let at = tail.find('@').unwrap_or(0);
        let hash_at = tail[..at].rfind('-').unwrap_or(0);
        out.push_str("RUID");
        rest = &tail[hash_at..];
    }
    out.push_str(rest);
    out
}

fn param<'a>(contact: &'a str, name: &str) -> Vec<&'a str> {
    contact
        .split(&format!(";{name}=\""))
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect()
}

/// Which phone (0, 1) got an INVITE of `call_id` within `wait`, and with
/// which R-URIs; every INVITE is answered 486.
fn who_gets(phones: &[&Ua], call_id: &str, wait: Duration) -> Vec<(usize, String)> {
    let mut got = Vec::new();
    let end = std::time::Instant::now() + wait;
    while std::time::Instant::now() < end {
        for (i, ua) in phones.iter().enumerate() {
            if let Some(req) = ua.recv_call("INVITE", call_id, Duration::from_millis(50)) {
                let r = ruri(&req).to_string();
                if !got.contains(&(i, r.clone())) {
                    got.push((i, r));
                }
                ua.reply(&req, 486, "Busy Here");
            }
        }
    }
    got.sort();
    got
}

struct Run {
    replies: Vec<String>,
    routes: Vec<Vec<(usize, String)>>,
}

/// The REGISTERs and calls of the comparison against the server at
/// `proxy`, from the phones `a` (instance A, two flows) and `b`.
fn scenario(proxy: SocketAddr, a: &mut Ua, b: &mut Ua, tag: &str) -> Run {
    a.proxy = proxy;
    b.proxy = proxy;
    let mut replies = Vec::new();
    let gruu_ob = "Supported: gruu, outbound\r\n";
    let cid = |n: &str| format!("{tag}-{n}");
    replies.push(a.register(
        "bob",
        &format!("<sip:bob@192.0.2.55:5999;transport=udp>;+sip.instance=\"{INST_A}\";reg-id=1"),
        &cid("a1"),
        1,
        gruu_ob,
    ));
    // same instance and reg-id, new Contact: replaces that flow
    replies.push(a.register(
        "bob",
        &format!("<sip:bob@192.0.2.56:5999>;+sip.instance=\"{INST_A}\";reg-id=1"),
        &cid("a2"),
        1,
        "Supported: gruu, outbound\r\nRequire: outbound\r\n",
    ));
    // a second flow of instance A, no gruu asked
    replies.push(a.register(
        "bob",
        &format!("<sip:bob@192.0.2.57:5999>;+sip.instance=\"{INST_A}\";reg-id=2"),
        &cid("a3"),
        1,
        "Supported: path\r\n",
    ));
    replies.push(b.register(
        "bob",
        &format!("<sip:bob@192.0.2.58:5999>;+sip.instance=\"{INST_B}\""),
        &cid("b1"),
        1,
        "Supported: gruu\r\n",
    ));
    let last = header(replies.last().unwrap(), "Contact")
        .unwrap_or("")
        .to_string();
    let pubs = param(&last, "pub-gruu");
    let temps = param(&last, "temp-gruu");
    assert_eq!(pubs.len(), 3, "{last}");
    std::thread::sleep(Duration::from_millis(100));
    let phones = [&*a, &*b];
    let caller = Ua::new(proxy);
    let mut routes = Vec::new();
    let targets = [
        pubs[2].to_string(),  // instance B
        pubs[0].to_string(),  // instance A: one of its two flows
        temps[1].to_string(), // A's second flow
        temps[2].to_string(), // B
        format!("sip:bob@127.0.0.1:{}", proxy.port()),
    ];
    for (i, t) in targets.iter().enumerate() {
        let call = cid(&format!("call{i}"));
        caller.invite(t, &call);
        routes.push(who_gets(&phones, &call, Duration::from_millis(700)));
        let fin = caller
            .recv_final(Duration::from_secs(3))
            .unwrap_or_default();
        assert_eq!(status(&fin), 486, "{tag} call to {t}: {fin}");
    }
    Run { replies, routes }
}

#[test]
fn outbound_and_gruu_as_kamailio_does_them() {
    let dir = TestDir::new("registrar-gruu");
    let Some(both) = side_by_side(&dir, cfg) else {
        return;
    };
    let (kaddr, saddr) = (both.kamailio, both.sipshard);
    let mut a = Ua::new(kaddr);
    let mut b = Ua::new(kaddr);
    let k = scenario(kaddr, &mut a, &mut b, "k");
    let s = scenario(saddr, &mut a, &mut b, "s");

    for (i, (kr, sr)) in k.replies.iter().zip(&s.replies).enumerate() {
        assert_eq!(
            essence(sr),
            essence(kr),
            "REGISTER {i}:\n{sr}\nKamailio:\n{kr}"
        );
    }
    // the first 200 in full, as Kamailio sent it
    let first = essence(&s.replies[0]);
    let want = format!(
        "SIP/2.0 200 OK\n\
         Contact: <sip:bob@192.0.2.55:5999;transport=udp>;expires=3600;\
         received=\"sip:127.0.0.1:{pa}\";\
         pub-gruu=\"sip:bob@127.0.0.1;gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128\";\
         temp-gruu=\"sip:RUID-3c33e6@127.0.0.1;gr\";\
         +sip.instance=\"{INST_A}\";reg-id=1\n\
         Supported: outbound\n\
         Require: outbound\n\
         Flow-Timer: 25",
        pa = a.addr.port()
    );
    assert_eq!(first, want);
    // the replaced flow: still 1 binding for A's reg-id 1, now .56
    let c2 = header(&s.replies[1], "Contact").unwrap();
    assert!(
        !c2.contains("192.0.2.55") && c2.contains("192.0.2.56"),
        "{c2}"
    );

    assert_eq!(
        s.routes, k.routes,
        "who got which call (sipshard, then Kamailio)"
    );
    let b_only = vec![(1, "sip:bob@192.0.2.58:5999".to_string())];
    assert_eq!(s.routes[0], b_only, "pub-gruu of B");
    assert_eq!(s.routes[1].len(), 1, "pub-gruu of A: one flow");
    assert_eq!(s.routes[1][0].0, 0);
    assert_eq!(
        s.routes[2],
        vec![(0, "sip:bob@192.0.2.57:5999".to_string())],
        "temp-gruu of A's second flow"
    );
    assert_eq!(s.routes[3], b_only, "temp-gruu of B");
    assert_eq!(s.routes[4].len(), 3, "the AOR: every binding");
}
