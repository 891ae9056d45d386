//! Per-shard counters, gauges and a latency histogram.
//!
//! Every value is an `AtomicU64` written by one thread only (the shard that
//! owns the [`ShardStats`]), with a Relaxed load and store rather than a
//! locked read-modify-write: other threads only read. Counters never go
//! down; `stats.reset_statistics` is done by the reader keeping a baseline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::classify::{Kind, METHODS, STATUS_CLASSES};

/// A monotonic count written by one shard.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Only the owning shard may call this.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`. Only the owning shard may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, written by one shard.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in microseconds (`+Inf` is implied).
pub const LATENCY_BUCKETS_US: [u64; 10] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// A latency histogram: a count per bucket (not cumulative; the renderer
/// accumulates), the sum in nanoseconds, and the number of observations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [Counter; LATENCY_BUCKETS_US.len() + 1],
    sum_ns: Counter,
    count: Counter,
}

impl Histogram {
    /// Records one observation. Only the owning shard may call this.
    #[inline]
    pub fn observe(&self, d: Duration) {
        let us = d.as_micros() as u64;
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[i].inc();
        self.sum_ns.add(d.as_nanos() as u64);
        self.count.inc();
    }

    /// Cumulative bucket counts (the last is `+Inf`), the sum in seconds,
    /// and the count.
    pub fn snapshot(&self) -> (Vec<u64>, f64, u64) {
        let mut acc = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                acc += b.get();
                acc
            })
            .collect();
        (cumulative, self.sum_ns.get() as f64 / 1e9, self.count.get())
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The channel to the shard owning the connection was full.
    MeshFull,
    /// A stream connection's write queue was full.
    Congested,
    /// The socket refused the send.
    SendError,
    /// No local socket or connection could carry it.
    NoRoute,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::MeshFull,
        DropReason::Congested,
        DropReason::SendError,
        DropReason::NoRoute,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::MeshFull => "mesh_full",
            DropReason::Congested => "congested",
            DropReason::SendError => "send_error",
            DropReason::NoRoute => "no_route",
        }
    }
}

/// Everything one shard counts. Aligned to 128 bytes so two shards' stats
/// never share a cache line (nor an adjacent-line prefetch pair).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardStats {
    pub rcv_requests: [Counter; METHODS.len()],
    pub rcv_replies: [Counter; STATUS_CLASSES.len()],
    pub sent_requests: [Counter; METHODS.len()],
    pub sent_replies: [Counter; STATUS_CLASSES.len()],
    /// Messages that did not parse (requests answered 400 included).
    pub parse_errors: Counter,
    pub drops: [Counter; DropReason::ALL.len()],
    /// Messages handed to another shard because it owns the connection.
    pub handoffs: Counter,
    /// Open stream connections owned by the shard.
    pub tcp_connections: Gauge,
    /// Time the routing program took per message.
    pub route_latency: Histogram,
    /// Per-message recording (received, sent, route latency) switched off
    /// (`sipshard run --no-metrics`, to measure what it costs).
    pub off: AtomicBool,
    /// The transaction table's counts (`tm` loaded).
    pub tm: super::tm::TmStats,
    /// Script metrics (`xhttp_prom`).
    pub user: Mutex<super::user::UserMetrics>,
}

impl ShardStats {
    /// Counts a received message by its first line.
    #[inline]
    pub fn received(&self, bytes: &[u8]) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        match super::classify(bytes) {
            Kind::Request(m) => self.rcv_requests[m].inc(),
            Kind::Reply(c) => self.rcv_replies[c].inc(),
            Kind::Unknown => {}
        }
    }

    /// Counts a message put on the wire (or handed to the shard that will).
    #[inline]
    pub fn sent(&self, bytes: &[u8]) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        self.sent_kind(super::classify(bytes));
    }

    /// Counts a message sent, already classified.
    #[inline]
    pub fn sent_kind(&self, kind: Kind) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        match kind {
            Kind::Request(m) => self.sent_requests[m].inc(),
            Kind::Reply(c) => self.sent_replies[c].inc(),
            Kind::Unknown => {}
        }
    }

    /// The start of a timed route run; None when recording is off (no
    /// clock read).
    #[inline]
    pub fn route_started(&self) -> Option<Instant> {
        (!self.off.load(Ordering::Relaxed)).then(Instant::now)
    }

    /// The end of a route run started with [`ShardStats::route_started`].
    #[inline]
    pub fn route_done(&self, started: Option<Instant>) {
        if let Some(t) = started {
            self.route_latency.observe(t.elapsed());
        }
    }

    #[inline]
    pub fn dropped(&self, why: DropReason) {
        self.drops[why as usize].inc();
    }
}

