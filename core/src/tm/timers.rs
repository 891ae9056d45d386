//! Transaction timer values (RFC 3261 §17 and Table 4, RFC 6026 §8.4/§8.11,
//! Kamailio tm modparams) and a deadline queue driven by the caller's clock.
//!
//! Sans-IO: nothing here reads a clock. Time is a `u64` count of
//! milliseconds ([`Millis`]) from any origin the runtime picks; every call
//! that needs "now" takes it as an argument, so tests run timers of minutes
//! in microseconds.
//!
//! Two profiles exist. [`Profile::Kamailio`] (the default) reproduces tm
//! 5.6: Timer B/F are `fr_timer` (30 s), INVITE retransmissions are capped at
//! T2 like non-INVITE ones, and every wait state (Timers D, I, J, K, L, M)
//! lasts `wt_timer` (5 s). [`Profile::Rfc3261`] uses the RFC's Table 4.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Duration;

/// A point in time: milliseconds on the caller's clock.
pub type Millis = u64;

/// The RFC 3261 / RFC 6026 transaction timers, plus Timer C (§16.6 step 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Client INVITE request retransmission (§17.1.1.2).
    A,
    /// Client INVITE transaction timeout.
    B,
    /// Proxy INVITE branch timeout after a provisional (§16.6 step 11);
    /// Kamailio's `fr_inv_timer`.
    C,
    /// Client INVITE wait for response retransmissions in Completed.
    D,
    /// Client non-INVITE request retransmission (§17.1.2.2).
    E,
    /// Client non-INVITE transaction timeout.
    F,
    /// Server INVITE final response retransmission (§17.2.1).
    G,
    /// Server INVITE wait for ACK.
    H,
    /// Server INVITE wait for ACK retransmissions in Confirmed.
    I,
    /// Server non-INVITE wait for request retransmissions (§17.2.2).
    J,
    /// Client non-INVITE wait for response retransmissions.
    K,
    /// Server INVITE Accepted state lifetime (RFC 6026 §8.7).
    L,
    /// Client INVITE Accepted state lifetime (RFC 6026 §8.4).
    M,
}

/// Which set of timer rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Kamailio tm 5.6 (kamailio-reference.md §2).
    Kamailio,
    /// RFC 3261 Table 4 and RFC 6026.
    Rfc3261,
}

/// Timer configuration, in Kamailio's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, RTT estimate (`retr_timer1`, 500 ms).
    pub t1: Duration,
    /// T2, maximum retransmission interval (`retr_timer2`, 4 s).
    pub t2: Duration,
    /// T4, maximum time a message stays in the network (5 s).
    pub t4: Duration,
    /// No final response before this: local 408 (`fr_timer`, 30 s).
    pub fr_timer: Duration,
    /// After a provisional on an INVITE branch (`fr_inv_timer`, 120 s).
    pub fr_inv_timer: Duration,
    /// Wait state after completion (`wt_timer`, 5 s).
    pub wt_timer: Duration,
    /// Whole INVITE transaction cap (`max_inv_lifetime`, 180 s).
    pub max_inv_lifetime: Duration,
    /// Whole non-INVITE transaction cap (`max_noninv_lifetime`, 32 s).
    pub max_noninv_lifetime: Duration,
    pub profile: Profile,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig::kamailio()
    }
}

/// A `modparam("tm", ...)` that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimerParamError {
    /// The name is not a tm timer parameter.
    UnknownParam(String),
    /// Zero is not a usable value for this timer.
    Zero(&'static str),
    /// `retr_timer1` must not exceed `retr_timer2`.
    T1AboveT2,
}

impl fmt::Display for TimerParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerParamError::UnknownParam(p) => write!(f, "tm has no timer parameter {p:?}"),
            TimerParamError::Zero(p) => write!(f, "tm parameter {p:?} must be above 0"),
            TimerParamError::T1AboveT2 => f.write_str("retr_timer1 must not exceed retr_timer2"),
        }
    }
}

impl std::error::Error for TimerParamError {}

const fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl TimerConfig {
    /// Kamailio 5.6 defaults (tm `params.xml`).
    pub const fn kamailio() -> TimerConfig {
        TimerConfig {
            t1: ms(500),
            t2: ms(4000),
            t4: ms(5000),
            fr_timer: ms(30_000),
            fr_inv_timer: ms(120_000),
            wt_timer: ms(5000),
            max_inv_lifetime: ms(180_000),
            max_noninv_lifetime: ms(32_000),
            profile: Profile::Kamailio,
        }
    }

    /// RFC 3261 values: Timer B/F = 64·T1, Timer C = 3 min, D = 32 s.
    pub const fn rfc3261() -> TimerConfig {
        TimerConfig {
            t1: ms(500),
            t2: ms(4000),
            t4: ms(5000),
            fr_timer: ms(32_000),
            fr_inv_timer: ms(180_000),
            wt_timer: ms(5000),
            max_inv_lifetime: ms(180_000),
            max_noninv_lifetime: ms(32_000),
            profile: Profile::Rfc3261,
        }
    }

    /// Applies `modparam("tm", name, value_ms)`.
    pub fn set_modparam(&mut self, name: &str, value_ms: u64) -> Result<(), TimerParamError> {
        let slot = match name {
            "retr_timer1" => &mut self.t1,
            "retr_timer2" => &mut self.t2,
            "fr_timer" => &mut self.fr_timer,
            "fr_inv_timer" => &mut self.fr_inv_timer,
            "wt_timer" => &mut self.wt_timer,
            "max_inv_lifetime" => &mut self.max_inv_lifetime,
            "max_noninv_lifetime" => &mut self.max_noninv_lifetime,
            _ => return Err(TimerParamError::UnknownParam(name.to_owned())),
        };
        if value_ms == 0 {
            let n = PARAMS.iter().find(|p| **p == name).copied().unwrap_or("?");
            return Err(TimerParamError::Zero(n));
        }
        let old = *slot;
        *slot = ms(value_ms);
        if self.t1 > self.t2 {
            // Restore: the pair must stay ordered.
            match name {
                "retr_timer1" => self.t1 = old,
                _ => self.t2 = old,
            }
            return Err(TimerParamError::T1AboveT2);
        }
        Ok(())
    }

    /// Interval after `prev` for a retransmission timer: doubled, capped
    /// at T2 (§17.1.2.2 for E, §17.2.1 for G). Timer A is capped only in
    /// the Kamailio profile.
    pub fn next_interval(&self, kind: TimerKind, prev: Duration) -> Duration {
        let doubled = prev.saturating_mul(2);
        match (kind, self.profile) {
            //= RFC 3261 §17.1.1.2
            //# When timer A fires ..., the client transaction MUST retransmit
            //# the request ... and reset the timer with a value of 2*T1.
            (TimerKind::A, Profile::Rfc3261) => doubled,
            _ => doubled.min(self.t2),
        }
    }

    /// The initial duration of `kind` (`reliable`: the transport is a
    /// stream, so waits that only absorb retransmissions are zero).
    pub fn duration(&self, kind: TimerKind, reliable: bool) -> Duration {
        let kam = self.profile == Profile::Kamailio;
        let sixty_four_t1 = self.t1.saturating_mul(64);
        match kind {
            TimerKind::A | TimerKind::E | TimerKind::G => self.t1,
            TimerKind::B | TimerKind::F => self.fr_timer,
            TimerKind::C => self.fr_inv_timer,
            TimerKind::H if kam => self.fr_timer,
            TimerKind::H => sixty_four_t1,
            _ if reliable && !matches!(kind, TimerKind::L | TimerKind::M) => Duration::ZERO,
            TimerKind::D
            | TimerKind::I
            | TimerKind::J
            | TimerKind::K
            | TimerKind::L
            | TimerKind::M
                if kam =>
            {
                self.wt_timer
            }
            //= RFC 3261 §17.1.1.2
            //# Timer D ... with a value of at least 32 seconds for unreliable transports
            TimerKind::D => ms(32_000).max(sixty_four_t1),
            TimerKind::I | TimerKind::K => self.t4,
            TimerKind::J | TimerKind::L | TimerKind::M => sixty_four_t1,
        }
    }
}

/// Kamailio names of the timer modparams [`TimerConfig::set_modparam`] takes.
pub const PARAMS: &[&str] = &[
    "retr_timer1",
    "retr_timer2",
    "fr_timer",
    "fr_inv_timer",
    "wt_timer",
    "max_inv_lifetime",
    "max_noninv_lifetime",
];

/// How finely the runtime wakes for transaction timers, in ms. Deadlines
/// in the same tick share one wake-up (at 2 000 calls/s every transaction
/// arms its timers at a distinct millisecond, which would otherwise wake
/// the shard every millisecond). A timer fires at most `TICK_MS - 1` ms
/// late and never early; RFC 3261's timers (T1 = 500 ms) take that easily,
/// and Kamailio's own timer ticks are coarser (1/16 s).
pub const TICK_MS: Millis = 10;

