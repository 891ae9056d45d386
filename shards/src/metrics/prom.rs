//! The Prometheus text exposition format (version 0.0.4) for the shards'
//! stats: one `# HELP` and `# TYPE` line per metric family, one sample per
//! shard (label `shard`), plus process-wide samples given by the caller.

use std::fmt::Write;

use super::counters::{DropReason, ShardStats, StatsSet, LATENCY_BUCKETS_US};
use super::{METHODS, STATUS_CLASSES};
use sipshard_core::tm::stats::LATENCY_BUCKETS_MS;

/// Content-Type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A process-wide sample (no shard label).
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    pub value: f64,
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders every metric.
pub fn render(stats: &StatsSet, process: &[Sample]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for s in process {
        family(&mut out, s.name, s.help, s.kind);
        let _ = writeln!(out, "{} {}", s.name, s.value);
    }
    let shards = stats.shards();
    let by_label = |out: &mut String,
                    name: &str,
                    help: &str,
                    label: &str,
                    values: &[&str],
                    get: &dyn Fn(usize, usize) -> u64| {
        family(out, name, help, "counter");
        for (sid, _) in shards.iter().enumerate() {
            for (i, v) in values.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{sid}\",{label}=\"{v}\"}} {}",
                    get(sid, i)
                );
            }
        }
    };
    by_label(
        &mut out,
        "sipshard_received_requests_total",
        "SIP requests received, by method.",
        "method",
        &METHODS,
        &|s, i| shards[s].rcv_requests[i].get(),
    );
    by_label(
        &mut out,
        "sipshard_received_replies_total",
        "SIP replies received, by status class.",
        "class",
        &STATUS_CLASSES,
        &|s, i| shards[s].rcv_replies[i].get(),
    );
    by_label(
        &mut out,
        "sipshard_sent_requests_total",
        "SIP requests sent (forwarded or generated), by method.",
        "method",
        &METHODS,
        &|s, i| shards[s].sent_requests[i].get(),
    );
    by_label(
        &mut out,
        "sipshard_sent_replies_total",
        "SIP replies sent (relayed or generated), by status class.",
        "class",
        &STATUS_CLASSES,
        &|s, i| shards[s].sent_replies[i].get(),
    );
    let reasons: Vec<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
    by_label(
        &mut out,
        "sipshard_dropped_messages_total",
        "Messages not sent, by reason.",
        "reason",
        &reasons,
        &|s, i| shards[s].drops[i].get(),
    );
    let per_shard =
        |out: &mut String, name: &str, help: &str, kind: &str, get: &dyn Fn(usize) -> u64| {
            family(out, name, help, kind);
            for sid in 0..shards.len() {
                let _ = writeln!(out, "{name}{{shard=\"{sid}\"}} {}", get(sid));
            }
        };
    per_shard(
        &mut out,
        "sipshard_parse_errors_total",
        "Received messages that did not parse.",
        "counter",
        &|s| shards[s].parse_errors.get(),
    );
    per_shard(
        &mut out,
        "sipshard_cross_shard_handoffs_total",
        "Messages handed to the shard that owns their connection.",
        "counter",
        &|s| shards[s].handoffs.get(),
    );
    per_shard(
        &mut out,
        "sipshard_tcp_connections",
        "Open stream connections owned by the shard.",
        "gauge",
        &|s| shards[s].tcp_connections.get(),
    );
    let name = "sipshard_route_duration_seconds";
    family(
        &mut out,
        name,
        "Time the routing program took per message.",
        "histogram",
    );
    for (sid, st) in shards.iter().enumerate() {
        let (buckets, sum, count) = st.route_latency.snapshot();
        for (i, c) in buckets.iter().enumerate() {
            let le = match LATENCY_BUCKETS_US.get(i) {
                Some(us) => format!("{}", *us as f64 / 1e6),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{shard=\"{sid}\",le=\"{le}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_sum{{shard=\"{sid}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{shard=\"{sid}\"}} {count}");
    }
    if shards.iter().any(|s| s.tm.enabled.get() > 0) {
        tm(&mut out, stats);
    }
    super::user::render(&mut out, shards.iter().map(|s| &s.user).enumerate());
    out
}

/// The transaction-table families (`tm` loaded).
fn tm(out: &mut String, stats: &StatsSet) {
    let shards = stats.shards();
    let per_shard =
        |out: &mut String, name: &str, help: &str, kind: &str, get: &dyn Fn(&ShardStats) -> u64| {
            family(out, name, help, kind);
            for (sid, s) in shards.iter().enumerate() {
                let _ = writeln!(out, "{name}{{shard=\"{sid}\"}} {}", get(s));
            }
        };
    per_shard(
        out,
        "sipshard_tm_transactions",
        "Live transactions.",
        "gauge",
        &|s| s.tm.current.get(),
    );
    per_shard(
        out,
        "sipshard_tm_waiting_transactions",
        "Transactions that sent their final response and wait to be freed.",
        "gauge",
        &|s| s.tm.waiting(),
    );
    per_shard(
        out,
        "sipshard_tm_transactions_created_total",
        "Transactions created.",
        "counter",
        &|s| s.tm.created.get(),
    );
    per_shard(
        out,
        "sipshard_tm_transactions_completed_total",
        "Transactions whose final response went upstream.",
        "counter",
        &|s| s.tm.completed.get(),
    );
    per_shard(
        out,
        "sipshard_tm_transactions_freed_total",
        "Transactions freed.",
        "counter",
        &|s| s.tm.freed.get(),
    );
    per_shard(
        out,
        "sipshard_tm_replied_locally_total",
        "Final responses the proxy generated (t_reply, timeouts, 503 when full).",
        "counter",
        &|s| s.tm.replied_locally.get(),
    );
    let name = "sipshard_tm_final_replies_total";
    family(
        out,
        name,
        "Final responses sent upstream by transactions, by class.",
        "counter",
    );
    for (sid, s) in shards.iter().enumerate() {
        for (i, c) in STATUS_CLASSES.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{sid}\",class=\"{c}\"}} {}",
                s.tm.final_replies[i].get()
            );
        }
    }
    let name = "sipshard_tm_retransmissions_total";
    family(out, name, "Retransmissions: requests absorbed by a transaction (received), requests and responses the timers resent (sent).", "counter");
    for (sid, s) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "{name}{{shard=\"{sid}\",direction=\"received\"}} {}",
            s.tm.retransmissions_received.get()
        );
        let _ = writeln!(
            out,
            "{name}{{shard=\"{sid}\",direction=\"sent\"}} {}",
            s.tm.retransmissions_sent.get()
        );
    }
    let name = "sipshard_tm_transaction_duration_seconds";
    family(
        out,
        name,
        "Time from a request in to its final response out (millisecond clock).",
        "histogram",
    );
    for (sid, s) in shards.iter().enumerate() {
        let mut acc = 0;
        for (i, g) in s.tm.latency_buckets.iter().enumerate() {
            acc += g.get();
            let le = match LATENCY_BUCKETS_MS.get(i) {
                Some(ms) => format!("{}", *ms as f64 / 1e3),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{shard=\"{sid}\",le=\"{le}\"}} {acc}");
        }
        let _ = writeln!(
            out,
            "{name}_sum{{shard=\"{sid}\"}} {}",
            s.tm.latency_sum_ms.get() as f64 / 1e3
        );
        let _ = writeln!(out, "{name}_count{{shard=\"{sid}\"}} {acc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_has_help_and_type() {
        let stats = StatsSet::new(2);
        stats.shard(1).received(b"OPTIONS sip:x SIP/2.0\r\n");
        let text = render(
            &stats,
            &[Sample {
                name: "sipshard_up",
                help: "1",
                kind: "gauge",
                value: 1.0,
            }],
        );
        assert!(
            text.contains("sipshard_received_requests_total{shard=\"1\",method=\"OPTIONS\"} 1\n")
        );
        assert!(
            text.contains("sipshard_route_duration_seconds_bucket{shard=\"0\",le=\"+Inf\"} 0\n")
        );
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                let base = name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                assert!(typed.contains(name) || typed.contains(base), "{l}");
            }
        }
    }
}
