//! The slab of calls of one generator thread: a `Call` per live scenario
//! instance, reused through a free list (no allocation once the slab has
//! grown to the number of calls in flight), and the challenge copy a
//! REGISTER needs to resend its credentials.

use std::time::Instant;

use crate::sip::dialog::DialogRoute;
use crate::sip::digest::Challenge;
use crate::sip::small::Small;

/// Where a scenario instance stands (which request is outstanding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Slot unused.
    Free,
    /// OPTIONS or MESSAGE sent, awaiting its final response.
    Request,
    /// First REGISTER sent.
    Register,
    /// REGISTER with credentials sent.
    RegisterAuth,
    /// INVITE sent.
    Invite,
    /// CANCEL sent (call-cancel), awaiting its 200 and the INVITE's 487.
    Cancelling,
    /// 487 awaited after the CANCEL's 200 (no retransmission, timeout only).
    AwaitTerminated,
    /// BYE sent.
    Bye,
}

/// A stored Digest challenge.
#[derive(Clone, Copy, Default)]
pub struct StoredChallenge {
    pub realm: Small<64>,
    pub nonce: Small<128>,
    pub opaque: Small<64>,
    pub has_opaque: bool,
    pub qop_auth: bool,
}

impl StoredChallenge {
    /// Copies a parsed challenge; `false` if a parameter is too long.
    pub fn store(&mut self, c: &Challenge<'_>) -> bool {
        self.qop_auth = c.qop_auth;
        self.has_opaque = c.opaque.is_some();
        self.realm.set(c.realm) && self.nonce.set(c.nonce) && self.opaque.set(c.opaque.unwrap_or_default())
    }

    /// A view for answering.
    pub fn view(&self) -> Challenge<'_> {
        Challenge {
            realm: self.realm.get(),
            nonce: self.nonce.get(),
            opaque: self.has_opaque.then(|| self.opaque.get()),
            qop_auth: self.qop_auth,
        }
    }
}

/// One scenario instance.
#[derive(Clone, Copy)]
pub struct Call {
    pub generation: u32,
    pub socket: u16,
    pub phase: Phase,
    /// Intended start (from the schedule, not the actual send).
    pub started: Instant,
    /// Start of the outstanding client transaction.
    pub tx_start: Instant,
    /// When the INVITE was (intended to be) sent.
    pub invite_start: Instant,
    /// Client transaction number (for lazy timer cancellation).
    pub transaction: u32,
    /// Retransmissions of the outstanding request are live.
    pub retransmitting: bool,
    pub got_ringing: bool,
    pub cancel_ok: bool,
    /// The scenario started after the warm-up window (latency is recorded).
    pub measured: bool,
    pub cseq: u32,
    pub to_tag: Small<64>,
    pub challenge: StoredChallenge,
}

/// Calls of one thread, and beside them (not in the `Copy` call, which is
/// copied on every message) the route of each call's dialog.
pub struct Slab {
    calls: Vec<Call>,
    routes: Vec<DialogRoute>,
    free: Vec<u32>,
    live: usize,
}

impl Slab {
    /// An empty slab with room for `capacity` calls.
    pub fn with_capacity(capacity: usize) -> Self {
        Slab {
            calls: Vec::with_capacity(capacity),
            routes: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            live: 0,
        }
    }

    /// Takes a free slot and bumps its generation.
    pub fn allocate(&mut self, now: Instant) -> u32 {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            let c = &mut self.calls[slot as usize];
            c.generation = c.generation.wrapping_add(1);
            return slot;
        }
        self.calls.push(Call {
            generation: 1,
            socket: 0,
            phase: Phase::Free,
            started: now,
            tx_start: now,
            invite_start: now,
            transaction: 0,
            retransmitting: false,
            got_ringing: false,
            cancel_ok: false,
            measured: false,
            cseq: 1,
            to_tag: Small::default(),
            challenge: StoredChallenge::default(),
        });
        self.routes.push(DialogRoute::default());
        (self.calls.len() - 1) as u32
    }

    /// Returns a slot to the free list.
    pub fn release(&mut self, slot: u32) {
        let c = &mut self.calls[slot as usize];
        if c.phase != Phase::Free {
            c.phase = Phase::Free;
            c.retransmitting = false;
            self.free.push(slot);
            self.live -= 1;
        }
    }

    /// The call in `slot`, if that slot exists.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Call> {
        self.calls.get_mut(slot as usize)
    }

    /// The dialog route of the call in `slot` (set from its 2xx).
    pub fn route(&self, slot: u32) -> Option<&DialogRoute> {
        self.routes.get(slot as usize)
    }

    /// The same, to set it.
    pub fn route_mut(&mut self, slot: u32) -> Option<&mut DialogRoute> {
        self.routes.get_mut(slot as usize)
    }

    /// Calls in flight.
    pub fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_slots_with_new_generations() {
        let now = Instant::now();
        let mut s = Slab::with_capacity(2);
        let a = s.allocate(now);
        s.get_mut(a).unwrap().phase = Phase::Invite;
        assert_eq!(s.live(), 1);
        s.release(a);
        s.release(a);
        assert_eq!(s.live(), 0, "double release is harmless");
        let b = s.allocate(now);
        assert_eq!(a, b);
        assert_eq!(s.get_mut(b).unwrap().generation, 2);
    }

    #[test]
    fn small_copies_refuse_overlong_input() {
        let mut t: Small<4> = Small::default();
        assert!(t.set(b"abcd"));
        assert_eq!(t.get(), b"abcd");
        assert!(!t.set(b"abcde"));
        assert_eq!(t.get(), b"");
    }
}
