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
