//! The `call` scenario's dialog routing on the wire: `load` → sipshard
//! (`record_route()` on the INVITE, in-dialog requests only through
//! `loose_route()`, anything else 404) → `uas`. Every call completes only if
//! the ACK and BYE carry the Route built from the 2xx's Record-Route and the
//! Request-URI is the 2xx's Contact; the uas sees them arrive through the
//! proxy (two Vias, the proxy's Route entry consumed) and sipshard's own
//! statistics count them.
//!
//! Needs the `sipshard` binary next to `sipshard-bench`
//! (`cargo build --release -p sipshard`): a failure under CI=true if absent.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

fn sipshard() -> Option<PathBuf> {
    let path = harness().with_file_name("sipshard");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is required under CI=true (cargo build --release -p sipshard)",
        path.display()
    );
    eprintln!("skipping: {} not built (cargo build --release -p sipshard)", path.display());
    None
}

fn cfg(proxy: u16, uas: u16) -> String {
    format!(
        r#"
listen=udp:127.0.0.1:{proxy}
shards=1
debug=1
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {{
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        sl_send_reply("404", "No Route");
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
    }}
    $ru = "sip:service@127.0.0.1:{uas}";
    t_relay();
}}
"#
    )
}

fn ctl_stats(bin: &PathBuf, socket: &std::path::Path) -> serde_json::Value {
    let out = Command::new(bin)
        .args([
            "ctl",
            "--ctl-socket",
            &socket.display().to_string(),
            "--json",
            "stats.fetch",
            "core:",
        ])
        .output()
        .expect("running sipshard ctl");
    assert!(out.status.success(), "sipshard ctl: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ctl answers JSON")
}

#[test]
fn ack_and_bye_follow_the_record_route_through_loose_route() {
    let Some(bin) = sipshard() else { return };
    let dir = temp_dir("route-set");
    let (proxy, uas_port) = (free_port(28000), free_port(28200));
    let cfg_path = dir.join("sipshard.cfg");
    std::fs::write(&cfg_path, cfg(proxy, uas_port)).unwrap();
    let ctl = dir.join("ctl.sock");
    let server = Running(Some(
        Command::new(&bin)
            .args([
                "run",
                "-f",
                &cfg_path.display().to_string(),
                "--ctl-socket",
                &ctl.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let uas_stats = dir.join("uas.json");
    let uas = Running(Some(
        Command::new(harness())
            .args([
                "uas",
                "--listen",
                &format!("127.0.0.1:{uas_port}"),
                "--stats",
                &uas_stats.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    wait_bound(proxy);
    wait_bound(uas_port);
    let load_json = dir.join("load.json");
    let status = Command::new(harness())
        .args(["load", "--target", &format!("127.0.0.1:{proxy}"), "--scenario", "call"])
        .args(["--rate", "300", "--duration", "2", "--json", &load_json.display().to_string()])
        .status()
        .unwrap();
    let stats = ctl_stats(&bin, &ctl);
    uas.stop();
    server.stop();
    assert!(status.success());
    let load = read_json(&load_json)["points"][0]["counts"].clone();
    let uas = read_json(&uas_stats);
    assert_eq!(load["started"], 600, "{load}");
    assert_eq!(load["completed"], 600, "{load}");
    assert_eq!(load["failed"], 0, "{load}");
    assert_eq!(load["bad_dialogs"], 0, "{load}");
    assert_eq!(uas["requests"]["BYE"], 600, "{uas}");
    assert_eq!(uas["requests"]["ACK"], 600, "{uas}");
    assert_eq!(uas["in_dialog_proxied"], 1200, "ACK and BYE came through the proxy: {uas}");
    assert_eq!(uas["with_route"], 0, "the proxy consumed its own Route entry: {uas}");
    assert_eq!(stats["core:rcv_requests_bye"], 600, "{stats}");
    assert_eq!(stats["core:rcv_requests_ack"], 600, "{stats}");
    assert_eq!(stats["core:rcv_requests_invite"], 600, "{stats}");
}
