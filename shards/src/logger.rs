//! Log output that never blocks a shard.
//!
//! Shards push finished lines into a bounded channel; one writer thread
//! drains it to stderr. When the channel is full a line is dropped and
//! counted, rather than making a shard wait for the terminal.
//!
//! Lines are plain text or one JSON object each ([`LogFormat`]), and carry
//! the time, the shard, the level and, for lines written while a message is
//! routed (`xlog` included), its Call-ID. The level can be changed while
//! the server runs (`debug.set_level` / `corex.debug`).

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use sipshard_core::route_io::level;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `1700000000.123456 [shard 0] INFO: <callid> text`
    #[default]
    Plain,
    /// `{"ts":1700000000.123456,"level":"INFO","shard":0,"callid":"..","msg":".."}`
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plain" | "text" => Ok(LogFormat::Plain),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format `{other}` (plain or json)")),
        }
    }
}

/// Cheap handle to the log writer; clone one per shard.
#[derive(Clone)]
pub struct Logger {
    tx: Sender<String>,
    level: Arc<AtomicI32>,
    dropped: Arc<AtomicU64>,
    format: LogFormat,
}

impl Logger {
    /// Starts the writer thread with plain lines; lines at levels above
    /// `debug` are skipped.
    pub fn start(debug: i32) -> Logger {
        Logger::start_with(debug, LogFormat::Plain)
    }

    /// Starts the writer thread with the given line format.
    pub fn start_with(debug: i32, format: LogFormat) -> Logger {
        let (tx, rx) = bounded::<String>(16 * 1024);
        thread::Builder::new()
            .name("sipshard-log".into())
            .spawn(move || write_lines(rx))
            .expect("spawning the log writer thread");
        Logger {
            tx,
            level: Arc::new(AtomicI32::new(debug)),
            dropped: Arc::new(AtomicU64::new(0)),
            format,
        }
    }

    pub fn enabled(&self, lvl: i32) -> bool {
        lvl <= self.level.load(Ordering::Relaxed)
    }

    /// The current level (Kamailio numbers).
    pub fn level(&self) -> i32 {
        self.level.load(Ordering::Relaxed)
    }

    /// Changes the level for every shard at once; returns the old one.
    pub fn set_level(&self, lvl: i32) -> i32 {
        self.level.swap(lvl, Ordering::Relaxed)
    }

    /// Queues a line; `shard` is None for lines from outside the shards.
    pub fn log(&self, lvl: i32, shard: Option<usize>, line: &str) {
        self.log_call(lvl, shard, None, line);
    }

    /// Queues a line about a message with the given Call-ID.
    pub fn log_call(&self, lvl: i32, shard: Option<usize>, call_id: Option<&[u8]>, line: &str) {
        if !self.enabled(lvl) {
            return;
        }
        let text = self.format_line(lvl, shard, call_id, line);
        self.push(text);
    }

    /// Queues a line whatever the level (start-up banner).
    pub fn always(&self, line: &str) {
        let text = self.format_line(level::NOTICE, None, None, line);
        self.push(text);
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, text: String) {
        match self.tx.try_send(text) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn format_line(
        &self,
        lvl: i32,
        shard: Option<usize>,
        call_id: Option<&[u8]>,
        line: &str,
    ) -> String {
        let call_id = call_id.map(String::from_utf8_lossy);
        let line = line.trim_end();
        match self.format {
            LogFormat::Plain => {
                let who = match shard {
                    Some(s) => format!("shard {s}"),
                    None => "main".to_string(),
                };
                match call_id {
                    Some(c) => format!("{} [{who}] {}: <{c}> {line}", unix_time(), level_name(lvl)),
                    None => format!("{} [{who}] {}: {line}", unix_time(), level_name(lvl)),
                }
            }
            LogFormat::Json => {
                let mut obj = serde_json::Map::new();
                let ts: f64 = unix_time().parse().unwrap_or(0.0);
                obj.insert("ts".into(), ts.into());
                obj.insert("level".into(), level_name(lvl).into());
                obj.insert(
                    "shard".into(),
                    shard.map_or(serde_json::Value::Null, |s| s.into()),
                );
                if let Some(c) = call_id {
                    obj.insert("callid".into(), c.into_owned().into());
                }
                obj.insert("msg".into(), line.into());
                serde_json::Value::Object(obj).to_string()
            }
        }
    }
}

/// The Call-ID (or compact `i`) header value of a raw SIP message, found
/// by scanning its header lines; None when it has none.
pub fn call_id_of(msg: &[u8]) -> Option<&[u8]> {
    let mut headers = msg
        .split(|b| *b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty());
    headers
        .find_map(|l| {
            let colon = l.iter().position(|b| *b == b':')?;
            let name = l[..colon].trim_ascii();
            if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
                Some(l[colon + 1..].trim_ascii())
            } else {
                None
            }
        })
        .filter(|v| !v.is_empty())
}

fn write_lines(rx: Receiver<String>) {
    let stderr = std::io::stderr();
    while let Ok(line) = rx.recv() {
        let mut out = stderr.lock();
        let _ = writeln!(out, "{line}");
        while let Ok(more) = rx.try_recv() {
            let _ = writeln!(out, "{more}");
        }
    }
}

fn unix_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// Kamailio's names for its log levels.
pub fn level_name(lvl: i32) -> &'static str {
    match lvl {
        l if l <= level::ALERT => "ALERT",
        level::BUG => "BUG",
        level::CRIT => "CRITICAL",
        -2 | level::ERR => "ERROR",
        level::WARN => "WARNING",
        level::NOTICE => "NOTICE",
        level::INFO => "INFO",
        _ => "DEBUG",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_call_id_long_and_compact() {
        let m = b"INVITE sip:a SIP/2.0\r\nVia: x\r\nCall-ID: abc@h\r\n\r\n";
        assert_eq!(call_id_of(m), Some(&b"abc@h"[..]));
        let m = b"INVITE sip:a SIP/2.0\r\ni:  q1 \r\n\r\n";
        assert_eq!(call_id_of(m), Some(&b"q1"[..]));
        assert_eq!(call_id_of(b"INVITE sip:a SIP/2.0\r\n\r\n"), None);
    }

    #[test]
    fn json_lines_are_json_with_fields() {
        let l = Logger::start_with(3, LogFormat::Json);
        let s = l.format_line(level::INFO, Some(2), Some(b"c\"1"), "hi \"there\"\n");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["shard"], 2);
        assert_eq!(v["callid"], "c\"1");
        assert_eq!(v["msg"], "hi \"there\"");
    }

    #[test]
    fn level_changes_at_run_time() {
        let l = Logger::start(1);
        assert!(!l.enabled(level::INFO));
        assert_eq!(l.set_level(level::DBG), 1);
        assert!(l.clone().enabled(level::INFO));
    }
}
