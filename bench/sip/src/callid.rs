//! Call identities: the Call-ID the generator writes carries the call's slot
//! index, its generation, the generator thread and the run number, so a
//! response finds its call in O(1) without a hash table, and a late answer
//! to an earlier call in the same slot (or an earlier run) is recognised.
//! Every field is written as 8 hex digits, so every Call-ID (and the branch
//! and tag made from it) has the same length whatever the numbers: the
//! generator's messages of one kind are then all of one length, which UDP
//! GSO needs to send many of them at once (the harness's `gso` module).

use crate::write::{Out, Overflow};

/// Suffix of every generated Call-ID.
const DOMAIN: &[u8] = b"@sipshard-bench";

/// What a Call-ID identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRef {
    pub slot: u32,
    pub generation: u32,
    pub thread: u32,
    pub run: u32,
}

impl CallRef {
    /// Writes `slot-generation-thread-run@sipshard-bench` (fixed width).
    #[inline]
    pub fn write(&self, out: &mut Out<'_>) -> Result<(), Overflow> {
        self.write_token(out)?.put(DOMAIN)?;
        Ok(())
    }

    /// Writes `slot-generation-thread-run`, each 8 lowercase hex digits: an
    /// RFC 3261 `token` (usable in a Via branch, where the Call-ID's `@` is
    /// not allowed) of 35 bytes whatever the numbers.
    #[inline]
    pub fn write_token<'o, 'b>(&self, out: &'o mut Out<'b>) -> Result<&'o mut Out<'b>, Overflow> {
        out.hex(&self.slot.to_be_bytes())?
            .put(b"-")?
            .hex(&self.generation.to_be_bytes())?
            .put(b"-")?
            .hex(&self.thread.to_be_bytes())?
            .put(b"-")?
            .hex(&self.run.to_be_bytes())
    }

    /// Reads a Call-ID written by [`CallRef::write`]; `None` for any other.
    #[inline]
    pub fn parse(call_id: &[u8]) -> Option<CallRef> {
        let token = call_id.strip_suffix(DOMAIN)?;
        let mut parts = token.split(|&b| b == b'-');
        let r = CallRef {
            slot: parse_hex8(parts.next()?)?,
            generation: parse_hex8(parts.next()?)?,
            thread: parse_hex8(parts.next()?)?,
            run: parse_hex8(parts.next()?)?,
        };
        parts.next().is_none().then_some(r)
    }
}

/// Exactly 8 hex digits (either case) as a u32.
fn parse_hex8(s: &[u8]) -> Option<u32> {
    if s.len() != 8 {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| Some(acc << 4 | char::from(b).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_ids() {
        let c = CallRef {
            slot: 12,
            generation: 3,
            thread: 1,
            run: 777,
        };
        let mut buf = [0u8; 64];
        let mut o = Out::new(&mut buf);
        c.write(&mut o).unwrap();
        assert_eq!(o.written(), b"0000000c-00000003-00000001-00000309@sipshard-bench");
        assert_eq!(CallRef::parse(o.written()), Some(c));
        assert_eq!(CallRef::parse(b"0000000c-00000003-00000001@sipshard-bench"), None);
        assert_eq!(CallRef::parse(b"12-3-1-777@sipshard-bench"), None, "not fixed width");
        assert_eq!(CallRef::parse(b"0000000c-00000003-00000001-0000030g@sipshard-bench"), None);
        assert_eq!(CallRef::parse(b"0000000c-00000003-00000001-00000309@elsewhere"), None);
    }

    #[test]
    fn every_token_has_the_same_length() {
        for (slot, generation, thread, run) in [(0, 0, 0, 0), (9, 10, 0, 1), (u32::MAX, u32::MAX, u32::MAX, u32::MAX)] {
            let c = CallRef {
                slot,
                generation,
                thread,
                run,
            };
            let mut buf = [0u8; 64];
            let mut o = Out::new(&mut buf);
            c.write_token(&mut o).unwrap();
            assert_eq!(o.len(), 35);
            let mut full = [0u8; 64];
            let mut o = Out::new(&mut full);
            c.write(&mut o).unwrap();
            assert_eq!(CallRef::parse(o.written()), Some(c));
        }
    }
}
