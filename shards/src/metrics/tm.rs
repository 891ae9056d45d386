//! Transaction-table counters a shard publishes for other threads
//! (`tm.stats`, `/metrics`): copied from its [`TableStats`] after each
//! message or timer run that touched the table.

use sipshard_core::tm::stats::{TableStats, LATENCY_BUCKETS_MS};

use super::counters::Gauge;

#[derive(Debug, Default)]
pub struct TmStats {
    /// 1 when this shard has a transaction table (`tm` loaded).
    pub enabled: Gauge,
    pub current: Gauge,
    pub created: Gauge,
    pub freed: Gauge,
    pub completed: Gauge,
    pub completed_freed: Gauge,
    pub replied_locally: Gauge,
    pub final_replies: [Gauge; 6],
    pub retransmissions_received: Gauge,
    pub retransmissions_sent: Gauge,
    pub latency_buckets: [Gauge; LATENCY_BUCKETS_MS.len() + 1],
    pub latency_sum_ms: Gauge,
}

impl TmStats {
    /// Copies the table's counts (Relaxed stores of values only this shard
    /// writes).
    pub fn publish(&self, live: usize, s: &TableStats) {
        self.enabled.set(1);
        self.current.set(live as u64);
        self.created.set(s.created);
        self.freed.set(s.freed);
        self.completed.set(s.completed);
        self.completed_freed.set(s.completed_freed);
        self.replied_locally.set(s.replied_locally);
        for (g, v) in self.final_replies.iter().zip(s.final_replies) {
            g.set(v);
        }
        self.retransmissions_received
            .set(s.retransmissions_received);
        self.retransmissions_sent.set(s.retransmissions_sent);
        for (g, v) in self.latency_buckets.iter().zip(s.latency_buckets) {
            g.set(v);
        }
        self.latency_sum_ms.set(s.latency_sum_ms);
    }

    pub fn waiting(&self) -> u64 {
        self.completed
            .get()
            .saturating_sub(self.completed_freed.get())
    }
}
