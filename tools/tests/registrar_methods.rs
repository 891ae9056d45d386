//! registrar `method_filtering` and the bindings' `methods`, side by side
//! with Kamailio 5.6 (the same config on both, db_text usrloc): bob's
//! phone registers with `Allow: INVITE, ACK, CANCEL, BYE`, carol's with
//! `;methods="MESSAGE"` on its Contact (which wins over its Allow), dave's
//! with neither. A MESSAGE and an INVITE are sent to each through the
//! proxy; with `method_filtering` 1 a binding that does not accept the
//! method is skipped and `lookup()` gives -2 (the config answers 405), with
//! 0 every request reaches its phone. Both servers must give the same
//! answers on the wire, and their db_text `location` rows the same
//! `methods` values.

mod common;
mod registrar_ua;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use registrar_ua::*;

const LOCATION: &str = "id(int,auto) ruid(string) username(string) domain(string,null) contact(string) received(string,null) path(string,null) expires(int) q(double) callid(string) cseq(int) last_modified(int) flags(int) cflags(int) user_agent(string) socket(string,null) methods(int,null) instance(string,null) reg_id(int) server_id(int) connection_id(int) keepalive(int) partition(int)\n";

fn cfg(port: u16, db: &Path, filtering: u32) -> String {
    format!(
        r#"#!KAMAILIO
listen=udp:127.0.0.1:{port}
mpath="{KAMAILIO_MODULES}"
children=1
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_url", "text://{db}")
modparam("usrloc", "db_mode", 1)
modparam("registrar", "method_filtering", {filtering})
request_route {{
    if (method == "REGISTER") {{
        save("location");
        exit;
    }}
    lookup("location");
    $var(rc) = $rc;
    if ($var(rc) == -2) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if ($var(rc) < 0) {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    t_relay();
}}
"#,
        db = db.display()
    )
}

/// A db_text directory as Kamailio needs it (its `version` table and
/// an empty `location` table).
fn db_dir(dir: &TestDir, port: u16) -> std::path::PathBuf {
    let db = dir.path(&format!("db{port}"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("version"),
        "table_name(string) table_version(int)\nlocation:9\n",
    )
    .unwrap();
    std::fs::write(db.join("location"), LOCATION).unwrap();
    db
}

/// Sends `method` to `user` through the proxy from `from`.
fn send_request(from: &Ua, method: &str, user: &str, call_id: &str) {
    send_to_uri(from, method, &format!("sip:{user}@{}", from.proxy), call_id);
}

/// Sends `method` with the R-URI `ruri` through the proxy from `from`.
fn send_to_uri(from: &Ua, method: &str, ruri: &str, call_id: &str) {
    let port = from.addr.port();
    from.send(&format!(
        "{method} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:sender@127.0.0.1>;tag=s{port}\r\n\
         To: <{ruri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:sender@127.0.0.1:{port}>\r\n\
         Content-Length: 0\r\n\r\n"
    ));
}

/// The sender's final response of `call_id` within 5 s (an unacknowledged
/// 486 of an earlier INVITE, retransmitted, is skipped).
fn final_of(sender: &Ua, call_id: &str) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = end
            .checked_duration_since(std::time::Instant::now())
            .unwrap_or_else(|| panic!("{call_id}: the sender got no final response"));
        if let Some(r) = sender.recv_final(left) {
            if header(&r, "Call-ID") == Some(call_id) {
                return r;
            }
        }
    }
}

/// For each (user, method): whether the phone got the request (it
/// answers 486) and the status the sender got.
fn answers(proxy: SocketAddr, phones: &[(&str, &Ua)], tag: &str) -> Vec<String> {
    let sender = Ua::new(proxy);
    let mut out = Vec::new();
    for (user, phone) in phones {
        for method in ["MESSAGE", "INVITE"] {
            let call_id = format!("{tag}-{user}-{method}");
            send_request(&sender, method, user, &call_id);
            let got = phone.recv_call(method, &call_id, Duration::from_millis(1500));
            if let Some(req) = &got {
                phone.reply(req, 486, "Busy Here");
            }
            let fin = final_of(&sender, &call_id);
            out.push(format!(
                "{user} {method}: phone {} sender {}",
                if got.is_some() { "rang" } else { "silent" },
                status(&fin)
            ));
        }
    }
    out
}

