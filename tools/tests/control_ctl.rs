//! `sipshard ctl` against a running server: core commands over the control
//! socket, statistics that count what was sent on the wire, the log level
//! changed at run time, and a plain message when no server runs.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

fn cfg(port: u16) -> String {
    format!(
        r#"
listen=udp:127.0.0.1:{port}
shards=2
debug=1
loadmodule "sl.so"
request_route {{
    sl_send_reply("404", "Not Here");
}}
"#
    )
}

#[test]
fn ctl_answers_core_and_stats_commands() {
    let dir = TestDir::new("control-ctl");
    let port = free_port();
    let sock = ctl_socket(&dir);
    let cfg = dir.write("sipshard.cfg", &cfg(port));
    let _server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);

    let (code, out, err) = ctl(&sock, &["core.uptime"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("uptime")), "{out}");
    let up = ctl_json(&sock, &["core.uptime"]);
    assert!(up["uptime"].as_u64().is_some(), "{up}");
    assert_eq!(
        up["now"].as_u64().unwrap() - up["up_since"].as_u64().unwrap(),
        up["uptime"].as_u64().unwrap()
    );

    let v = ctl_json(&sock, &["core.version"]);
    assert!(v.as_str().unwrap().starts_with("sipshard "), "{v}");
    let methods = ctl_json(&sock, &["system.listMethods"]);
    for m in [
        "core.uptime",
        "core.version",
        "core.shmmem",
        "core.psx",
        "stats.get_statistics",
        "stats.reset_statistics",
        "tm.stats",
        "cfg.reload",
        "debug.set_level",
        "corex.debug",
    ] {
        assert!(
            methods.as_array().unwrap().contains(&m.into()),
            "{m} missing: {methods}"
        );
    }
    let psx = ctl_json(&sock, &["core.psx"]);
    let shards = psx
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("shard-"))
        .count();
    assert!(shards >= 2, "{psx}");
    assert!(ctl_json(&sock, &["core.shmmem"])["rss"].as_u64().unwrap() > 0);

    // Statistics count what crossed the wire.
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for i in 0..7 {
        let r = udp_exchange(
            target,
            &options_to(target, &format!("ctl-{i}")),
            Duration::from_secs(2),
        );
        assert_eq!(r.as_deref().and_then(status_of), Some(404));
    }
    let (code, out, _) = ctl(
        &sock,
        &["stats.get_statistics", "core:rcv_requests_options"],
    );
    assert_eq!((code, out.trim()), (0, "core:rcv_requests_options = 7"));
    let all = ctl_json(&sock, &["stats.get_statistics", "all"]);
    assert!(
        all.as_array()
            .unwrap()
            .contains(&"sipshard:sent_replies_4xx = 7".into()),
        "{all}"
    );
    ctl_json(&sock, &["stats.reset_statistics", "all"]);
    let r = udp_exchange(
        target,
        &options_to(target, "ctl-after-reset"),
        Duration::from_secs(2),
    );
    assert_eq!(r.as_deref().and_then(status_of), Some(404));
    let s = ctl_json(&sock, &["stats.fetch", "core:"]);
    assert_eq!(s["core:rcv_requests_options"], 1, "{s}");

    // The log level changes at run time.
    assert_eq!(ctl_json(&sock, &["corex.debug"])["level"], 1);
    assert_eq!(ctl_json(&sock, &["debug.set_level", "3"])["old"], 1);
    assert_eq!(ctl_json(&sock, &["corex.debug"])["level"], 3);
    let (code, _, err) = ctl(&sock, &["corex.debug", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("-32602"), "{err}");

    let (code, _, err) = ctl(&sock, &["no.such.command"]);
    assert_eq!(code, 1);
    assert!(err.contains("Method Not Found"), "{err}");
}

#[test]
fn ctl_without_a_server_says_so() {
    let dir = TestDir::new("control-none");
    let (code, out, err) = ctl(&dir.path("nobody.sock"), &["core.uptime"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("no sipshard server is running"), "{err}");
}
