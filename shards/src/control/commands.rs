//! The core commands, named as Kamailio's RPC names them where one exists.

use serde_json::{json, Value};

use super::procinfo;
use super::rpc::{str_param, Commands, RpcError, RpcResult};
use super::Control;
use crate::logger::level_name;
use crate::metrics::{DropReason, METHODS, STATUS_CLASSES};

/// Registers every core command.
pub fn register_core(c: &mut Commands) {
    c.add("core.uptime", "Now, start time and seconds up.", uptime);
    c.add("core.version", "Version of the server.", |ctl, _| {
        Ok(Value::String(ctl.version.clone()))
    });
    c.add(
        "core.shmmem",
        "Memory of the process (sipshard has no shared-memory pool: resident and virtual size).",
        |_, _| {
            let m = procinfo::memory();
            Ok(json!({"rss": m.rss, "rss_peak": m.rss_peak, "virtual": m.virt}))
        },
    );
    c.add("core.psx", "Threads: shards, log writer, control; CPU time and the CPU each last ran on.", |_, _| {
        Ok(Value::Array(procinfo::threads().into_iter().map(|t| {
            json!({"tid": t.tid, "name": t.name, "cpu": t.cpu, "user_s": t.user_s, "system_s": t.system_s})
        }).collect()))
    });
    c.add(
        "stats.get_statistics",
        "Statistics: all, group: (core:, sipshard:) or names.",
        get_statistics,
    );
    c.add(
        "stats.fetch",
        "Statistics as an object: all, group: or names.",
        fetch_statistics,
    );
    c.add(
        "stats.reset_statistics",
        "Resets counters: all, group: or names (the Prometheus counters keep counting).",
        reset_statistics,
    );
    c.add(
        "stats.clear_statistics",
        "Same as stats.reset_statistics.",
        reset_statistics,
    );
    c.add(
        "tm.stats",
        "Transaction statistics (summed over shards).",
        tm_stats,
    );
    c.add("cfg.reload", "Re-reads, compiles and swaps the routing config on every shard.", |ctl, _| {
        let Some(r) = &ctl.reload else {
            return Err(RpcError::failed("this server runs the built-in config; there is no file to reload"));
        };
        match r.reload() {
            Ok(o) => {
                ctl.logger.always(&format!("cfg.reload: generation {} running", o.generation));
                Ok(json!({"generation": o.generation, "needs_restart": o.needs_restart, "applied": o.applied, "warnings": o.warnings}))
            }
            Err(e) => Err(RpcError::failed(format!("config not reloaded, the running one continues:\n{e}"))),
        }
    });
    c.add(
        "corex.debug",
        "Gets the log level, or sets it: corex.debug [level].",
        set_level,
    );
    c.add(
        "debug.set_level",
        "Sets the log level: debug.set_level level.",
        set_level,
    );
    c.add("system.listMethods", "Names of every command.", |ctl, _| {
        Ok(json!(ctl.commands.names()))
    });
    c.add(
        "system.methodHelp",
        "Help of a command: system.methodHelp name.",
        |ctl, p| {
            let name = str_param(p, 0).ok_or_else(|| RpcError::params("missing command name"))?;
            ctl.commands
                .help(&name)
                .map(|h| Value::String(h.to_string()))
                .ok_or_else(|| RpcError::failed(format!("no command {name}")))
        },
    );
}

fn uptime(ctl: &Control, _: &[Value]) -> RpcResult {
    let up = ctl.started.elapsed().as_secs();
    let now = ctl.started_unix + up;
    Ok(json!({"now": now, "up_since": ctl.started_unix, "uptime": up}))
}

fn set_level(ctl: &Control, p: &[Value]) -> RpcResult {
    let Some(v) = p.first() else {
        let l = ctl.logger.level();
        return Ok(json!({"level": l, "name": level_name(l)}));
    };
    let lvl = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|l| (-5..=3).contains(l))
    .ok_or_else(|| RpcError::params("level must be a number from -5 (L_ALERT) to 3 (L_DBG)"))?
        as i32;
    let old = ctl.logger.set_level(lvl);
    ctl.logger.always(&format!("log level {old} -> {lvl}"));
    Ok(json!({"old": old, "level": lvl, "name": level_name(lvl)}))
}

/// One statistic: `group:name`, value, and whether it is a counter (reset
/// applies) or a gauge.
struct Stat {
    name: String,
    value: u64,
    counter: bool,
}