/// username → `methods` column of a db_text `location` file.
fn methods_column(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let col = |name: &str| {
        head.iter()
            .position(|c| c.starts_with(&format!("{name}(")))
            .unwrap()
    };
    let (user, methods) = (col("username"), col("methods"));
    let mut rows: Vec<(String, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // `\:` is a colon inside a field: no field here holds one
            // before `methods` but the contact and socket, which are
            // rejoined by splitting on unescaped colons only
            let mut cols = Vec::new();
            let mut cur = String::new();
            let mut esc = false;
            for c in l.chars() {
                match (esc, c) {
                    (true, c) => {
                        cur.push(c);
                        esc = false;
                    }
                    (false, '\\') => esc = true,
                    (false, ':') => cols.push(std::mem::take(&mut cur)),
                    (false, c) => cur.push(c),
                }
            }
            cols.push(cur);
            (cols[user].clone(), cols[methods].clone())
        })
        .collect();
    rows.sort();
    rows
}

fn run(filtering: u32) -> Option<Outcome> {
    let dir = TestDir::new(&format!("registrar-methods-{filtering}"));
    let both = side_by_side(&dir, |port| cfg(port, &db_dir(&dir, port), filtering))?;
    let dbs = [both.kamailio.port(), both.sipshard.port()].map(|p| dir.path(&format!("db{p}")));
    let mut results = Vec::new();
    for proxy in [both.kamailio, both.sipshard] {
        wait_answering(proxy);
        let (bob, carol, dave) = (Ua::new(proxy), Ua::new(proxy), Ua::new(proxy));
        let allow = "Allow: INVITE, ACK, CANCEL, BYE\r\n";
        let contact = |u: &str, ua: &Ua| format!("<sip:{u}@{}>", ua.addr);
        let r = bob.register("bob", &contact("bob", &bob), "reg-bob", 1, allow);
        assert_eq!(status(&r), 200, "{r}");
        let c = format!("{};methods=\"MESSAGE\"", contact("carol", &carol));
        let r = carol.register("carol", &c, "reg-carol", 1, allow);
        assert_eq!(status(&r), 200, "{r}");
        let r = dave.register("dave", &contact("dave", &dave), "reg-dave", 1, "");
        assert_eq!(status(&r), 200, "{r}");
        results.push(answers(
            proxy,
            &[("bob", &bob), ("carol", &carol), ("dave", &dave)],
            &format!("f{filtering}-{}", proxy.port()),
        ));
    }
    // both stop: Kamailio's db_text writes its tables out on exit
    drop(both);
    let rows: Vec<Vec<(String, String)>> = dbs
        .iter()
        .map(|d| methods_column(&d.join("location")))
        .collect();
    let sipshard = results.pop().unwrap();
    let kamailio = results.pop().unwrap();
    Some(Outcome {
        kamailio,
        sipshard,
        rows,
    })
}

/// What each server's peers saw, and each server's db_text rows.
struct Outcome {
    kamailio: Vec<String>,
    sipshard: Vec<String>,
    rows: Vec<Vec<(String, String)>>,
}

impl Outcome {
    /// Both servers wrote the methods Kamailio writes: Allow's INVITE,
    /// CANCEL, ACK, BYE = 15, `;methods="MESSAGE"` = 256, neither = NULL.
    fn same_db_rows(&self) {
        assert_eq!(
            self.rows[0], self.rows[1],
            "db_text methods: kamailio vs sipshard"
        );
        assert_eq!(
            self.rows[1],
            [
                ("bob".to_string(), "15".to_string()),
                ("carol".to_string(), "256".to_string()),
                ("dave".to_string(), String::new()),
            ]
        );
    }
}

#[test]
fn method_filtering_skips_bindings_that_do_not_accept_the_method_as_kamailio() {
    let Some(o) = run(1) else {
        return;
    };
    let (kamailio, sipshard) = (&o.kamailio, o.sipshard.as_slice());
    assert_eq!(sipshard, kamailio, "sipshard vs kamailio");
    assert_eq!(
        sipshard,
        [
            "bob MESSAGE: phone silent sender 405",
            "bob INVITE: phone rang sender 486",
            "carol MESSAGE: phone rang sender 486",
            "carol INVITE: phone silent sender 405",
            "dave MESSAGE: phone rang sender 486",
            "dave INVITE: phone rang sender 486",
        ]
    );
    o.same_db_rows();
}

