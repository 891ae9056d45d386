//! Timers without a wheel: every timer of one kind has the same duration and
//! is armed in time order, so each kind is a FIFO whose front is the next to
//! fire. Kinds are the retransmission intervals T1·2^k (RFC 3261 Timers A
//! and E, §17.1.1.2, §17.1.2.2) and the transaction timeout 64·T1 (Timers B
//! and F). Cancelling is lazy: an entry names the call, its generation and
//! transaction number, and is ignored if the call has moved on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Retransmission intervals T1·2^k for k in 0..LEVELS (T1 to 32·T1, which
/// covers INVITE's doubling up to Timer B).
pub const LEVELS: usize = 7;

/// One armed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub due: Instant,
    pub slot: u32,
    pub generation: u32,
    pub transaction: u32,
}

/// What fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// Retransmit; the entry was armed with interval level `level`.
    Retransmit { entry: Entry, level: usize },
    /// The transaction timed out.
    Timeout(Entry),
}

/// All timer FIFOs of one generator thread.
pub struct Timers {
    t1: Duration,
    retransmit: [VecDeque<Entry>; LEVELS],
    timeout: VecDeque<Entry>,
}

impl Timers {
    /// Timers for a given T1 (500 ms in RFC 3261).
    pub fn new(t1: Duration, capacity: usize) -> Self {
        Timers {
            t1,
            retransmit: std::array::from_fn(|_| VecDeque::with_capacity(capacity)),
            timeout: VecDeque::with_capacity(capacity),
        }
    }

    /// The interval of level `k`.
    pub fn interval(&self, level: usize) -> Duration {
        self.t1 * (1u32 << level.min(LEVELS - 1))
    }

    /// Arms a retransmission after `interval(level)`.
    pub fn arm_retransmit(&mut self, now: Instant, level: usize, slot: u32, generation: u32, transaction: u32) {
        let level = level.min(LEVELS - 1);
        let due = now + self.interval(level);
        self.retransmit[level].push_back(Entry {
            due,
            slot,
            generation,
            transaction,
        });
    }

    /// Arms the 64·T1 timeout.
    pub fn arm_timeout(&mut self, now: Instant, slot: u32, generation: u32, transaction: u32) {
        let due = now + self.t1 * 64;
        self.timeout.push_back(Entry {
            due,
            slot,
            generation,
            transaction,
        });
    }

    /// Pops one timer due at `now`, if any (timeouts first).
    pub fn pop_due(&mut self, now: Instant) -> Option<Fired> {
        if self.timeout.front().is_some_and(|e| e.due <= now) {
            return self.timeout.pop_front().map(Fired::Timeout);
        }
        for (level, q) in self.retransmit.iter_mut().enumerate() {
            if q.front().is_some_and(|e| e.due <= now) {
                return q.pop_front().map(|entry| Fired::Retransmit { entry, level });
            }
        }
        None
    }

    /// When the next timer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.retransmit
            .iter()
            .chain(std::iter::once(&self.timeout))
            .filter_map(|q| q.front().map(|e| e.due))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_per_kind() {
        let t0 = Instant::now();
        let mut t = Timers::new(Duration::from_millis(500), 4);
        t.arm_retransmit(t0, 0, 1, 1, 1);
        t.arm_retransmit(t0, 1, 2, 1, 1);
        t.arm_timeout(t0, 3, 1, 1);
        assert_eq!(t.next_due(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(t.pop_due(t0), None);
        match t.pop_due(t0 + Duration::from_millis(1000)) {
            Some(Fired::Retransmit { entry, level: 0 }) => assert_eq!(entry.slot, 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.pop_due(t0 + Duration::from_millis(1000)),
            Some(Fired::Retransmit { level: 1, .. })
        ));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(31)), None);
        assert!(matches!(t.pop_due(t0 + Duration::from_secs(32)), Some(Fired::Timeout(e)) if e.slot == 3));
        assert_eq!(t.interval(9), Duration::from_secs(32), "levels are capped");
    }
}