fn all_stats(ctl: &Control) -> Vec<Stat> {
    let s = &ctl.stats;
    let mut out = Vec::new();
    let mut add = |name: String, value: u64, counter: bool| {
        out.push(Stat {
            name,
            value,
            counter,
        })
    };
    let rq: u64 = (0..METHODS.len())
        .map(|i| s.sum(|x| x.rcv_requests[i].get()))
        .sum();
    let rp: u64 = (0..STATUS_CLASSES.len())
        .map(|i| s.sum(|x| x.rcv_replies[i].get()))
        .sum();
    let fq: u64 = (0..METHODS.len())
        .map(|i| s.sum(|x| x.sent_requests[i].get()))
        .sum();
    let fp: u64 = (0..STATUS_CLASSES.len())
        .map(|i| s.sum(|x| x.sent_replies[i].get()))
        .sum();
    add("core:rcv_requests".into(), rq, true);
    add("core:rcv_replies".into(), rp, true);
    add("core:fwd_requests".into(), fq, true);
    add("sipshard:sent_replies".into(), fp, true);
    add(
        "core:bad_msg_hdr".into(),
        s.sum(|x| x.parse_errors.get()),
        true,
    );
    for (i, m) in METHODS.iter().enumerate() {
        let v = s.sum(|x| x.rcv_requests[i].get());
        add(
            format!("core:rcv_requests_{}", m.to_ascii_lowercase()),
            v,
            true,
        );
    }
    for (i, c) in STATUS_CLASSES.iter().enumerate() {
        add(
            format!("core:rcv_replies_{c}"),
            s.sum(|x| x.rcv_replies[i].get()),
            true,
        );
    }
    for (i, c) in STATUS_CLASSES.iter().enumerate() {
        add(
            format!("sipshard:sent_replies_{c}"),
            s.sum(|x| x.sent_replies[i].get()),
            true,
        );
    }
    for r in DropReason::ALL {
        add(
            format!("sipshard:drops_{}", r.label()),
            s.sum(|x| x.drops[r as usize].get()),
            true,
        );
    }
    add(
        "sipshard:cross_shard_handoffs".into(),
        s.sum(|x| x.handoffs.get()),
        true,
    );
    add(
        "sipshard:tcp_connections".into(),
        s.sum(|x| x.tcp_connections.get()),
        false,
    );
    add(
        "sipshard:log_lines_dropped".into(),
        ctl.logger.dropped(),
        true,
    );
    add("sipshard:shards".into(), s.shards().len() as u64, false);
    if s.sum(|x| x.tm.enabled.get()) > 0 {
        add(
            "tmx:UAS_transactions".into(),
            s.sum(|x| x.tm.created.get()),
            true,
        );
        add(
            "tmx:active_transactions".into(),
            s.sum(|x| x.tm.current.get()),
            false,
        );
        add(
            "tmx:rpl_generated".into(),
            s.sum(|x| x.tm.replied_locally.get()),
            true,
        );
        for (i, c) in ["2xx", "3xx", "4xx", "5xx", "6xx"].iter().enumerate() {
            add(
                format!("tmx:{c}_transactions"),
                s.sum(|x| x.tm.final_replies[i + 1].get()),
                true,
            );
        }
    }
    let m = procinfo::memory();
    add("mem:rss".into(), m.rss, false);
    add("mem:rss_peak".into(), m.rss_peak, false);
    out
}

/// `tm.stats`, with Kamailio's field names.
fn tm_stats(ctl: &Control, _: &[Value]) -> RpcResult {
    let s = &ctl.stats;
    if s.sum(|x| x.tm.enabled.get()) == 0 {
        return Err(RpcError::failed(
            "tm is not loaded: every request is handled statelessly",
        ));
    }
    let created = s.sum(|x| x.tm.created.get());
    let class = |c: usize| s.sum(|x| x.tm.final_replies[c].get());
    Ok(serde_json::json!({
        "current": s.sum(|x| x.tm.current.get()),
        "waiting": s.sum(|x| x.tm.waiting()),
        "total": created,
        "total_local": 0,
        "replied_locally": s.sum(|x| x.tm.replied_locally.get()),
        "6xx": class(5),
        "5xx": class(4),
        "4xx": class(3),
        "3xx": class(2),
        "2xx": class(1),
        "created": created,
        "freed": s.sum(|x| x.tm.freed.get()),
        "retransmissions_received": s.sum(|x| x.tm.retransmissions_received.get()),
        "retransmissions_sent": s.sum(|x| x.tm.retransmissions_sent.get()),
    }))
}

