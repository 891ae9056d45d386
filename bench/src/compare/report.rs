//! The comparison's derived figures (ratio of each system's CPU per message
//! to Kamailio's and to the floor's at the same offered rate) and the
//! Markdown table printed at the end (and pasted into docs/benchmarks.md).

use serde_json::{json, Value};

fn cpu_at(doc: &Value, system: &str, rate: f64) -> Option<f64> {
    doc["systems"].as_array()?.iter().find(|s| s["system"] == system)?["points"]
        .as_array()?
        .iter()
        .find(|p| p["offered_rate"].as_f64() == Some(rate))?["cpu_us_per_message"]
        .as_f64()
}

/// Adds `ratio_to_kamailio` and `ratio_to_floor` to every point.
pub fn add_ratios(mut doc: Value) -> Value {
    let snapshot = doc.clone();
    let Some(systems) = doc["systems"].as_array_mut() else { return doc };
    for s in systems {
        let Some(points) = s["points"].as_array_mut() else { continue };
        for p in points {
            let (Some(rate), Some(cpu)) = (p["offered_rate"].as_f64(), p["cpu_us_per_message"].as_f64()) else {
                continue;
            };
            let ratio = |base: Option<f64>| base.filter(|b| *b > 0.0).map(|b| cpu / b);
            p["ratio_to_kamailio"] = json!(ratio(cpu_at(&snapshot, "kamailio", rate)));
            p["ratio_to_floor"] = json!(ratio(cpu_at(&snapshot, "floor", rate)));
        }
    }
    doc
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// The Markdown table of a comparison.
pub fn table(doc: &Value) -> String {
    let mut t = format!(
        "workload: {} ({}, {}), {} s per point; system under test: {}; harness: {}\n\n",
        doc["workload"].as_str().unwrap_or("?"),
        doc["scenario"].as_str().unwrap_or("?"),
        doc["transport"].as_str().unwrap_or("udp"),
        doc["duration_s"],
        doc["placement"]["system_under_test"].as_str().unwrap_or("?"),
        doc["placement"]["harness"].as_str().unwrap_or("?"),
    );
    t.push_str("| system | offered/s | achieved/s | verdict | CPU-µs/msg (user+sys) | × Kamailio | × floor | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | failed | retrans | proxy drops | generator CPU-µs/msg |\n");
    t.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for s in doc["systems"].as_array().into_iter().flatten() {
        let name = s["system"].as_str().unwrap_or("?");
        for p in s["points"].as_array().into_iter().flatten() {
            let counts = &p["load"]["counts"];
            t.push_str(&format!(
                "| {name} | {} | {} | {} | {} ({}+{}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                num(&p["offered_rate"], 0),
                num(&p["achieved_rate"], 0),
                if p["passed"].as_bool() == Some(true) { "pass" } else { "FAIL" },
                num(&p["cpu_us_per_message"], 2),
                num(&p["cpu_us_per_message_user"], 2),
                num(&p["cpu_us_per_message_system"], 2),
                num(&p["ratio_to_kamailio"], 2),
                num(&p["ratio_to_floor"], 2),
                p["latency_us"]["p50"],
                p["latency_us"]["p90"],
                p["latency_us"]["p99"],
                p["latency_us"]["p99_9"],
                p["latency_us"]["max"],
                counts["failed"],
                counts["retransmissions"],
                if p["system_socket_drops"].is_null() {
                    "n/a (TCP)".to_string()
                } else {
                    p["system_socket_drops"].to_string()
                },
                num(&p["load"]["generator"]["cpu_us_per_message"], 2),
            ));
        }
        if let Some(e) = s["error"].as_str() {
            t.push_str(&format!("| {name} | FAILED: {} |\n", e.replace('|', "/")));
        }
        if let Some(why) = s["not_run"].as_str() {
            t.push_str(&format!("| {name} | not run: {} |\n", why.replace('|', "/")));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_failed_rows() {
        let doc = json!({
            "workload": "stateless", "scenario": "call", "duration_s": 2,
            "placement": {"system_under_test": "1 core (CPU 0)", "harness": "1 core (CPU 1)"},
            "systems": [
                {"system": "kamailio", "points": [{"offered_rate": 500.0, "cpu_us_per_message": 10.0}], "error": null},
                {"system": "floor", "points": [{"offered_rate": 500.0, "cpu_us_per_message": 5.0}], "error": null},
                {"system": "sipshard", "points": [], "error": "sipshard binary not found"},
                {"system": "relay", "points": [], "error": null, "not_run": "UDP only"},
            ]
        });
        let doc = add_ratios(doc);
        assert_eq!(doc["systems"][1]["points"][0]["ratio_to_kamailio"], 0.5);
        assert_eq!(doc["systems"][0]["points"][0]["ratio_to_floor"], 2.0);
        let t = table(&doc);
        assert!(t.contains("| sipshard | FAILED: sipshard binary not found |"), "{t}");
        assert!(t.contains("| floor | 500 |"), "{t}");
        assert!(t.contains("| relay | not run: UDP only |"), "{t}");
    }
}
