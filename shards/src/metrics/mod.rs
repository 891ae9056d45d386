//! Counters the shards keep about the traffic they carry, and their
//! Prometheus text rendering.
//!
//! Each shard owns one [`ShardStats`], padded to its own cache lines and
//! written only by that shard (Relaxed loads and stores, no locked
//! instruction). The control thread reads all of them from the shared
//! [`StatsSet`] and sums or labels them at scrape time, so the hot path
//! never shares a cache line with another shard or with the scraper.

pub mod classify;
pub mod counters;
pub mod prom;
pub mod tm;
pub mod user;

pub use classify::{classify, Kind, METHODS, STATUS_CLASSES};
pub use counters::{Counter, DropReason, Gauge, Histogram, ShardStats, StatsSet};