/// Stats selected by `all`, `group:` or full names; every one when no
/// parameter is given.
fn selected(ctl: &Control, p: &[Value]) -> Result<Vec<Stat>, RpcError> {
    let wanted: Vec<String> = (0..p.len())
        .map(|i| str_param(p, i).ok_or_else(|| RpcError::params("statistic names are strings")))
        .collect::<Result<_, _>>()?;
    let all = all_stats(ctl);
    if wanted.is_empty() || wanted.iter().any(|w| w == "all") {
        return Ok(all);
    }
    let picked: Vec<Stat> = all
        .into_iter()
        .filter(|s| {
            wanted.iter().any(|w| match w.strip_suffix(':') {
                Some(group) => s.name.split(':').next() == Some(group),
                None => s.name == *w || s.name.split(':').nth(1) == Some(w.as_str()),
            })
        })
        .collect();
    if picked.is_empty() {
        return Err(RpcError::failed(format!(
            "no statistic matches {}",
            wanted.join(" ")
        )));
    }
    Ok(picked)
}

fn current(ctl: &Control, s: &Stat) -> u64 {
    if !s.counter {
        return s.value;
    }
    let base = ctl.baseline.lock().unwrap_or_else(|e| e.into_inner());
    s.value
        .saturating_sub(base.get(&s.name).copied().unwrap_or(0))
}

fn get_statistics(ctl: &Control, p: &[Value]) -> RpcResult {
    let stats = selected(ctl, p)?;
    Ok(Value::Array(
        stats
            .iter()
            .map(|s| Value::String(format!("{} = {}", s.name, current(ctl, s))))
            .collect(),
    ))
}

fn fetch_statistics(ctl: &Control, p: &[Value]) -> RpcResult {
    let stats = selected(ctl, p)?;
    let mut obj = serde_json::Map::new();
    for s in &stats {
        obj.insert(s.name.clone(), current(ctl, s).into());
    }
    Ok(Value::Object(obj))
}

fn reset_statistics(ctl: &Control, p: &[Value]) -> RpcResult {
    let stats = selected(ctl, p)?;
    let mut base = ctl.baseline.lock().unwrap_or_else(|e| e.into_inner());
    let mut n = 0;
    for s in stats.iter().filter(|s| s.counter) {
        base.insert(s.name.clone(), s.value);
        n += 1;
    }
    Ok(json!({"reset": n}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::Logger;
    use crate::metrics::StatsSet;

    fn ctl() -> Control {
        Control::new("sipshard test", StatsSet::new(2), Logger::start(0), None)
    }

    fn call(c: &Control, method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
        serde_json::from_str(&c.call(&req.to_string()).unwrap()).unwrap()
    }

    #[test]
    fn statistics_sum_shards_and_reset_keeps_counters() {
        let c = ctl();
        c.stats.shard(0).received(b"INVITE sip:a SIP/2.0\r\n");
        c.stats.shard(1).received(b"INVITE sip:a SIP/2.0\r\n");
        let r = call(&c, "stats.get_statistics", json!(["core:rcv_requests"]));
        assert_eq!(r["result"], json!(["core:rcv_requests = 2"]));
        let r = call(&c, "stats.fetch", json!(["core:"]));
        assert_eq!(r["result"]["core:rcv_requests_invite"], 2);
        call(&c, "stats.reset_statistics", json!(["all"]));
        c.stats.shard(1).received(b"BYE sip:a SIP/2.0\r\n");
        let r = call(&c, "stats.fetch", json!(["rcv_requests"]));
        assert_eq!(r["result"]["core:rcv_requests"], 1);
        assert_eq!(c.stats.sum(|s| s.rcv_requests[0].get()), 2);
    }

    #[test]
    fn errors_are_json_rpc_errors() {
        let c = ctl();
        assert_eq!(call(&c, "no.such", json!([]))["error"]["code"], -32601);
        assert_eq!(
            call(&c, "corex.debug", json!(["x"]))["error"]["code"],
            -32602
        );
        assert_eq!(call(&c, "cfg.reload", json!([]))["error"]["code"], 500);
        let r: Value = serde_json::from_str(&c.call("{nope").unwrap()).unwrap();
        assert_eq!(r["error"]["code"], -32700);
        assert!(c
            .call(r#"{"jsonrpc":"2.0","method":"core.uptime"}"#)
            .is_none());
    }

    #[test]
    fn level_is_read_and_set() {
        let c = ctl();
        assert_eq!(call(&c, "corex.debug", json!([]))["result"]["level"], 0);
        assert_eq!(call(&c, "debug.set_level", json!([3]))["result"]["old"], 0);
        assert!(c.logger.enabled(3));
        let names = call(&c, "system.listMethods", json!([]));
        assert!(names["result"]
            .as_array()
            .unwrap()
            .contains(&json!("core.psx")));
    }
}
