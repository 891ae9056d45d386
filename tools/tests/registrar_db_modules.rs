//! A `db_url` whose database module is not loaded is a config error, as
//! Kamailio's `db_bind_mod` refuses it at start-up ("Module db_sqlite not
//! found. Missing loadmodule?"): `sipshard check` and `sipshard run` name
//! the modparam by file:line:column and exit non-zero. usrloc with
//! `db_mode` 0 binds no database, so it needs no module (as Kamailio).

mod common;

use std::process::{Command, Output};

use common::*;

fn sipshard(cmd: &str, cfg: &std::path::Path) -> Output {
    // `timeout`: a `run` that wrongly starts must not hang the test.
    Command::new("timeout")
        .arg("20")
        .arg(sipshard_bin())
        .arg(cmd)
        .arg("-f")
        .arg(cfg)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn cfg(db_module: Option<&str>, url: &str, db_mode: u32) -> String {
    let load = db_module
        .map(|m| format!("loadmodule \"{m}.so\"\n"))
        .unwrap_or_default();
    format!(
        "listen=udp:127.0.0.1:{port}\n\
         loadmodule \"sl.so\"\n\
         loadmodule \"usrloc.so\"\n\
         loadmodule \"registrar.so\"\n\
         loadmodule \"auth.so\"\n\
         loadmodule \"auth_db.so\"\n\
         modparam(\"usrloc\", \"db_mode\", {db_mode})\n\
         modparam(\"usrloc\", \"db_url\", \"{url}\")\n\
         modparam(\"auth_db\", \"db_url\", \"{url}\")\n\
         {load}\
         request_route {{ save(\"location\"); }}\n",
        port = free_port()
    )
}

#[test]
fn sqlite_url_without_db_sqlite_is_refused_at_its_line() {
    let dir = TestDir::new("dbmod-sqlite");
    let db = dir.path("k.sqlite");
    let url = format!("sqlite://{}", db.display());
    let path = dir.write("no-sqlite.cfg", &cfg(None, &url, 1));
    let name = path.display().to_string();
    for cmd in ["check", "run"] {
        let o = sipshard(cmd, &path);
        let t = text(&o);
        assert!(!o.status.success(), "{cmd}: {t}");
        // usrloc's modparam is line 8, auth_db's line 9, both at column 1.
        for line in [8, 9] {
            assert!(
                t.contains(&format!("{name}:{line}:1: error:")) && t.contains("db_sqlite"),
                "{cmd}: no error at line {line}: {t}"
            );
        }
    }
    assert!(!db.exists(), "nothing was written");
    // With the module loaded (after the modparam, as Kamailio allows) the
    // same config checks clean.
    let ok = dir.write("sqlite.cfg", &cfg(Some("db_sqlite"), &url, 1));
    let o = sipshard("check", &ok);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn text_url_without_db_text_is_refused_but_usrloc_db_mode_0_needs_none() {
    let dir = TestDir::new("dbmod-text");
    let url = format!("text://{}", dir.path("db").display());
    let path = dir.write("no-text.cfg", &cfg(None, &url, 2));
    let name = path.display().to_string();
    let o = sipshard("check", &path);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains(&format!("{name}:8:1: error:")), "{t}");
    assert!(t.contains(&format!("{name}:9:1: error:")), "{t}");
    assert!(t.contains("db_text"), "{t}");
    // db_mode 0: usrloc keeps memory only; auth_db still needs db_text.
    let path = dir.write("mode0.cfg", &cfg(None, &url, 0));
    let name = path.display().to_string();
    let o = sipshard("run", &path);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(!t.contains(&format!("{name}:8:")), "{t}");
    assert!(t.contains(&format!("{name}:9:1: error:")), "{t}");
    let ok = dir.write("text.cfg", &cfg(Some("db_text"), &url, 2));
    let o = sipshard("check", &ok);
    assert!(o.status.success(), "{}", text(&o));
}
