//! `/metrics` on the HTTP control listener, scraped with curl and parsed by
//! Prometheus' own text-format parser (Python `prometheus_client`): the
//! counters match what sipp sent, every family is typed, and JSON-RPC works
//! on the same listener.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Whether Python's prometheus_client is importable; like sipp, missing
/// it fails in CI and skips elsewhere.
fn have_prometheus_client() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok() {
            panic!("python3 prometheus_client is missing (pip install prometheus_client); CI must have it");
        }
        eprintln!("SKIPPED: python3 prometheus_client is missing (pip install prometheus_client)");
    }
    ok
}

/// Parses the exposition with prometheus_client and prints, per sample,
/// `family type name labels-json value`.
const PARSE: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    assert fam.documentation, fam.name
    for s in fam.samples:
        print(fam.name, fam.type, s.name, json.dumps(s.labels, sort_keys=True), s.value)
"#;

struct Row {
    family: String,
    kind: String,
    name: String,
    labels: serde_json::Value,
    value: f64,
}

fn scrape(port: u16) -> Vec<Row> {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl failed");
    let mut py = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = py.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "parser refused the exposition: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    String::from_utf8(res.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            let family = p.next().unwrap().to_string();
            let kind = p.next().unwrap().to_string();
            let name = p.next().unwrap().to_string();
            let rest = p.next().unwrap();
            let (labels, value) = rest.rsplit_once(' ').unwrap();
            Row {
                family,
                kind,
                name,
                labels: serde_json::from_str(labels).unwrap(),
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

fn sum(rows: &[Row], name: &str, label: (&str, &str)) -> f64 {
    rows.iter()
        .filter(|r| r.name == name && r.labels[label.0] == label.1)
        .map(|r| r.value)
        .sum()
}

#[test]
fn metrics_count_what_sipp_sent() {
    if !have_sipp() || !have_prometheus_client() {
        return;
    }
    let dir = TestDir::new("metrics-prom");
    let port = free_port();
    let http = free_tcp_port();
    let cfg = dir.write(
        "sipshard.cfg",
        &format!(
            r#"
listen=udp:127.0.0.1:{port}
shards=2
debug=1
loadmodule "sl.so"
loadmodule "ctl.so"
modparam("ctl", "http", "127.0.0.1:{http}")
request_route {{
    sl_send_reply("404", "Not Here");
}}
"#
        ),
    );
    let sock = ctl_socket(&dir);
    let _server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);
    let calls = 300;
    let r = run_sipp(
        &dir,
        "options",
        &[
            "-sf".into(),
            scenario("options_200_or_404.xml"),
            format!("127.0.0.1:{port}"),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            calls.to_string(),
            "-r".into(),
            "300".into(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!((r.exit, r.successful, r.failed), (0, calls, 0), "{r:?}");
    let sent_by_sipp = (calls + r.retransmissions) as f64;

    let rows = scrape(http);
    // prometheus_client strips `_total` from counter family names.
    let rcv = sum(
        &rows,
        "sipshard_received_requests_total",
        ("method", "OPTIONS"),
    );
    assert_eq!(rcv, sent_by_sipp);
    let rep = sum(&rows, "sipshard_sent_replies_total", ("class", "4xx"));
    assert_eq!(rep, sent_by_sipp);
    assert_eq!(
        sum(&rows, "sipshard_sent_replies_total", ("class", "2xx")),
        0.0
    );
    assert_eq!(
        sum(&rows, "sipshard_parse_errors_total", ("shard", "0")),
        0.0
    );
    let kinds: std::collections::HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r.family.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(kinds["sipshard_received_requests"], "counter");
    assert_eq!(kinds["sipshard_tcp_connections"], "gauge");
    assert_eq!(kinds["sipshard_route_duration_seconds"], "histogram");
    // Every routed message is in the latency histogram.
    let observed: f64 = rows
        .iter()
        .filter(|r| r.name == "sipshard_route_duration_seconds_count")
        .map(|r| r.value)
        .sum();
    assert_eq!(observed, sent_by_sipp);
    // Both shards are labelled, whether or not the kernel gave them traffic.
    for shard in ["0", "1"] {
        assert!(rows
            .iter()
            .any(|r| r.name == "sipshard_received_requests_total" && r.labels["shard"] == shard));
    }

    // JSON-RPC on the same listener, as Kamailio's jsonrpcs serves it.
    let out = Command::new("curl")
        .args([
            "-sf",
            "-d",
            r#"{"jsonrpc":"2.0","method":"stats.fetch","params":["core:rcv_requests_options"],"id":1}"#,
            &format!("http://127.0.0.1:{http}/RPC"),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["result"]["core:rcv_requests_options"].as_f64(),
        Some(sent_by_sipp)
    );
}
