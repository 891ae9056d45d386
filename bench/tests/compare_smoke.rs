//! `compare --smoke` runs end to end and writes results.json with every
//! system (figures, or the reason it failed) and the SVG plot. Needs
//! Kamailio: a failure under CI=true if absent. The sipshard column is
//! either measured or reported as failed with its reason, never missing.

mod common;

use std::process::Command;

use common::*;

#[test]
fn smoke_writes_results_for_all_systems() {
    if !have_tool("kamailio") {
        return;
    }
    let out = temp_dir("compare");
    let port = free_port(27400);
    let status = Command::new(harness())
        .args([
            "compare",
            "--scenario",
            "stateless",
            "--smoke",
            "--out",
            &out.display().to_string(),
            "--port-base",
            &port.to_string(),
        ])
        .status()
        .unwrap();
    // 0: every system ran; 2: at least one failed (reported, not hidden).
    assert!(matches!(status.code(), Some(0) | Some(2)), "{status}");
    let doc = read_json(&out.join("results.json"));
    let systems = doc["systems"].as_array().unwrap();
    let names: Vec<&str> = systems.iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(names, ["sipshard", "kamailio", "floor"]);
    for s in systems {
        let measured = !s["points"].as_array().unwrap().is_empty();
        assert!(measured || s["error"].is_string(), "{}: neither figures nor a reason", s["system"]);
    }
    for name in ["kamailio", "floor"] {
        let s = systems.iter().find(|s| s["system"] == name).unwrap();
        assert!(s["error"].is_null(), "{name} failed: {}", s["error"]);
        let p = &s["points"][0];
        assert_eq!(p["passed"], true, "{name}: {p}");
        assert!(p["cpu_us_per_message"].as_f64().unwrap() > 0.0);
        assert!(p["system_cpu_user_s"].is_number() && p["system_cpu_system_s"].is_number());
        assert!(
            p["uas"]["proxied"].as_u64().unwrap() > 0 || name == "floor",
            "{name} did not add its Via"
        );
    }
    assert_eq!(status.code() == Some(2), systems.iter().any(|s| !s["error"].is_null()));
    assert!(std::fs::read_to_string(out.join("plot.svg")).unwrap().contains("<polyline"));
}

/// The registrar scenario end to end: both configs check Digest answers
/// with auth_db against the db_text subscriber table compare writes; a
/// wrong table (no such user, wrong password) would turn every REGISTER
/// into a 401 and fail the point. sipshard's column is measured when its
/// binary is built next to the harness.
#[test]
fn smoke_registrar_with_auth_db_on_db_text() {
    if !have_tool("kamailio") {
        return;
    }
    let out = temp_dir("compare-registrar");
    let port = free_port(27600);
    let status = Command::new(harness())
        .args([
            "compare",
            "--scenario",
            "registrar",
            "--smoke",
            "--systems",
            "sipshard,kamailio",
            "--out",
            &out.display().to_string(),
            "--port-base",
            &port.to_string(),
        ])
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0) | Some(2)), "{status}");
    let doc = read_json(&out.join("results.json"));
    let systems = doc["systems"].as_array().unwrap();
    let sipshard_built = harness().with_file_name("sipshard").exists();
    for s in systems {
        let name = s["system"].as_str().unwrap();
        if name == "sipshard" && !sipshard_built {
            assert!(s["error"].as_str().unwrap_or("").contains("not found"), "{s}");
            continue;
        }
        assert!(s["error"].is_null(), "{name} failed: {}", s["error"]);
        let p = &s["points"][0];
        assert_eq!(p["passed"], true, "{name}: {p}");
    }
    // Kamailio's run read its credentials from the table compare wrote.
    let kdir = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("kamailio-"))
        .expect("kamailio's point directory");
    let table = std::fs::read_to_string(kdir.path().join("db").join("subscriber")).unwrap();
    assert!(
        table.lines().nth(1).unwrap_or("").starts_with("1:sipp:127.0.0.1:secret:"),
        "{table}"
    );
}

/// `compare --transport tcp --smoke`: sipshard and Kamailio listen on TCP,
/// the generator and the uas speak TCP; both systems pass (every call
/// completes over TCP end to end, the uas saw the proxy's Via), and the
/// floor, which has no TCP relay, is listed as not run rather than given a
/// figure.
#[test]
fn tcp_smoke_runs_both_proxies_and_says_the_floor_is_udp_only() {
    if !have_tool("kamailio") {
        return;
    }
    let out = temp_dir("compare-tcp");
    let port = free_port(27800);
    let status = Command::new(harness())
        .args(["compare", "--scenario", "stateless", "--smoke", "--transport", "tcp"])
        .args(["--out", &out.display().to_string(), "--port-base", &port.to_string()])
        .status()
        .unwrap();
    let doc = read_json(&out.join("results.json"));
    assert_eq!(doc["transport"], "tcp");
    let systems = doc["systems"].as_array().unwrap();
    for name in ["sipshard", "kamailio"] {
        let s = systems.iter().find(|s| s["system"] == name).unwrap();
        if name == "sipshard" && !harness().with_file_name("sipshard").exists() {
            assert!(s["error"].is_string(), "sipshard: neither figures nor a reason");
            continue;
        }
        assert!(s["error"].is_null(), "{name} failed: {}", s["error"]);
        let p = &s["points"][0];
        assert_eq!(p["passed"], true, "{name}: {p}");
        assert_eq!(p["load"]["counts"]["completed"], p["load"]["counts"]["started"], "{name}: {p}");
        assert!(p["uas"]["proxied"].as_u64().unwrap() > 0, "{name} did not add its Via");
        assert!(p["cpu_us_per_message"].as_f64().unwrap() > 0.0);
    }
    let floor = systems.iter().find(|s| s["system"] == "floor").unwrap();
    assert!(floor["points"].as_array().unwrap().is_empty());
    assert!(floor["not_run"].as_str().unwrap().contains("UDP only"), "{floor}");
    assert_eq!(status.code() == Some(2), systems.iter().any(|s| !s["error"].is_null()), "{status}");
}
