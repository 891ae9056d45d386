//! Byte ranges into a message buffer, stored as `u32` pairs to keep the
//! header index small.

use std::ops::Range;

/// A half-open byte range `start..end` into a message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// Builds a span from `usize` offsets. Messages are limited to
    /// `u32::MAX` bytes by [`crate::sip::Message::parse`].
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end);
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span as a `usize` range, for slicing.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The bytes this span covers in `buf` (empty if out of bounds).
    pub fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.range()).unwrap_or(&[])
    }
}

/// Where `sub` lies inside `outer`, when `sub` is a sub-slice of it
/// (compared by address; no bytes are read).
pub fn offset_in(outer: &[u8], sub: &[u8]) -> Option<Range<usize>> {
    let base = outer.as_ptr() as usize;
    let start = sub.as_ptr() as usize;
    if start < base || start + sub.len() > base + outer.len() {
        return None;
    }
    Some(start - base..start - base + sub.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_slices_and_offsets() {
        let buf = b"hello world";
        let s = Span::new(6, 11);
        assert_eq!(s.of(buf), b"world");
        assert_eq!(s.len(), 5);
        assert_eq!(Span::new(20, 30).of(buf), b"");
        assert_eq!(offset_in(buf, &buf[2..4]), Some(2..4));
        assert_eq!(offset_in(buf, b"other"), None);
    }
}