/// The stats of every shard, indexed by shard id; shared with the control
/// thread.
#[derive(Debug, Clone)]
pub struct StatsSet {
    shards: Arc<[ShardStats]>,
}

impl StatsSet {
    pub fn new(shards: usize) -> StatsSet {
        StatsSet {
            shards: (0..shards.max(1)).map(|_| ShardStats::default()).collect(),
        }
    }

    /// The stats of shard `id`; ids past the end share the last one (a
    /// shard count that changed without a restart cannot happen, but a
    /// wrong index must not panic on the hot path).
    pub fn shard(&self, id: usize) -> &ShardStats {
        &self.shards[id.min(self.shards.len() - 1)]
    }

    pub fn shards(&self) -> &[ShardStats] {
        &self.shards
    }

    /// Switches per-message recording on or off on every shard.
    pub fn set_recording(&self, on: bool) {
        for s in self.shards.iter() {
            s.off.store(!on, Ordering::Relaxed);
        }
    }

    /// Whether per-message recording is on.
    pub fn recording(&self) -> bool {
        !self.shards[0].off.load(Ordering::Relaxed)
    }

    /// Sum over shards of one counter.
    pub fn sum(&self, f: impl Fn(&ShardStats) -> u64) -> u64 {
        self.shards.iter().map(f).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_stats_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<ShardStats>(), 128);
        let set = StatsSet::new(2);
        let a = set.shard(0) as *const _ as usize;
        let b = set.shard(1) as *const _ as usize;
        assert!(b - a >= 128 && b.is_multiple_of(128));
    }

    #[test]
    fn counts_by_method_and_class_and_sums() {
        let set = StatsSet::new(2);
        set.shard(0).received(b"INVITE sip:x SIP/2.0\r\n");
        set.shard(1).received(b"INVITE sip:x SIP/2.0\r\n");
        set.shard(1).received(b"SIP/2.0 200 OK\r\n");
        set.shard(1).sent(b"SIP/2.0 486 Busy\r\n");
        assert_eq!(set.sum(|s| s.rcv_requests[0].get()), 2);
        assert_eq!(set.sum(|s| s.rcv_replies[1].get()), 1);
        assert_eq!(set.sum(|s| s.sent_replies[3].get()), 1);
        assert_eq!(set.shard(9).sent_replies[3].get(), 1);
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(70));
        h.observe(Duration::from_secs(1));
        let (b, sum, n) = h.snapshot();
        assert_eq!(n, 3);
        assert_eq!(b[0], 1);
        assert_eq!(b[3], 2);
        assert_eq!(*b.last().unwrap(), 3);
        assert!(sum > 1.0 && sum < 1.001);
    }
}

/// What counting costs per message as a shard pays it (received + latency
/// observation + sent). Run with
/// `cargo test --release -p sipshard-shards metrics_cost -- --ignored --nocapture`.
#[cfg(test)]
mod cost {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn metrics_cost_per_message() {
        let set = StatsSet::new(1);
        let st = set.shard(0);
        let rq = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n".to_vec();
        let rp = b"SIP/2.0 200 OK\r\nVia: x\r\n".to_vec();
        let n = 5_000_000u32;
        let t = Instant::now();
        for i in 0..n {
            let msg = std::hint::black_box(if i % 2 == 0 { &rq } else { &rp });
            st.received(msg);
            let started = Instant::now();
            st.route_latency.observe(started.elapsed());
            st.sent(msg);
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!("metrics cost: {ns:.1} ns/message");
        assert_eq!(st.route_latency.snapshot().2, n as u64);
    }
}