/// The wake-up time for deadline `at` on a clock that ticks every `tick` ms:
/// `at` rounded up to the next multiple of `tick` (`at` itself when
/// `tick` is 0 or 1, or when rounding up would overflow).
pub fn coalesce(at: Millis, tick: Millis) -> Millis {
    if tick <= 1 {
        return at;
    }
    at.div_ceil(tick).checked_mul(tick).unwrap_or(at)
}

/// A min-heap of deadlines with lazy cancellation.
///
/// The queue does not know which entries are still wanted: the owner keeps
/// the authoritative deadline per timer and discards popped entries that
/// no longer match. [`DeadlineQueue::compact`] drops such stale entries so
/// re-armed timers (Timer C restarts on every provisional) cannot grow the
/// heap without limit.
#[derive(Debug)]
pub struct DeadlineQueue<K> {
    heap: BinaryHeap<Reverse<(Millis, u64, K)>>,
    seq: u64,
}

impl<K: Ord + Copy> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue::new()
    }
}

impl<K: Ord + Copy> DeadlineQueue<K> {
    pub fn new() -> DeadlineQueue<K> {
        DeadlineQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `key` at `at`. Entries with equal deadlines pop in
    /// insertion order.
    pub fn push(&mut self, at: Millis, key: K) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, key)));
    }

    /// The earliest deadline, stale or not: when the runtime should call
    /// back at the latest.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest entry due at `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<(Millis, K)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                self.heap.pop().map(|Reverse((at, _, k))| (at, k))
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Keeps only the entries for which `live(deadline, key)` holds.
    pub fn compact(&mut self, mut live: impl FnMut(Millis, K) -> bool) {
        self.heap.retain(|Reverse((at, _, k))| live(*at, *k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamailio_defaults_and_modparams() {
        let mut c = TimerConfig::default();
        assert_eq!(c.fr_timer, ms(30_000));
        assert_eq!(c.fr_inv_timer, ms(120_000));
        c.set_modparam("fr_timer", 20_000).unwrap();
        assert_eq!(c.duration(TimerKind::B, false), ms(20_000));
        assert_eq!(
            c.set_modparam("retr_timer1", 5000),
            Err(TimerParamError::T1AboveT2)
        );
        assert_eq!(c.t1, ms(500));
        assert!(c.set_modparam("fr_timer", 0).is_err());
        assert!(matches!(
            c.set_modparam("nope", 1),
            Err(TimerParamError::UnknownParam(_))
        ));
    }

    #[test]
    fn invite_retransmission_capped_only_in_kamailio_profile() {
        let k = TimerConfig::kamailio();
        let r = TimerConfig::rfc3261();
        assert_eq!(k.next_interval(TimerKind::A, ms(4000)), ms(4000));
        assert_eq!(r.next_interval(TimerKind::A, ms(4000)), ms(8000));
        assert_eq!(r.next_interval(TimerKind::E, ms(4000)), ms(4000));
    }

    #[test]
    fn reliable_transports_skip_waits() {
        let r = TimerConfig::rfc3261();
        assert_eq!(r.duration(TimerKind::D, true), Duration::ZERO);
        assert_eq!(r.duration(TimerKind::D, false), ms(32_000));
        assert_eq!(r.duration(TimerKind::K, false), ms(5000));
        assert_eq!(r.duration(TimerKind::L, true), ms(32_000));
    }

    #[test]
    fn coalescing_rounds_up_to_the_tick_never_down() {
        assert_eq!(coalesce(0, 10), 0);
        assert_eq!(coalesce(1, 10), 10);
        assert_eq!(coalesce(10, 10), 10);
        assert_eq!(coalesce(11, 10), 20);
        assert_eq!(coalesce(1234, 1), 1234);
        assert_eq!(coalesce(1234, 0), 1234);
        assert_eq!(coalesce(u64::MAX - 3, 10), u64::MAX - 3);
        // Every deadline of one tick shares its wake-up.
        let wakes: std::collections::BTreeSet<_> =
            (501..=510).map(|at| coalesce(at, TICK_MS)).collect();
        assert_eq!(wakes.len(), 1);
    }

    #[test]
    fn queue_pops_in_deadline_order_and_compacts() {
        let mut q = DeadlineQueue::new();
        q.push(30, 3u32);
        q.push(10, 1);
        q.push(20, 2);
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(q.pop_due(5), None);
        assert_eq!(q.pop_due(25), Some((10, 1)));
        assert_eq!(q.pop_due(25), Some((20, 2)));
        q.compact(|_, k| k != 3);
        assert!(q.is_empty());
    }
}
