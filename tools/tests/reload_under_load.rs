//! Hot reload under a steady sipp load: `sipshard ctl cfg.reload` and
//! SIGHUP swap the routing program (the reply code seen on the wire
//! changes), a config with a syntax error is refused with its
//! file:line:column and the running program keeps answering, a changed
//! `shards=` is reported as needing a restart, and sipp sees no failed
//! call across all of it.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;

fn cfg(port: u16, shards: usize, code: u16, reason: &str) -> String {
    format!(
        r#"listen=udp:127.0.0.1:{port}
shards={shards}
debug=1
loadmodule "sl.so"
request_route {{
    sl_send_reply("{code}", "{reason}");
}}
"#
    )
}

/// The reply code of one OPTIONS probe.
fn probe(target: SocketAddr, n: &mut u32) -> Option<u16> {
    *n += 1;
    let r = udp_exchange(
        target,
        &options_to(target, &format!("probe-{n}")),
        Duration::from_secs(2),
    );
    r.as_deref().and_then(status_of)
}

#[test]
fn reload_changes_replies_with_no_failed_call() {
    if !have_sipp() {
        return;
    }
    let dir = TestDir::new("reload-load");
    let port = free_port();
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sock = ctl_socket(&dir);
    let file = dir.write("reload.cfg", &cfg(port, 2, 404, "Not Here"));
    let mut server = Sipshard::start(&file, &["--ctl-socket", sock.to_str().unwrap()]);
    let mut n = 0;
    assert_eq!(probe(target, &mut n), Some(404));

    // A steady load over the whole test: 200 calls/s for about 6 s.
    let calls: u64 = 1200;
    let sipp_port = free_port();
    let load_dir = TestDir::new("reload-load-sipp");
    let load = std::thread::spawn(move || {
        run_sipp(
            &load_dir,
            "load",
            &[
                "-sf".into(),
                scenario("options_200_or_404.xml"),
                format!("127.0.0.1:{port}"),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                sipp_port.to_string(),
                "-m".into(),
                calls.to_string(),
                "-r".into(),
                "200".into(),
            ],
            Duration::from_secs(60),
        )
    });
    std::thread::sleep(Duration::from_millis(800));

    // 1. cfg.reload switches the reply to 200.
    std::fs::write(&file, cfg(port, 2, 200, "Reloaded")).unwrap();
    let out = ctl_json(&sock, &["cfg.reload"]);
    assert_eq!(out["generation"], 2, "{out}");
    assert_eq!(out["needs_restart"], serde_json::json!([]));
    assert_eq!(probe(target, &mut n), Some(200));
    std::thread::sleep(Duration::from_millis(800));

    // 2. A syntax error is refused with file:line:column; 200 continues.
    std::fs::write(
        &file,
        cfg(port, 2, 404, "Broken").replace(
            "sl_send_reply(\"404\", \"Broken\");",
            "sl_send_reply(\"404\" \"Broken\");",
        ),
    )
    .unwrap();
    let (code, _, err) = ctl(&sock, &["cfg.reload"]);
    assert_eq!(code, 1, "{err}");
    let at = format!("{}:6:", file.display());
    assert!(
        err.contains(&at) && err.contains("error"),
        "no {at} in: {err}"
    );
    assert!(err.contains("not reloaded"), "{err}");
    assert_eq!(probe(target, &mut n), Some(200));
    std::thread::sleep(Duration::from_millis(500));

    // 3. SIGHUP reloads too; shards= changed is reported as needing a
    //    restart and the program still swaps.
    std::fs::write(&file, cfg(port, 3, 404, "Back")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut seen = None;
    for _ in 0..50 {
        seen = probe(target, &mut n);
        if seen == Some(404) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, Some(404), "SIGHUP did not reload");
    assert!(server.alive());
    let out = ctl_json(&sock, &["cfg.reload"]);
    assert_eq!(out["generation"], 4, "{out}");
    assert_eq!(out["needs_restart"], serde_json::json!(["shards: 2 -> 3"]));
    let psx = ctl_json(&sock, &["stats.fetch", "sipshard:shards"]);
    assert_eq!(
        psx["sipshard:shards"], 2,
        "shards changed without a restart"
    );

    let r = load.join().unwrap();
    assert_eq!((r.exit, r.successful, r.failed), (0, calls, 0), "{r:?}");
    // The load saw both codes: the stats count 2xx and 4xx replies.
    let s = ctl_json(&sock, &["stats.fetch", "sipshard:"]);
    assert!(s["sipshard:sent_replies_2xx"].as_u64().unwrap() > 50, "{s}");
    assert!(s["sipshard:sent_replies_4xx"].as_u64().unwrap() > 50, "{s}");
}
