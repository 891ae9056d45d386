//! The receiver's anti-replay window (RFC 4303 §3.4.3), 32-bit sequence
//! numbers only (IMS negotiates no ESN, ims-ipsec.md §2.4).
//!
//! RFC 4303 asks for at least 32 packets and a default of 64. This window
//! holds [`REPLAY_WINDOW`] = 128: packets of one SA may be reordered when
//! several shards send for it, and a wider window costs one more word.
//!
//! The check is split in two so the caller can follow §3.4.3's order:
//! [`ReplayWindow::check`] before the ICV is verified, and
//! [`ReplayWindow::accept`] only once it has passed, so a forged packet with
//! a huge sequence number never moves the window.

/// Width of the window in packets.
pub const REPLAY_WINDOW: u32 = 128;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayReject {
    /// Sequence number 0 is never sent.
    Zero,
    /// Already received.
    Duplicate,
    /// Left of the window; `top` is the highest sequence number accepted.
    TooOld { top: u32 },
}

/// Highest accepted sequence number plus a bitmap of the [`REPLAY_WINDOW`]
/// numbers at and below it (bit `i` is `top - i`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    top: u32,
    seen: u128,
}

impl ReplayWindow {
    /// A window that has accepted nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest sequence number accepted so far (0 before the first).
    pub fn top(&self) -> u32 {
        self.top
    }

    /// The pre-ICV check: would `seq` be accepted?
    pub fn check(&self, seq: u32) -> Result<(), ReplayReject> {
        if seq == 0 {
            return Err(ReplayReject::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        let behind = self.top - seq;
        if behind >= REPLAY_WINDOW {
            return Err(ReplayReject::TooOld { top: self.top });
        }
        if self.seen & (1u128 << behind) != 0 {
            return Err(ReplayReject::Duplicate);
        }
        Ok(())
    }

    /// Records `seq` after its ICV passed. Checks again, because another
    /// packet with the same number may have been accepted in between.
    pub fn accept(&mut self, seq: u32) -> Result<(), ReplayReject> {
        self.check(seq)?;
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.top = seq;
        } else {
            self.seen |= 1u128 << (self.top - seq);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_never_valid() {
        assert_eq!(ReplayWindow::new().check(0), Err(ReplayReject::Zero));
    }

    #[test]
    fn in_order_duplicates_and_reordering() {
        let mut w = ReplayWindow::new();
        for s in [1, 2, 3, 5] {
            w.accept(s).unwrap();
        }
        assert_eq!(w.accept(3), Err(ReplayReject::Duplicate));
        assert_eq!(w.accept(4), Ok(()));
        assert_eq!(w.accept(4), Err(ReplayReject::Duplicate));
        assert_eq!(w.top(), 5);
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new();
        w.accept(1000).unwrap();
        // top - (W-1) is the oldest still inside the window.
        assert_eq!(w.check(1000 - (REPLAY_WINDOW - 1)), Ok(()));
        assert_eq!(
            w.check(1000 - REPLAY_WINDOW),
            Err(ReplayReject::TooOld { top: 1000 })
        );
        // A jump of exactly W clears every old bit.
        w.accept(1000 + REPLAY_WINDOW).unwrap();
        assert_eq!(w.check(1001), Ok(()));
        assert_eq!(w.check(1000), Err(ReplayReject::TooOld { top: 1128 }));
    }

    #[test]
    fn bits_survive_a_shift() {
        let mut w = ReplayWindow::new();
        w.accept(10).unwrap();
        w.accept(8).unwrap();
        w.accept(70).unwrap();
        assert_eq!(w.check(10), Err(ReplayReject::Duplicate));
        assert_eq!(w.check(8), Err(ReplayReject::Duplicate));
        assert_eq!(w.check(9), Ok(()));
    }

    #[test]
    fn check_alone_never_moves_the_window() {
        let mut w = ReplayWindow::new();
        w.accept(8).unwrap();
        // A forged packet: the pre-check passes, the ICV fails, accept is
        // never called. seq 8's neighbours must still be acceptable.
        assert_eq!(w.check(u32::MAX), Ok(()));
        assert_eq!(w.accept(7), Ok(()));
        assert_eq!(w.top(), 8);
    }

    #[test]
    fn highest_sequence_number() {
        let mut w = ReplayWindow::new();
        w.accept(u32::MAX).unwrap();
        assert_eq!(w.accept(u32::MAX), Err(ReplayReject::Duplicate));
        assert_eq!(w.accept(u32::MAX - 1), Ok(()));
    }
}
