//! registrar `received_avp` on the wire: two phones register Contacts
//! with unreachable addresses (TEST-NET 192.0.2.x, as a phone behind NAT
//! would) from their real sockets; the script puts the source in
//! `$avp(RECEIVED)`, `save()` keeps it as the binding's `received` (the
//! 200 OK shows it, db_text persists it in Kamailio's `received` column)
//! and `lookup()` forks the INVITE with each branch's `$du` set to its own
//! binding's received address: each phone gets the call at its socket,
//! with its own Contact as the R-URI, before and after a restart.

mod common;
mod registrar_ua;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use registrar_ua::*;

fn cfg(port: u16, db: &str) -> String {
    format!(
        r#"
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_url", "text://{db}")
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

/// Calls bob; both phones must get the INVITE at their own socket with
/// their own Contact as R-URI; both answer 486 and the caller gets it.
fn call_reaches_both(proxy: SocketAddr, phones: &[(&Ua, &str)], call_id: &str) {
    let caller = Ua::new(proxy);
    caller.invite(&format!("sip:bob@127.0.0.1:{}", proxy.port()), call_id);
    for (ua, contact) in phones {
        let req = ua
            .recv_call("INVITE", call_id, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{call_id}: no INVITE at {} ({contact})", ua.addr));
        assert_eq!(ruri(&req), *contact, "{req}");
        ua.reply(&req, 486, "Busy Here");
    }
    let fin = caller
        .recv_final(Duration::from_secs(5))
        .expect("caller got no final response");
    assert_eq!(status(&fin), 486, "{fin}");
}

#[test]
fn received_avp_routes_each_forked_branch_to_its_phones_socket() {
    let dir = TestDir::new("registrar-received");
    let db = dir.path("db");
    let port = free_port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let path = dir.write("sipshard.cfg", &cfg(port, &db.display().to_string()));
    let server = Sipshard::start(&path, &[]);

    let a = Ua::new(proxy);
    let b = Ua::new(proxy);
    let (ca, cb) = ("sip:bob@192.0.2.10:5999", "sip:bob@192.0.2.11:5999");
    let r = a.register("bob", &format!("<{ca}>"), "reg-a", 1, "");
    assert_eq!(status(&r), 200, "{r}");
    let want = format!(";received=\"sip:127.0.0.1:{}\"", a.addr.port());
    assert!(header(&r, "Contact").unwrap().contains(&want), "{r}");
    let r = b.register("bob", &format!("<{cb}>"), "reg-b", 1, "");
    assert_eq!(status(&r), 200, "{r}");
    let contact = header(&r, "Contact").unwrap();
    assert!(contact.contains(&want), "{r}");
    let want_b = format!(";received=\"sip:127.0.0.1:{}\"", b.addr.port());
    assert!(contact.contains(&want_b), "{r}");
    std::thread::sleep(Duration::from_millis(100));

    call_reaches_both(proxy, &[(&a, ca), (&b, cb)], "call-1");

    // Kamailio's db_text `received` column holds it.
    let loc = std::fs::read_to_string(db.join("location")).unwrap();
    let head: Vec<&str> = loc.lines().next().unwrap().split(' ').collect();
    let col = head
        .iter()
        .position(|c| c.starts_with("received("))
        .expect("received column");
    let row = loc
        .lines()
        .find(|l| l.contains("192.0.2.10"))
        .expect("a's row");
    let fields = row.split(':').collect::<Vec<_>>();
    // `\:` escapes a colon inside a field: rejoin them.
    let mut cols = Vec::new();
    let mut cur = String::new();
    for f in fields {
        if let Some(s) = f.strip_suffix('\\') {
            cur.push_str(s);
            cur.push(':');
        } else {
            cur.push_str(f);
            cols.push(std::mem::take(&mut cur));
        }
    }
    assert_eq!(
        cols[col],
        format!("sip:127.0.0.1:{}", a.addr.port()),
        "{loc}"
    );

    // After a restart the persisted received address still routes.
    drop(server);
    let _server = Sipshard::start(&path, &[]);
    wait_answering(proxy);
    call_reaches_both(proxy, &[(&a, ca), (&b, cb)], "call-2");
}

/// nathelper's `fix_nated_register()` fills the AVP instead of the
/// script, side by side with Kamailio 5.6 (same config, same phone
/// socket): the 200 OKs' Contact lines are equal and carry the phone's
/// real socket as `received`.
#[test]
fn fix_nated_register_as_kamailio() {
    let cfg = |port: u16| {
        format!(
            r#"#!KAMAILIO
listen=udp:127.0.0.1:{port}
mpath="{KAMAILIO_MODULES}"
children=1
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "nathelper.so"
modparam("usrloc", "db_mode", 0)
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "received_avp", "$avp(RECEIVED)")
request_route {{
    if (method == "REGISTER") {{
        fix_nated_register();
        save("location");
        exit;
    }}
    sl_send_reply("404", "Not Found");
}}
"#
        )
    };
    let dir = TestDir::new("registrar-fix-nated");
    let Some(both) = side_by_side(&dir, cfg) else {
        return;
    };
    let mut ua = Ua::new(both.kamailio);
    let contact = "<sip:nat@10.1.1.1:5060>";
    let k = ua.register("nat", contact, "nat-k", 1, "");
    ua.proxy = both.sipshard;
    wait_answering(ua.proxy);
    let s = ua.register("nat", contact, "nat-s", 1, "");
    assert_eq!(header(&s, "Contact"), header(&k, "Contact"), "{s}\n{k}");
    assert_eq!(
        header(&s, "Contact").unwrap(),
        format!(
            "<sip:nat@10.1.1.1:5060>;expires=3600;received=\"sip:127.0.0.1:{}\"",
            ua.addr.port()
        )
    );
}

/// Which binding `lookup()` makes the R-URI when it may not fork
/// (`append_branches` 0), side by side with Kamailio 5.6: of equal q the
/// first registered, also after the other one registered later and after
/// the first one refreshed (usrloc keeps a refreshed contact in its place).
#[test]
fn without_forking_the_first_registered_binding_is_called_as_kamailio() {
    let cfg = |port: u16| {
        format!(
            r#"#!KAMAILIO
listen=udp:127.0.0.1:{port}
mpath="{KAMAILIO_MODULES}"
children=1
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "append_branches", 0)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
request_route {{
    if (method == "REGISTER") {{
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
    };
    /// Calls bob; the index of the phone that got the INVITE (answered 486).
    fn called(proxy: SocketAddr, phones: &[&Ua], call_id: &str) -> Vec<usize> {
        let caller = Ua::new(proxy);
        caller.invite(&format!("sip:bob@127.0.0.1:{}", proxy.port()), call_id);
        let mut got = Vec::new();
        for (i, ua) in phones.iter().enumerate() {
            if let Some(req) = ua.recv_call("INVITE", call_id, Duration::from_millis(700)) {
                ua.reply(&req, 486, "Busy Here");
                got.push(i);
            }
        }
        let fin = caller
            .recv_final(Duration::from_secs(3))
            .unwrap_or_default();
        assert_eq!(status(&fin), 486, "{call_id}: {fin}");
        got
    }
    let run = |proxy: SocketAddr, a: &mut Ua, b: &mut Ua, tag: &str| {
        a.proxy = proxy;
        b.proxy = proxy;
        let ok = |r: String| assert_eq!(status(&r), 200, "{r}");
        ok(a.register("bob", "<sip:bob@192.0.2.40>", &format!("{tag}-a"), 1, ""));
        std::thread::sleep(Duration::from_millis(1100));
        ok(b.register("bob", "<sip:bob@192.0.2.41>", &format!("{tag}-b"), 1, ""));
        let first = called(proxy, &[&*a, &*b], &format!("{tag}-call1"));
        std::thread::sleep(Duration::from_millis(1100));
        ok(a.register("bob", "<sip:bob@192.0.2.40>", &format!("{tag}-a"), 2, ""));
        let second = called(proxy, &[&*a, &*b], &format!("{tag}-call2"));
        (first, second)
    };
    let dir = TestDir::new("registrar-order");
    let Some(both) = side_by_side(&dir, cfg) else {
        return;
    };
    let (kaddr, saddr) = (both.kamailio, both.sipshard);
    let mut a = Ua::new(kaddr);
    let mut b = Ua::new(kaddr);
    let k = run(kaddr, &mut a, &mut b, "k");
    wait_answering(saddr);
    let s = run(saddr, &mut a, &mut b, "s");
    assert_eq!(s, k, "who got the call (sipshard, Kamailio)");
    assert_eq!(
        s,
        (vec![0], vec![0]),
        "the first registered phone, both times"
    );
}
