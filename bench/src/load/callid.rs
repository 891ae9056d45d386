//! Call identities: the Call-ID the generator writes carries the call's slot
//! index, its generation, the generator thread and the run number, so a
//! response finds its call in O(1) without a hash table, and a late answer
//! to an earlier call in the same slot (or an earlier run) is recognised.

use crate::sip::scan::parse_u32;
use crate::sip::write::{Out, Overflow};

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
    /// Writes `slot-generation-thread-run@sipshard-bench`.
    pub fn write(&self, out: &mut Out<'_>) -> Result<(), Overflow> {
        self.write_token(out)?.put(DOMAIN)?;
        Ok(())
    }

    /// Writes `slot-generation-thread-run`, which is an RFC 3261 `token`
    /// (usable in a Via branch, where the Call-ID's `@` is not allowed).
    pub fn write_token<'o, 'b>(&self, out: &'o mut Out<'b>) -> Result<&'o mut Out<'b>, Overflow> {
        out.num(u64::from(self.slot))?
            .put(b"-")?
            .num(u64::from(self.generation))?
            .put(b"-")?
            .num(u64::from(self.thread))?
            .put(b"-")?
            .num(u64::from(self.run))
    }

    /// Reads a Call-ID written by [`CallRef::write`]; `None` for any other.
    pub fn parse(call_id: &[u8]) -> Option<CallRef> {
        let token = call_id.strip_suffix(DOMAIN)?;
        let mut parts = token.split(|&b| b == b'-');
        let r = CallRef {
            slot: parse_u32(parts.next()?)?,
            generation: parse_u32(parts.next()?)?,
            thread: parse_u32(parts.next()?)?,
            run: parse_u32(parts.next()?)?,
        };
        parts.next().is_none().then_some(r)
    }
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
        assert_eq!(o.written(), b"12-3-1-777@sipshard-bench");
        assert_eq!(CallRef::parse(o.written()), Some(c));
        assert_eq!(CallRef::parse(b"12-3-1@sipshard-bench"), None);
        assert_eq!(CallRef::parse(b"1-1-1-1-1@sipshard-bench"), None);
        assert_eq!(CallRef::parse(b"12-3-1-7@elsewhere"), None);
    }
}
