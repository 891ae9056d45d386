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

/// `xhttp_prom` script metrics: a counter bumped per OPTIONS (labelled by
/// method) and a gauge set from the script show on `/metrics` with the
/// `kamailio_` prefix, typed, per shard.
#[test]
fn script_counters_count_sipp_options() {
    if !have_sipp() || !have_prometheus_client() {
        return;
    }
    let dir = TestDir::new("metrics-xhttp-prom");
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
loadmodule "xhttp.so"
loadmodule "xhttp_prom.so"
modparam("ctl", "http", "127.0.0.1:{http}")
modparam("xhttp_prom", "prom_counter", "name=requests_seen; label=method; help='Requests the script saw.'")
modparam("xhttp_prom", "prom_gauge", "name=last_answer")
request_route {{
    prom_counter_inc("requests_seen", "1", "$rm");
    prom_gauge_set("last_answer", "404.5");
    sl_send_reply("404", "Not Here");
}}
"#
        ),
    );
    let (code, out, err) = {
        let o = Command::new(sipshard_bin())
            .args(["check", "-f", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        !format!("{out}{err}").contains("has no effect"),
        "{out}{err}"
    );
    let _server = Sipshard::start(&cfg, &[]);
    let calls = 200;
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
            "200".into(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!((r.exit, r.successful, r.failed), (0, calls, 0), "{r:?}");
    let sent_by_sipp = (calls + r.retransmissions) as f64;
    let rows = scrape(http);
    assert_eq!(
        sum(&rows, "kamailio_requests_seen_total", ("method", "OPTIONS")),
        sent_by_sipp
    );
    let fam = rows
        .iter()
        .find(|r| r.name == "kamailio_requests_seen_total")
        .unwrap();
    assert_eq!(fam.kind, "counter");
    assert!(fam.labels["shard"].is_string());
    let g: Vec<&Row> = rows
        .iter()
        .filter(|r| r.name == "kamailio_last_answer")
        .collect();
    assert!(!g.is_empty());
    assert!(g.iter().all(|r| r.kind == "gauge" && r.value == 404.5));
}

/// An unknown metric name or a wrong label count is a compile error.
#[test]
fn undefined_script_metric_is_refused() {
    let dir = TestDir::new("metrics-xhttp-prom-bad");
    let cfg = dir.write(
        "sipshard.cfg",
        r#"
loadmodule "xhttp_prom.so"
modparam("xhttp_prom", "prom_counter", "name=c; label=a:b")
request_route {
    prom_counter_inc("nope", "1");
    prom_counter_inc("c", "1", "x");
}
"#,
    );
    let o = Command::new(sipshard_bin())
        .args(["check", "-f", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("no counter `nope` is defined"), "{text}");
    assert!(text.contains("`c` has 2 label(s), found 1"), "{text}");
}

/// Calls relayed by `t_relay()`: `tm.stats` and the `sipshard_tm_*`
/// families count every INVITE and BYE transaction.
#[test]
fn tm_stats_and_metrics_count_t_relay_calls() {
    if !have_sipp() || !have_prometheus_client() {
        return;
    }
    let dir = TestDir::new("metrics-tm");
    let (port, uas_port, http) = (free_port(), free_port(), free_tcp_port());
    let cfg = dir.write(
        "sipshard.cfg",
        &format!(
            r#"
listen=udp:127.0.0.1:{port}
shards=2
debug=1
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "ctl.so"
modparam("ctl", "http", "127.0.0.1:{http}")
request_route {{
    $du = "sip:127.0.0.1:{uas_port}";
    if (!t_relay()) {{
        sl_reply_error();
    }}
}}
"#
        ),
    );
    let sock = ctl_socket(&dir);
    let _server = Sipshard::start(&cfg, &["--ctl-socket", sock.to_str().unwrap()]);
    let _uas = SippBackground::start(
        &["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    );
    let calls = 200u64;
    let r = run_sipp(
        &dir,
        "uac",
        &[
            "-sn".into(),
            "uac".into(),
            format!("127.0.0.1:{port}"),
            "-s".into(),
            "service".into(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            calls.to_string(),
            "-r".into(),
            "100".into(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!((r.exit, r.successful, r.failed), (0, calls, 0), "{r:?}");
    let tx = 2 * calls; // INVITE and BYE
    let v = ctl_json(&sock, &["tm.stats"]);
    assert_eq!(v["created"], tx, "{v}");
    assert_eq!(v["total"], tx, "{v}");
    assert_eq!(v["2xx"], tx, "{v}");
    assert_eq!(v["4xx"], 0, "{v}");
    assert_eq!(v["replied_locally"], 0, "{v}");
    let (cur, freed) = (v["current"].as_u64().unwrap(), v["freed"].as_u64().unwrap());
    assert_eq!(cur + freed, tx, "{v}");
    assert!(v["waiting"].as_u64().unwrap() <= cur, "{v}");

    let rows = scrape(http);
    let total = |name: &str| -> f64 {
        rows.iter()
            .filter(|r| r.name == name)
            .map(|r| r.value)
            .sum()
    };
    assert_eq!(total("sipshard_tm_transactions_created_total"), tx as f64);
    assert_eq!(
        sum(&rows, "sipshard_tm_final_replies_total", ("class", "2xx")),
        tx as f64
    );
    assert_eq!(
        total("sipshard_tm_transaction_duration_seconds_count"),
        tx as f64
    );
    assert_eq!(
        total("sipshard_tm_transactions") + total("sipshard_tm_transactions_freed_total"),
        tx as f64
    );
    let kinds: std::collections::HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r.family.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(
        kinds["sipshard_tm_transaction_duration_seconds"],
        "histogram"
    );
    assert_eq!(kinds["sipshard_tm_transactions"], "gauge");
    assert_eq!(kinds["sipshard_tm_retransmissions"], "counter");
}
