//! `sipshard ctl COMMAND [ARGS]...`: the kamcmd of sipshard. Sends one
//! JSON-RPC request to a running server's control socket and prints the
//! result as a human table, or as JSON with `--json`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use sipshard_shards::control::paths;

#[derive(clap::Args)]
pub struct CtlArgs {
    /// The server's control socket (default: the runtime directory's, as
    /// `sipshard run` uses).
    #[arg(long = "ctl-socket", short = 's', value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Command, named as kamcmd names it: core.uptime, core.version,
    /// core.psx, core.shmmem, stats.get_statistics, stats.reset_statistics,
    /// cfg.reload, corex.debug, system.listMethods, ...
    command: String,
    /// Its arguments. Numbers are sent as numbers; prefix `s:` to send one
    /// as a string (`s:42`), as kamcmd does.
    args: Vec<String>,
}

/// An argument as kamcmd types it.
fn typed(arg: &str) -> Value {
    if let Some(s) = arg.strip_prefix("s:") {
        return Value::String(s.to_string());
    }
    match arg.parse::<i64>() {
        Ok(i) => json!(i),
        Err(_) => Value::String(arg.to_string()),
    }
}

/// Sends one request; the response object or a message for the operator.
fn call(socket: &Path, method: &str, params: Vec<Value>) -> Result<Value, String> {
    let mut conn = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
            "no sipshard server is running on {} ({e}); start one with `sipshard run`, \
             or name its socket with --ctl-socket PATH",
            socket.display()
        ),
        _ => format!("cannot connect to {}: {e}", socket.display()),
    })?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    writeln!(conn, "{req}").map_err(|e| format!("cannot send to the server: {e}"))?;
    let mut line = String::new();
    BufReader::new(conn)
        .read_line(&mut line)
        .map_err(|e| format!("no answer from the server: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("bad answer from the server ({e}): {line}"))
}

pub fn run(a: CtlArgs) -> i32 {
    let socket = a.socket.clone().unwrap_or_else(paths::default_socket);
    let params = a.args.iter().map(|s| typed(s)).collect();
    let resp = match call(&socket, &a.command, params) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sipshard ctl: {e}");
            return 2;
        }
    };
    if let Some(err) = resp.get("error") {
        if a.json {
            println!("{}", pretty(err));
        } else {
            eprintln!(
                "error: {} - {}",
                err["code"],
                err["message"].as_str().unwrap_or("")
            );
        }
        return 1;
    }
    let result = resp.get("result").cloned().unwrap_or(Value::Null);
    if a.json {
        println!("{}", pretty(&result));
    } else {
        print!("{}", human(&result));
    }
    0
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A result as an operator reads it: a scalar on a line; a list one item
/// per line; a list of objects as a table; an object as aligned
/// `key: value` lines, lists under their key.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            out.push_str(&table(items));
        }
        Value::Array(items) => {
            for i in items {
                out.push_str(&scalar(i));
                out.push('\n');
            }
        }
        Value::Object(obj) => {
            let w = obj.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, val) in obj {
                match val {
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(&format!("{k}:\n"));
                        for i in items {
                            out.push_str(&format!("  - {}\n", scalar(i)));
                        }
                    }
                    Value::Array(_) => out.push_str(&format!("{k:w$}: -\n")),
                    other => out.push_str(&format!("{k:w$}: {}\n", scalar(other))),
                }
            }
        }
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// Columns that identify a row, shown first in this order.
const FIRST_COLUMNS: [&str; 5] = ["idx", "shard", "tid", "name", "cpu"];

fn table(rows: &[Value]) -> String {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        if let Value::Object(o) = r {
            for k in o.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    // Identifying columns first, the rest by name (JSON objects are unordered).
    let rank = |c: &String| {
        FIRST_COLUMNS
            .iter()
            .position(|f| f == c)
            .unwrap_or(FIRST_COLUMNS.len())
    };
    cols.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| scalar(r.get(c).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: &[String]| -> String {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&cols.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>());
    for r in &cells {
        out.push_str(&line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_typed_as_kamcmd_does() {
        assert_eq!(typed("3"), json!(3));
        assert_eq!(typed("s:3"), json!("3"));
        assert_eq!(typed("core:"), json!("core:"));
    }

    #[test]
    fn tables_and_objects() {
        let t = human(&json!([{"tid": 1, "name": "shard-0"}, {"tid": 22, "name": "log"}]));
        assert_eq!(t, "TID  NAME\n1    shard-0\n22   log\n");
        let o =
            human(&json!({"generation": 2, "needs_restart": ["shards: 1 -> 2"], "warnings": []}));
        assert_eq!(
            o,
            "generation   : 2\nneeds_restart:\n  - shards: 1 -> 2\nwarnings     : -\n"
        );
        assert_eq!(
            human(&json!(["core:rcv_requests = 1"])),
            "core:rcv_requests = 1\n"
        );
    }

    #[test]
    fn a_missing_server_is_said_plainly() {
        let e = call(
            Path::new("/nonexistent/sipshard_ctl"),
            "core.uptime",
            vec![],
        )
        .unwrap_err();
        assert!(e.starts_with("no sipshard server is running"), "{e}");
    }
}