#[test]
fn without_method_filtering_every_request_reaches_the_phone_as_kamailio() {
    let Some(o) = run(0) else {
        return;
    };
    let (kamailio, sipshard) = (&o.kamailio, o.sipshard.as_slice());
    assert_eq!(sipshard, kamailio, "sipshard vs kamailio");
    assert!(
        sipshard
            .iter()
            .all(|l| l.ends_with("phone rang sender 486")),
        "{sipshard:?}"
    );
    o.same_db_rows();
}

/// `sipshard ctl ul.dump` shows each contact's methods as kamcmd does
/// (`Methods`, the bitmask; 4294967295 when unrestricted).
#[test]
fn ul_dump_shows_each_contacts_methods() {
    let dir = TestDir::new("registrar-methods-dump");
    let port = free_port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sock = ctl_socket(&dir);
    let path = dir.write("sipshard.cfg", &cfg(port, &db_dir(&dir, port), 1));
    let _server = Sipshard::start(&path, &["--ctl-socket", sock.to_str().unwrap()]);
    wait_answering(proxy);
    let (bob, dave) = (Ua::new(proxy), Ua::new(proxy));
    let allow = "Allow: INVITE, ACK, CANCEL, BYE\r\n";
    let r = bob.register("bob", &format!("<sip:bob@{}>", bob.addr), "d-bob", 1, allow);
    assert_eq!(status(&r), 200, "{r}");
    let r = dave.register(
        "dave",
        &format!("<sip:dave@{}>", dave.addr),
        "d-dave",
        1,
        "",
    );
    assert_eq!(status(&r), 200, "{r}");
    let dump = ctl_json(&sock, &["ul.dump"]);
    let mut seen = Vec::new();
    for aor in dump["Domains"][0]["AoRs"].as_array().unwrap() {
        for c in aor["Contacts"].as_array().unwrap() {
            seen.push((aor["AoR"].to_string(), c["Methods"].clone()));
        }
    }
    seen.sort_by_key(|(a, _)| a.clone());
    assert_eq!(
        seen,
        [
            ("\"bob\"".to_string(), serde_json::json!(15)),
            ("\"dave\"".to_string(), serde_json::json!(4294967295u32)),
        ],
        "{dump}"
    );
}

const INST_A: &str = "<urn:uuid:00000000-0000-1000-8000-00000000000a>";
const INST_B: &str = "<urn:uuid:00000000-0000-1000-8000-00000000000b>";

/// `name="..."` of the Contact entry of the 200 naming `addr`.
fn gruu_of(ok: &str, addr: SocketAddr, name: &str) -> String {
    let contact = header(ok, "Contact").unwrap();
    let entry = contact
        .split(", <")
        .find(|e| e.contains(&addr.to_string()))
        .unwrap_or_else(|| panic!("no entry for {addr}: {contact}"));
    let v = entry.split(&format!(";{name}=\"")).nth(1).unwrap();
    v.split('"').next().unwrap().to_string()
}

