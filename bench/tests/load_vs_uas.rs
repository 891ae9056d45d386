//! `load` against `sipshard-bench uas`: the two sides' counts agree, for a
//! clean run (generator in tick mode and in event mode, glommio UAS and
//! ticking UAS, UDP and TCP) and for a run where the UAS fails a share of
//! calls.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn run_pair(name: &str, port_base: u16, scenario: &str, uas_extra: &[&str]) -> (serde_json::Value, serde_json::Value) {
    run_pair_with(name, port_base, scenario, uas_extra, &[])
}

fn run_pair_with(
    name: &str,
    port_base: u16,
    scenario: &str,
    uas_extra: &[&str],
    load_extra: &[&str],
) -> (serde_json::Value, serde_json::Value) {
    run_pair_at(name, port_base, "300", scenario, uas_extra, load_extra)
}

fn run_pair_at(
    name: &str,
    port_base: u16,
    rate: &str,
    scenario: &str,
    uas_extra: &[&str],
    load_extra: &[&str],
) -> (serde_json::Value, serde_json::Value) {
    let dir = temp_dir(name);
    let port = free_port(port_base);
    let stats = dir.join("uas.json");
    let mut args = vec![
        "uas".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--stats".into(),
        stats.display().to_string(),
    ];
    args.extend(uas_extra.iter().map(|s| s.to_string()));
    let uas = Command::new(harness()).args(&args).stdout(Stdio::null()).spawn().unwrap();
    if uas_extra.contains(&"tcp") {
        wait_listening_tcp(port);
    } else {
        wait_bound(port);
    }
    let load_json = dir.join("load.json");
    let status = Command::new(harness())
        .args([
            "load",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--scenario",
            scenario,
            "--rate",
            rate,
            "--duration",
            "2",
        ])
        .args(["--json", &load_json.display().to_string()])
        .args(load_extra)
        .status()
        .unwrap();
    stop(uas);
    assert!(status.success());
    (read_json(&load_json)["points"][0]["counts"].clone(), read_json(&stats))
}

#[test]
fn call_counts_agree() {
    let (load, uas) = run_pair("call", 26000, "call", &[]);
    assert_eq!(load["started"], 600);
    assert_eq!(load["completed"], 600);
    assert_eq!(load["failed"], 0);
    assert_eq!(uas["requests"]["INVITE"], 600);
    assert_eq!(uas["requests"]["ACK"], 600);
    assert_eq!(uas["requests"]["BYE"], 600);
    assert_eq!(load["latency"]["invite_to_200"]["count"], 600);
}

#[test]
fn a_slow_run_skips_the_empty_ticks() {
    // 50 calls/s for 2 s: a call lives a few 1-ms ticks, then nothing is in
    // flight until the next start 20 ms later. Ticking through those gaps
    // woke the generator ~2 050 times (2 s + the 50-ms lead-in); skipping
    // them leaves a handful per call.
    let (load, uas) = run_pair_at("slow", 27200, "50", "call", &[], &[]);
    assert_eq!(load["completed"], 100, "{load}");
    assert_eq!(uas["requests"]["BYE"], 100, "{uas}");
    let wakeups = load["wakeups"].as_u64().unwrap();
    assert!((100..1_000).contains(&wakeups), "{wakeups} wake-ups for 100 calls");
    // Starts are not late for it: the idle wait ends at the start itself.
    assert!(load["schedule_lag"]["p50_us"].as_u64().unwrap() < 1_000, "{load}");
}

fn assert_clean_calls(load: &serde_json::Value, uas: &serde_json::Value) {
    assert_eq!(load["started"], 600, "{load}");
    assert_eq!(load["completed"], 600, "{load}");
    assert_eq!(load["retransmissions"], 0, "{load}");
    assert_eq!(uas["requests"]["INVITE"], 600, "{uas}");
    assert_eq!(uas["requests"]["BYE"], 600, "{uas}");
}

#[test]
fn call_counts_agree_with_the_generator_in_event_mode() {
    let (load, uas) = run_pair_with("event", 26400, "call", &[], &["--tick-us", "0", "--sockets", "16"]);
    assert_clean_calls(&load, &uas);
}

#[test]
fn call_counts_agree_with_a_ticking_uas() {
    let (load, uas) = run_pair("ticking", 26600, "call", &["--tick-us", "500", "--no-100"]);
    assert_clean_calls(&load, &uas);
    assert_eq!(uas["sent"]["100"], 0);
    // Responses are timed by their kernel arrival: one 500-µs tick of the
    // UAS, not the generator's 1-ms tick, bounds INVITE→180 on a quiet box.
    assert!(load["latency"]["invite_to_180"]["p50_us"].as_u64().unwrap() < 5_000, "{load}");
}

#[test]
fn call_counts_agree_over_tcp() {
    let (load, uas) = run_pair_with("tcp", 26800, "call", &["--transport", "tcp", "--no-100"], &["--transport", "tcp"]);
    assert_clean_calls(&load, &uas);
    assert_eq!(uas["proxied"], 0, "one Via: straight from the generator");
}

#[test]
fn failures_are_counted_by_status_on_both_sides() {
    let (load, uas) = run_pair("fail", 26200, "call", &["--failure-share", "0.2", "--failure-code", "503"]);
    let failed = load["failed_by_status"]["503"].as_u64().unwrap_or(0);
    assert!(failed > 60 && failed < 200, "{failed} of 600 failed");
    assert_eq!(uas["sent"]["failure"].as_u64(), Some(failed));
    assert_eq!(load["completed"].as_u64().unwrap() + failed, 600);
    assert_eq!(uas["requests"]["BYE"].as_u64(), load["completed"].as_u64());
    assert_eq!(uas["requests"]["ACK"], 600, "every final response is ACKed, 2xx or not");
}

#[test]
fn register_options_message_and_cancel_complete() {
    for (i, scenario) in ["register", "options", "message"].iter().enumerate() {
        let (load, uas) = run_pair(scenario, 26400 + 200 * i as u16, scenario, &[]);
        assert_eq!(load["completed"], 600, "{scenario}");
        assert_eq!(
            uas["requests"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
            600,
            "{scenario}"
        );
    }
    let (load, uas) = run_pair("cancel", 27000, "call-cancel", &["--answer-delay-ms", "2000"]);
    assert_eq!(load["completed"], 600);
    assert_eq!(uas["requests"]["CANCEL"], 600);
    assert_eq!(uas["sent"]["487"], 600);
    assert_eq!(load["cancel_too_late"], 0);
}
