//! The control plane: what `sipshard ctl` (the kamcmd of sipshard) and a
//! Prometheus scraper talk to.
//!
//! It runs on its own plain threads, never on a shard: a Unix socket
//! listener speaking newline-delimited JSON-RPC 2.0 ([`unix`]), an optional
//! HTTP listener on an address separate from the SIP ports serving
//! `/metrics` and JSON-RPC on `POST /RPC` ([`http`]), and a thread that
//! turns SIGHUP into `cfg.reload` ([`signals`]). Commands are in a table
//! ([`rpc::Commands`]); the core ones are in [`commands`].

pub mod commands;
pub mod http;
pub mod paths;
pub mod procinfo;
pub mod reload;
pub mod rpc;
pub mod signals;
pub mod unix;
pub mod usrloc_cmds;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::logger::Logger;
use crate::metrics::prom::{self, Sample};
use crate::metrics::StatsSet;
use reload::Reload;
use rpc::Commands;

/// What the commands can see of the running server.
pub struct Control {
    pub started: Instant,
    /// Seconds since the epoch at start.
    pub started_unix: u64,
    /// `sipshard 0.1.0` or similar, for `core.version`.
    pub version: String,
    pub stats: StatsSet,
    pub logger: Logger,
    /// `cfg.reload`; None when the server cannot reload (no file).
    pub reload: Option<Arc<dyn Reload>>,
    pub commands: Commands,
    /// Values subtracted from counters by `stats.get_statistics` since
    /// `stats.reset_statistics` (the counters themselves never go down,
    /// as Prometheus expects).
    baseline: Mutex<HashMap<String, u64>>,
}

impl Control {
    /// A context with the core commands registered; modules add theirs
    /// with `control.commands.add(...)` before the listeners start
    /// ([`unix::serve`], [`http::serve`]).
    pub fn new(
        version: &str,
        stats: StatsSet,
        logger: Logger,
        reload: Option<Arc<dyn Reload>>,
    ) -> Control {
        let mut c = Control {
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            version: version.to_string(),
            stats,
            logger,
            reload,
            commands: Commands::default(),
            baseline: Mutex::new(HashMap::new()),
        };
        commands::register_core(&mut c.commands);
        usrloc_cmds::register(&mut c.commands);
        c
    }

    /// Handles one JSON-RPC request text.
    pub fn call(&self, text: &str) -> Option<String> {
        rpc::handle_text(self, text)
    }

    /// The `/metrics` page.
    pub fn metrics_text(&self) -> String {
        let (reloads, refused) = self.reload.as_ref().map_or((0, 0), |r| r.counts());
        let generation = self.reload.as_ref().map_or(1, |r| r.generation());
        let mem = procinfo::memory();
        let process = [
            Sample {
                name: "sipshard_uptime_seconds",
                help: "Seconds since the server started.",
                kind: "gauge",
                value: self.started.elapsed().as_secs_f64(),
            },
            Sample {
                name: "sipshard_shards",
                help: "Number of shards.",
                kind: "gauge",
                value: self.stats.shards().len() as f64,
            },
            Sample {
                name: "sipshard_log_lines_dropped_total",
                help: "Log lines dropped because the log writer could not keep up.",
                kind: "counter",
                value: self.logger.dropped() as f64,
            },
            Sample {
                name: "sipshard_config_reloads_total",
                help: "Configuration reloads that took effect.",
                kind: "counter",
                value: reloads as f64,
            },
            Sample {
                name: "sipshard_config_reloads_refused_total",
                help: "Configuration reloads refused because the new config had errors.",
                kind: "counter",
                value: refused as f64,
            },
            Sample {
                name: "sipshard_config_generation",
                help: "Generation of the routing program running (1 at start, +1 per reload).",
                kind: "gauge",
                value: generation as f64,
            },
            Sample {
                name: "sipshard_resident_memory_bytes",
                help: "Resident set size of the process.",
                kind: "gauge",
                value: mem.rss as f64,
            },
        ];
        prom::render(&self.stats, &process)
    }
}