/// Requests to a pub-gruu or temp-gruu of a phone whose binding does not
/// take the method: who gets them and what the sender gets.
fn gruu_answers(proxy: SocketAddr, tag: &str) -> Vec<String> {
    wait_answering(proxy);
    let (a, b) = (Ua::new(proxy), Ua::new(proxy));
    let gruu = "Supported: gruu\r\n";
    let ca = format!("<sip:bob@{}>;+sip.instance=\"{INST_A}\"", a.addr);
    let allow = "Allow: INVITE, ACK, CANCEL, BYE\r\n";
    let r = a.register(
        "bob",
        &ca,
        &format!("{tag}-ra"),
        1,
        &format!("{gruu}{allow}"),
    );
    assert_eq!(status(&r), 200, "{r}");
    let cb = format!("<sip:bob@{}>;+sip.instance=\"{INST_B}\"", b.addr);
    let ok = b.register("bob", &cb, &format!("{tag}-rb"), 1, gruu);
    assert_eq!(status(&ok), 200, "{ok}");
    let targets = [
        ("a pub-gruu", gruu_of(&ok, a.addr, "pub-gruu"), "MESSAGE"),
        ("a pub-gruu", gruu_of(&ok, a.addr, "pub-gruu"), "INVITE"),
        ("a temp-gruu", gruu_of(&ok, a.addr, "temp-gruu"), "MESSAGE"),
        ("a temp-gruu", gruu_of(&ok, a.addr, "temp-gruu"), "INVITE"),
        ("b pub-gruu", gruu_of(&ok, b.addr, "pub-gruu"), "MESSAGE"),
        ("b temp-gruu", gruu_of(&ok, b.addr, "temp-gruu"), "MESSAGE"),
    ];
    let sender = Ua::new(proxy);
    let mut out = Vec::new();
    for (i, (label, uri, method)) in targets.iter().enumerate() {
        let call_id = format!("{tag}-g{i}");
        send_to_uri(&sender, method, uri, &call_id);
        let mut rang = Vec::new();
        for (name, ua) in [("a", &a), ("b", &b)] {
            if let Some(req) = ua.recv_call(method, &call_id, Duration::from_millis(700)) {
                ua.reply(&req, 486, "Busy Here");
                rang.push(name);
            }
        }
        let fin = final_of(&sender, &call_id);
        out.push(format!(
            "{method} to {label}: rang {rang:?} sender {}",
            status(&fin)
        ));
    }
    out
}

/// The gruu forms of `lookup()` filter too: Kamailio gives -2 for a
/// temp-gruu whose binding refuses the method, and for a pub-gruu when a
/// binding of the AOR refused it and none of that instance took it.
#[test]
fn method_filtering_applies_to_gruu_lookups_as_kamailio() {
    let dir = TestDir::new("registrar-methods-gruu");
    let Some(both) = side_by_side(&dir, |port| cfg(port, &db_dir(&dir, port), 1)) else {
        return;
    };
    let kamailio = gruu_answers(both.kamailio, "k");
    let sipshard = gruu_answers(both.sipshard, "s");
    assert_eq!(sipshard, kamailio, "sipshard vs kamailio");
    assert_eq!(
        sipshard,
        [
            "MESSAGE to a pub-gruu: rang [] sender 405",
            "INVITE to a pub-gruu: rang [\"a\"] sender 486",
            "MESSAGE to a temp-gruu: rang [] sender 405",
            "INVITE to a temp-gruu: rang [\"a\"] sender 486",
            "MESSAGE to b pub-gruu: rang [\"b\"] sender 486",
            "MESSAGE to b temp-gruu: rang [\"b\"] sender 486",
        ]
    );
}

/// A Contact whose `;methods` is not a method list is refused, as
/// Kamailio does: 400 with `P-Registrar-Error: Message parse error`, and
/// nothing is saved (a call to the AOR gets the config's 404).
#[test]
fn a_contact_with_a_bad_methods_list_is_refused_as_kamailio() {
    let dir = TestDir::new("registrar-methods-bad");
    let Some(both) = side_by_side(&dir, |port| cfg(port, &db_dir(&dir, port), 1)) else {
        return;
    };
    let mut seen = Vec::new();
    for proxy in [both.kamailio, both.sipshard] {
        wait_answering(proxy);
        let ua = Ua::new(proxy);
        let mut got = Vec::new();
        for (n, m) in ["\"INVITE MESSAGE\"", "\"INVITE,,MESSAGE\""]
            .iter()
            .enumerate()
        {
            let c = format!("<sip:eve@{}>;methods={m}", ua.addr);
            let r = ua.register("eve", &c, &format!("bad-{}-{n}", proxy.port()), 1, "");
            got.push(format!(
                "{} {:?}",
                status(&r),
                header(&r, "P-Registrar-Error")
            ));
        }
        let call_id = format!("bad-call-{}", proxy.port());
        send_request(&ua, "INVITE", "eve", &call_id);
        got.push(status(&final_of(&ua, &call_id)).to_string());
        seen.push(got);
    }
    assert_eq!(seen[1], seen[0], "sipshard vs kamailio");
    assert_eq!(
        seen[1],
        [
            "400 Some(\"Message parse error\")",
            "400 Some(\"Message parse error\")",
            "404"
        ]
    );
}
