//! Path (RFC 3327) per forked branch, side by side with Kamailio 5.6:
//! two phones register through their own edge proxy (`Path:` naming the
//! phone's own socket, `Supported: path`), with unreachable Contacts. A
//! call to the AOR forks; each branch must go to its own first Path hop
//! with that binding's Path as its Route, never the other branch's. The
//! same config and the same sockets run against Kamailio, and what each
//! phone receives (R-URI, Route) and the 200 OKs' Path lines must be the
//! same; so must the answer to a REGISTER with a Path but without
//! `Supported: path` (strict path_mode: 420, the binding saved).

mod common;
mod registrar_ua;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use registrar_ua::*;

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
modparam("registrar", "use_path", 1)
request_route {{
    if (is_method("REGISTER")) {{
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

/// Each phone's view of the call: the R-URI and Route values of the
/// INVITE it got (each answered 486).
fn branches(phones: &[&Ua], call_id: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for ua in phones {
        let req = ua
            .recv_call("INVITE", call_id, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{call_id}: no INVITE at {}", ua.addr));
        let routes = headers(&req, "Route")
            .iter()
            .map(|r| r.to_string())
            .collect();
        out.push((ruri(&req).to_string(), routes));
        ua.reply(&req, 486, "Busy Here");
    }
    out
}

struct Run {
    path_lines: Vec<Vec<String>>,
    branches: Vec<(String, Vec<String>)>,
    /// A REGISTER with Path but no `Supported: path` (strict path_mode):
    /// its status line, Contact, Unsupported, Path, P-Registrar-Error.
    strict: Vec<String>,
}

fn strict_lines(resp: &str) -> Vec<String> {
    let mut out = vec![resp.split("\r\n").next().unwrap_or("").to_string()];
    for name in ["Contact", "Unsupported", "Path", "P-Registrar-Error"] {
        out.extend(headers(resp, name).iter().map(|v| format!("{name}: {v}")));
    }
    out
}

fn run(proxy: SocketAddr, a: &mut Ua, b: &mut Ua, tag: &str) -> Run {
    a.proxy = proxy;
    b.proxy = proxy;
    let mut path_lines = Vec::new();
    for (i, ua) in [&*a, &*b].iter().enumerate() {
        let r = ua.register(
            "bob",
            &format!("<sip:bob@192.0.2.{}:5999>", 20 + i),
            &format!("{tag}-reg{i}"),
            1,
            &format!(
                "Path: <sip:127.0.0.1:{};lr>\r\nSupported: path\r\n",
                ua.addr.port()
            ),
        );
        assert_eq!(status(&r), 200, "{r}");
        path_lines.push(headers(&r, "Path").iter().map(|p| p.to_string()).collect());
    }
    std::thread::sleep(Duration::from_millis(100));
    let caller = Ua::new(proxy);
    let call = format!("{tag}-call");
    caller.invite(&format!("sip:bob@127.0.0.1:{}", proxy.port()), &call);
    let branches = branches(&[&*a, &*b], &call);
    let fin = caller
        .recv_final(Duration::from_secs(5))
        .unwrap_or_default();
    assert_eq!(status(&fin), 486, "{tag}: {fin}");
    let r = a.register(
        "carol",
        "<sip:carol@192.0.2.30:5999>",
        &format!("{tag}-strict"),
        1,
        "Path: <sip:127.0.0.1:9;lr>\r\n",
    );
    Run {
        path_lines,
        branches,
        strict: strict_lines(&r),
    }
}

#[test]
fn each_forked_branch_goes_to_its_own_path_as_kamailio_does() {
    let dir = TestDir::new("registrar-path");
    let Some(both) = side_by_side(&dir, cfg) else {
        return;
    };
    let (kaddr, saddr) = (both.kamailio, both.sipshard);
    let mut a = Ua::new(kaddr);
    let mut b = Ua::new(kaddr);
    let k = run(kaddr, &mut a, &mut b, "k");
    let s = run(saddr, &mut a, &mut b, "s");
    assert_eq!(
        s.path_lines, k.path_lines,
        "Path in the 200 OKs (sipshard, Kamailio)"
    );
    assert_eq!(
        s.branches, k.branches,
        "what each phone got (sipshard, Kamailio)"
    );
    assert_eq!(s.strict, k.strict, "Path without Supported: path");
    assert_eq!(s.strict[0], "SIP/2.0 420 Bad Extension", "{:?}", s.strict);
    // and what that is: each phone its own Contact and its own Path only
    for (i, ua) in [&a, &b].iter().enumerate() {
        let (ruri, routes) = &s.branches[i];
        assert_eq!(ruri, &format!("sip:bob@192.0.2.{}:5999", 20 + i));
        let path = format!("<sip:127.0.0.1:{};lr>", ua.addr.port());
        assert_eq!(
            s.path_lines[i],
            vec![path.clone()],
            "the 200 echoes the Path"
        );
        assert_eq!(routes, &vec![path], "branch {i}");
    }
}
