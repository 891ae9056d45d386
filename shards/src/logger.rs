//! Log output that never blocks a shard.
//!
//! Shards push finished lines into a bounded channel; one writer thread
//! drains it to stderr. When the channel is full a line is dropped and
//! counted, rather than making a shard wait for the terminal.

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use sipshard_core::route_io::level;

/// Cheap handle to the log writer; clone one per shard.
#[derive(Clone)]
pub struct Logger {
    tx: Sender<String>,
    level: Arc<AtomicI32>,
    dropped: Arc<AtomicU64>,
}

impl Logger {
    /// Starts the writer thread; lines at levels above `debug` are skipped.
    pub fn start(debug: i32) -> Logger {
        let (tx, rx) = bounded::<String>(16 * 1024);
        thread::Builder::new()
            .name("sipshard-log".into())
            .spawn(move || write_lines(rx))
            .expect("spawning the log writer thread");
        Logger {
            tx,
            level: Arc::new(AtomicI32::new(debug)),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn enabled(&self, lvl: i32) -> bool {
        lvl <= self.level.load(Ordering::Relaxed)
    }

    /// Queues a line; `shard` is None for lines from outside the shards.
    pub fn log(&self, lvl: i32, shard: Option<usize>, line: &str) {
        if !self.enabled(lvl) {
            return;
        }
        let who = match shard {
            Some(s) => format!("shard {s}"),
            None => "main".to_string(),
        };
        let text = format!(
            "{} [{}] {}: {}",
            unix_time(),
            who,
            level_name(lvl),
            line.trim_end()
        );
        match self.tx.try_send(text) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues a line whatever the level (start-up banner).
    pub fn always(&self, line: &str) {
        let text = format!("{} [main] NOTICE: {}", unix_time(), line.trim_end());
        if self.tx.try_send(text).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
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
