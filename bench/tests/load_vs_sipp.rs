//! `load` against sipp's own `uas` scenario: sipp's counters (calls
//! completed and failed, from its -trace_stat file) agree with ours.
//! Needs sipp (Debian package sip-tester): a failure under CI=true if absent.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn call_counts_agree_with_sipp_uas() {
    if !have_tool("sipp") {
        return;
    }
    let dir = temp_dir("sipp-uas");
    let port = free_port(27200);
    let uas = spawn_sipp_uas(&dir, port);
    wait_bound(port);
    let load_json = dir.join("load.json");
    let status = Command::new(harness())
        .args([
            "load",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--scenario",
            "call",
            "--rate",
            "300",
            "--duration",
            "2",
        ])
        .args(["--json", &load_json.display().to_string()])
        .status()
        .unwrap();
    // sipp's uas scenario ends each call 4 s after the BYE's 200 (a pause
    // absorbing retransmissions), then dumps its counters every second.
    std::thread::sleep(Duration::from_millis(6500));
    stop(uas);
    assert!(status.success());
    let load = &read_json(&load_json)["points"][0]["counts"];
    assert_eq!(load["completed"], 600);
    assert_eq!(load["failed"], 0);
    assert_eq!(sipp_stat(&dir, "SuccessfulCall(C)"), 600);
    assert_eq!(sipp_stat(&dir, "FailedCall(C)"), 0);
}
