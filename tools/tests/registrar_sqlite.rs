//! db_sqlite: `loadmodule "db_sqlite.so"` and `db_url "sqlite:///FILE"`
//! for usrloc and auth_db. `sipshard subscriber add` writes the subscriber
//! row into the SQLite file (Kamailio's db_sqlite schema), sipp registers
//! with digest auth against it, calls reach the registered UAS; after a
//! restart the binding is read back from the file and calls still reach
//! it; the `location` row is there with Kamailio's columns.

mod common;

use std::time::Duration;

use common::*;
use sipshard_core::usrloc::sqlite;

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
loadmodule "db_sqlite.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_url", "sqlite://{db}")
modparam("usrloc", "db_mode", 1)
modparam("auth_db", "db_url", "sqlite://{db}")
request_route {{
    if (is_method("REGISTER")) {{
        if (!www_authorize("", "subscriber")) {{
            www_challenge("", "0");
            exit;
        }}
        if (!save("location")) {{
            sl_reply_error();
        }}
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

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn calls(dir: &TestDir, proxy: u16, name: &str, n: u64) -> SippResult {
    let target = format!("{HOST}:{proxy}").parse().unwrap();
    uac_calls(dir, name, target, "alice", n, 100, "u1")
}

#[test]
fn sqlite_tables_hold_subscribers_and_bindings_across_a_restart() {
    if !have_sipp() {
        return;
    }
    let dir = TestDir::new("registrar-sqlite");
    let db = dir.path("kamailio.sqlite");
    let (proxy, uas_port) = (free_port(), free_port());
    let cfg = dir.write("sipshard.cfg", &cfg(proxy, &db.display().to_string()));
    let sub = |args: &[&str]| {
        let out = std::process::Command::new(sipshard_bin())
            .arg("subscriber")
            .args(&args[..1])
            .arg("-f")
            .arg(&cfg)
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    sub(&["add", "alice@127.0.0.1", "s3cret"]);
    sub(&["add", "bob@127.0.0.1", "x"]);
    sub(&["rm", "bob@127.0.0.1"]);
    assert_eq!(sub(&["list"]), "alice@127.0.0.1\n");
    assert!(sqlite::has_subscriber(&db, "alice").unwrap());

    let mut server = Sipshard::start(&cfg, &[]);
    let _uas = SippBackground::start(&strings(&[
        "-sn",
        "uas",
        "-i",
        HOST,
        "-p",
        &uas_port.to_string(),
        "-t",
        "u1",
    ]));
    let reg = strings(&[
        &format!("{HOST}:{proxy}"),
        "-sf",
        &scenario("register_auth.xml"),
        "-s",
        "alice",
        "-au",
        "alice",
        "-ap",
        "s3cret",
        "-set",
        "cport",
        &uas_port.to_string(),
        "-i",
        HOST,
        "-p",
        &free_port().to_string(),
        "-m",
        "1",
        "-t",
        "u1",
    ]);
    let r = run_sipp(&dir, "reg", &reg, Duration::from_secs(20));
    assert_eq!((r.successful, r.failed), (1, 0), "{r:?}");
    let r = calls(&dir, proxy, "uac", 200);
    assert!(server.alive());
    assert_eq!((r.successful, r.failed), (200, 0), "{r:?}");

    // the binding is a row of the SQLite location table (write-through)
    std::thread::sleep(Duration::from_millis(300));
    let rows = sqlite::load_location(&db).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "alice");
    assert_eq!(&*rows[0].1.contact, &format!("sip:alice@{HOST}:{uas_port}"));
    assert!(rows[0].1.expires > sipshard_core::usrloc::now() + 3000);

    // restart: read back from the file, calls still reach the UAS
    drop(server);
    let mut server = Sipshard::start(&cfg, &[]);
    let r = calls(&dir, proxy, "uac-restarted", 200);
    assert!(server.alive());
    assert_eq!((r.successful, r.failed), (200, 0), "{r:?}");
}
