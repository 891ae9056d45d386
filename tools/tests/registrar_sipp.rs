//! Registrar, location service and digest auth on the wire: sipp
//! registers with digest auth (401, then 200 listing the binding), a
//! second sipp calls the registered user through sipshard and the calls
//! reach the sipp UAS whose port the binding names; a wrong password or an
//! unknown user gets 401 and no binding (calls to it get 404); after a
//! restart the binding is still there and calls still reach it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

const HOST: &str = "127.0.0.1";

fn cfg(port: u16, db: &str) -> String {
    format!(
        r#"
listen=udp:{HOST}:{port}
shards=2
debug=1
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_url", "text://{db}")
modparam("auth_db", "db_url", "text://{db}")
request_route {{
    if (is_method("REGISTER")) {{
        if (!www_authorize("", "subscriber")) {{
            www_challenge("", "1");
            exit;
        }}
        consume_credentials();
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (uri == myself) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
}}
"#
    )
}

fn subscriber(cfg: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sipshard_bin())
        .arg("subscriber")
        .args(args.iter().take(1))
        .arg("-f")
        .arg(cfg)
        .args(args.iter().skip(1))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn register(
    dir: &TestDir,
    proxy: u16,
    name: &str,
    user: &str,
    pass: &str,
    cport: u16,
    wrong: bool,
) -> SippResult {
    let sc = if wrong {
        "register_auth_wrong.xml"
    } else {
        "register_auth.xml"
    };
    let args: Vec<String> = [
        &format!("{HOST}:{proxy}"),
        "-sf",
        &scenario(sc),
        "-s",
        user,
        "-au",
        user,
        "-ap",
        pass,
        "-set",
        "cport",
        &cport.to_string(),
        "-i",
        HOST,
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
        "-t",
        "u1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_sipp(dir, name, &args, Duration::from_secs(20))
}

fn calls(dir: &TestDir, proxy: u16, name: &str, user: &str, n: u64, rate: u64) -> SippResult {
    let target: SocketAddr = format!("{HOST}:{proxy}").parse().unwrap();
    uac_calls(dir, name, target, user, n, rate, "u1")
}

fn options_for(user: &str, proxy: u16, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{user}@{HOST}:{proxy} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{HOST}>;tag=probe\r\n\
         To: <sip:{user}@{HOST}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn register_with_auth_then_calls_reach_the_registered_uas_across_a_restart() {
    if !have_sipp() {
        return;
    }
    let dir = TestDir::new("registrar-auth");
    let db = dir.path("db");
    let (proxy, uas_port) = (free_port(), free_port());
    let cfg = dir.write("sipshard.cfg", &cfg(proxy, &db.display().to_string()));
    assert_eq!(subscriber(&cfg, &["add", "alice@127.0.0.1", "s3cret"]).0, 0);
    assert_eq!(subscriber(&cfg, &["add", "carol@127.0.0.1", "x"]).0, 0);
    assert_eq!(subscriber(&cfg, &["rm", "carol@127.0.0.1"]).0, 0);
    let (rc, list) = subscriber(&cfg, &["list"]);
    assert_eq!((rc, list.as_str()), (0, "alice@127.0.0.1\n"));

    let sock = ctl_socket(&dir);
    let mut server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);
    let _uas = SippBackground::start(
        &[
            "-sn",
            "uas",
            "-i",
            HOST,
            "-p",
            &uas_port.to_string(),
            "-t",
            "u1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    );
    // wrong password and unknown user: 401 after the digest answer
    let r = register(
        &dir,
        proxy,
        "reg-wrong",
        "alice",
        "nope",
        uas_port + 1,
        true,
    );
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let r = register(&dir, proxy, "reg-unknown", "bob", "s3cret", uas_port, true);
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let to: SocketAddr = format!("{HOST}:{proxy}").parse().unwrap();
    let resp = udp_exchange(
        to,
        &options_for("bob", proxy, "no-bob"),
        Duration::from_secs(2),
    );
    assert_eq!(resp.as_deref().and_then(status_of), Some(404));
    // 401 then 200 listing the binding
    let r = register(&dir, proxy, "reg", "alice", "s3cret", uas_port, false);
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    std::thread::sleep(Duration::from_millis(50));
    let (code, out, err) = ctl(&sock, &["ul.lookup", "location", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("sip:alice@{HOST}:{uas_port}")),
        "{out}"
    );

    let n = 10_000;
    let r = calls(&dir, proxy, "uac", "alice", n, 1000);
    assert!(server.alive(), "sipshard exited during the run");
    assert_eq!((r.successful, r.failed), (n, 0), "{r:?}");

    // restart: the binding was persisted (db_text) and calls still reach it
    drop(server);
    let mut server = Sipshard::start(&cfg, &[]);
    let r = calls(&dir, proxy, "uac-restarted", "alice", 500, 250);
    assert!(server.alive());
    assert_eq!((r.successful, r.failed), (500, 0), "{r:?}");
    let loc = std::fs::read_to_string(db.join("location")).unwrap();
    assert!(
        loc.starts_with("id(int,auto) ruid(string) username(string)"),
        "{loc}"
    );
}
