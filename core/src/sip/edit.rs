//! Splicing edits (Kamailio's "lumps", `src/core/data_lump.c`): inserts,
//! deletions and replacements queued against the *original* offsets of a
//! [`Message`] and applied in one pass into a new buffer. Untouched bytes
//! are copied, never re-serialised. The message itself is not modified, so
//! after `remove_header` a lookup still sees the old header, as in
//! Kamailio (`remove_hf` then `is_present_hf`).
//!
//! The bytes of every edit live in one buffer owned by the [`Edits`], so
//! queuing edits allocates at most that buffer (none once it is reused,
//! see [`Edits::clear`]).
//!
//! Rules when edits meet:
//! - inserts at the same offset come out in the order they were queued,
//!   except those queued with [`Edits::insert_first`], which come before
//!   all others there (a proxy's own Via above headers the script
//!   inserted at the top, as Kamailio's Via lump does); all inserts come
//!   before a deletion/replacement that starts there;
//! - overlapping or nested deletions merge (removing a header twice
//!   removes it once);
//! - a replacement or insert strictly inside a deleted range is dropped;
//! - two replacements of the same range: the later one wins;
//! - a replacement partly overlapping another deletion/replacement is an
//!   error ([`EditError::Overlap`]).
//!
//! When the body length changes, Content-Length is rewritten (or added)
//! unless an edit already touches that header.

use std::ops::Range;

use smallvec::SmallVec;

use super::header::HeaderRef;
use super::header_name::HeaderName;
use super::message::Message;

/// Why edits could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditError {
    /// An edit points past the end of the message.
    OutOfBounds { start: usize, end: usize },
    /// Two edits partly overlap.
    Overlap {
        first: (usize, usize),
        second: (usize, usize),
    },
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::OutOfBounds { start, end } => write!(f, "edit {start}..{end} out of bounds"),
            EditError::Overlap { first, second } => {
                write!(
                    f,
                    "edit {}..{} overlaps edit {}..{}",
                    second.0, second.1, first.0, first.1
                )
            }
        }
    }
}

impl std::error::Error for EditError {}

/// Where an edit's new bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// A deletion.
    Delete,
    /// `arena[start..end]`.
    Arena(u32, u32),
    /// The Content-Length value `apply` computes.
    ContentLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    start: usize,
    end: usize,
    /// `Delete`: deletion; otherwise, with start == end, an insertion.
    src: Src,
    seq: usize,
    /// Queued with `insert_first`.
    first: bool,
}

impl Op {
    fn is_insert(&self) -> bool {
        self.start == self.end
    }

    fn is_delete(&self) -> bool {
        self.src == Src::Delete
    }
}

/// A queue of edits against one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    ops: SmallVec<[Op; 8]>,
    /// The bytes of every insertion and replacement, back to back.
    arena: Vec<u8>,
}

impl Edits {
    pub fn new() -> Edits {
        Edits::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of queued edits.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Forgets every edit, keeping the allocated space for the next
    /// message.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.arena.clear();
    }

    /// Forgets the edits queued after the first `len` (a mark taken with
    /// [`Edits::len`]): a caller can queue temporary edits, apply, and
    /// return to the script's edits without cloning them.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.ops.len() {
            return;
        }
        let arena_end = self.ops[..len]
            .iter()
            .filter_map(|o| match o.src {
                Src::Arena(_, e) => Some(e as usize),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        self.ops.truncate(len);
        self.arena.truncate(arena_end);
    }

    fn push(&mut self, start: usize, end: usize, bytes: Option<&[u8]>, first: bool) {
        let seq = self.ops.len();
        let src = match bytes {
            None => Src::Delete,
            Some(b) => {
                let a = self.arena.len();
                if self.arena.capacity() == 0 {
                    self.arena.reserve(256);
                }
                self.arena.extend_from_slice(b);
                Src::Arena(a as u32, self.arena.len() as u32)
            }
        };
        self.ops.push(Op {
            start,
            end,
            src,
            seq,
            first,
        });
    }

    /// Inserts `bytes` at offset `at`.
    pub fn insert(&mut self, at: usize, bytes: impl AsRef<[u8]>) {
        self.push(at, at, Some(bytes.as_ref()), false);
    }

    /// Inserts `bytes` at offset `at` ahead of every other insert queued
    /// there, whenever they were queued (among `insert_first` inserts at
    /// one offset, queue order holds).
    pub fn insert_first(&mut self, at: usize, bytes: impl AsRef<[u8]>) {
        self.push(at, at, Some(bytes.as_ref()), true);
    }

    /// Inserts before a range (at its start).
    pub fn insert_before(&mut self, range: Range<usize>, bytes: impl AsRef<[u8]>) {
        self.insert(range.start, bytes);
    }

    /// Inserts after a range (at its end).
    pub fn insert_after(&mut self, range: Range<usize>, bytes: impl AsRef<[u8]>) {
        self.insert(range.end, bytes);
    }

    /// Replaces a range with `bytes`.
    pub fn replace(&mut self, range: Range<usize>, bytes: impl AsRef<[u8]>) {
        self.push(range.start, range.end, Some(bytes.as_ref()), false);
    }

    /// Deletes a range.
    pub fn delete(&mut self, range: Range<usize>) {
        if !range.is_empty() {
            self.push(range.start, range.end, None, false);
        }
    }

    /// Removes a whole header line (continuations included).
    pub fn remove_header(&mut self, h: &HeaderRef<'_>) {
        self.delete(h.range.clone());
    }

    /// Appends a header at the end of the header block. A missing CRLF is
    /// added.
    pub fn add_header(&mut self, msg: &Message, line: &[u8]) {
        self.insert_line(msg.headers_end(), line, false);
    }

    /// Adds a header just before another one.
    pub fn add_header_before(&mut self, h: &HeaderRef<'_>, line: &[u8]) {
        self.insert_line(h.range.start, line, false);
    }

    /// Inserts a header line, adding a missing CRLF, in the arena directly.
    fn insert_line(&mut self, at: usize, line: &[u8], first: bool) {
        self.push(at, at, Some(line), first);
        if !line.ends_with(b"\r\n") {
            self.arena.extend_from_slice(b"\r\n");
            if let Some(Op {
                src: Src::Arena(_, e),
                ..
            }) = self.ops.last_mut()
            {
                *e += 2;
            }
        }
    }

    /// Adds a header right after the start line (before every header).
    pub fn add_header_first(&mut self, msg: &Message, line: &[u8]) {
        let at = msg
            .header_entries()
            .first()
            .map_or(msg.headers_end(), |e| e.line.start as usize);
        self.insert_line(at, line, false);
    }

    /// Adds a header right after the start line, above every other
    /// insert there (see [`Edits::insert_first`]).
    pub fn add_header_very_first(&mut self, msg: &Message, line: &[u8]) {
        let at = msg
            .header_entries()
            .first()
            .map_or(msg.headers_end(), |e| e.line.start as usize);
        self.insert_line(at, line, true);
    }

    /// Rewrites the Request-URI.
    pub fn set_ruri(&mut self, msg: &Message, uri: &[u8]) {
        self.replace(msg.ruri_span().range(), uri);
    }

    /// Replaces a header's value, keeping its name.
    pub fn set_header_value(&mut self, h: &HeaderRef<'_>, value: &[u8]) {
        self.replace(h.value_range.clone(), value);
    }

    /// Replaces the whole body (Content-Length follows on apply).
    pub fn set_body(&mut self, msg: &Message, body: &[u8]) {
        self.replace(msg.body_offset()..msg.as_bytes().len(), body);
    }

    /// Applies the edits to `msg` and returns the new bytes.
    pub fn apply(&self, msg: &Message) -> Result<Vec<u8>, EditError> {
        let buf = msg.as_bytes();
        for op in &self.ops {
            if op.start > op.end || op.end > buf.len() {
                return Err(EditError::OutOfBounds {
                    start: op.start,
                    end: op.end,
                });
            }
        }
        // One edit in the headers (a proxy's own Via, or the removal of
        // ours from a response): the body keeps its length, nothing to
        // merge or sort.
        if let [op] = self.ops.as_slice() {
            if op.start < msg.body_offset() {
                let bytes = self.bytes(op, &[]);
                let mut out = Vec::with_capacity(buf.len() - (op.end - op.start) + bytes.len());
                out.extend_from_slice(&buf[..op.start]);
                out.extend_from_slice(bytes);
                out.extend_from_slice(&buf[op.end..]);
                return Ok(out);
            }
        }
        let mut extra_insert: Option<Op> = None;
        let mut cuts = merge_cuts(
            self.ops
                .iter()
                .filter(|o| !o.is_insert())
                .copied()
                .collect(),
        )?;
        let mut inserts: SmallVec<[&Op; 8]> = self.ops.iter().filter(|o| o.is_insert()).collect();
        inserts.sort_by_key(|o| (o.start, !o.first, o.seq));
        inserts.retain(|i| !cuts.iter().any(|c| c.start < i.start && i.start < c.end));

        let body_start = msg.body_offset();
        let mut body_delta: isize = 0;
        for c in &cuts {
            if c.start >= body_start {
                body_delta += self.bytes(c, &[]).len() as isize - (c.end - c.start) as isize;
            }
        }
        for i in &inserts {
            if i.start >= body_start {
                body_delta += self.bytes(i, &[]).len() as isize;
            }
        }
        // The new Content-Length value or line, when the body changed.
        let mut cl_buf: SmallVec<[u8; 40]> = SmallVec::new();
        if body_delta != 0 {
            let new_len = (msg.body().len() as isize + body_delta).max(0) as usize;
            let mut digits = [0u8; 20];
            let value = decimal(new_len, &mut digits);
            match msg.header(HeaderName::ContentLength) {
                Some(h) => {
                    let touched = cuts
                        .iter()
                        .any(|c| c.start < h.range.end && h.range.start < c.end);
                    if !touched {
                        let at = cuts.partition_point(|c| c.start < h.value_range.start);
                        let seq = self.ops.len();
                        let (start, end) = (h.value_range.start, h.value_range.end);
                        cl_buf.extend_from_slice(value);
                        cuts.insert(
                            at,
                            Op {
                                start,
                                end,
                                src: Src::ContentLength,
                                seq,
                                first: false,
                            },
                        );
                    }
                }
                None => {
                    cl_buf.extend_from_slice(b"Content-Length: ");
                    cl_buf.extend_from_slice(value);
                    cl_buf.extend_from_slice(b"\r\n");
                    extra_insert = Some(Op {
                        start: msg.headers_end(),
                        end: msg.headers_end(),
                        src: Src::ContentLength,
                        seq: self.ops.len(),
                        first: false,
                    });
                }
            }
        }
        if let Some(op) = extra_insert.as_ref() {
            let at = inserts.partition_point(|i| i.start <= op.start);
            inserts.insert(at, op);
        }

        // Sized once: an upper bound of the result.
        let cap = buf.len() + self.arena.len() + cl_buf.len();
        let mut out = Vec::with_capacity(cap);
        let mut pos = 0;
        let mut ii = 0;
        for c in &cuts {
            while ii < inserts.len() && inserts[ii].start <= c.start {
                out.extend_from_slice(&buf[pos..inserts[ii].start]);
                pos = inserts[ii].start;
                out.extend_from_slice(self.bytes(inserts[ii], &cl_buf));
                ii += 1;
            }
            out.extend_from_slice(&buf[pos..c.start]);
            out.extend_from_slice(self.bytes(c, &cl_buf));
            pos = c.end;
            while ii < inserts.len() && inserts[ii].start < c.end {
                ii += 1;
            }
        }
        for i in &inserts[ii..] {
            out.extend_from_slice(&buf[pos..i.start]);
            pos = i.start;
            out.extend_from_slice(self.bytes(i, &cl_buf));
        }
        out.extend_from_slice(&buf[pos..]);
        debug_assert!(out.len() <= cap);
        Ok(out)
    }

    /// The new bytes of an edit (`cl` holds the computed Content-Length).
    fn bytes<'s>(&'s self, op: &Op, cl: &'s [u8]) -> &'s [u8] {
        match op.src {
            Src::Delete => &[],
            Src::Arena(a, b) => &self.arena[a as usize..b as usize],
            Src::ContentLength => cl,
        }
    }
}

/// `n` in decimal, written at the end of `buf`.
pub(crate) fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Sorts deletions/replacements and resolves overlaps per the module rules.
fn merge_cuts(mut cuts: SmallVec<[Op; 8]>) -> Result<SmallVec<[Op; 8]>, EditError> {
    cuts.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.seq.cmp(&b.seq))
    });
    let mut merged: SmallVec<[Op; 8]> = SmallVec::new();
    for c in cuts {
        let Some(last) = merged.last_mut() else {
            merged.push(c);
            continue;
        };
        if c.start >= last.end {
            merged.push(c);
        } else if c.start == last.start && c.end == last.end {
            if c.seq > last.seq {
                *last = c;
            }
        } else if c.end <= last.end && last.is_delete() {
            // Inside a deletion: dropped.
        } else if c.is_delete() && last.is_delete() {
            last.end = last.end.max(c.end);
        } else if c.end <= last.end && c.is_delete() {
            // A deletion inside a replacement: the replacement covers it.
        } else {
            return Err(EditError::Overlap {
                first: (last.start, last.end),
                second: (c.start, c.end),
            });
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
From: <sip:a@b>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
X-A: 1\r\n\
Content-Length: 3\r\n\
\r\n\
abc";

    fn msg() -> Message {
        Message::parse(MSG.to_vec()).unwrap()
    }

    fn text(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn no_edits_is_identity() {
        let m = msg();
        assert_eq!(Edits::new().apply(&m).unwrap(), MSG);
    }

    /// A single edit in the headers takes the short path; it must give
    /// what the general one gives (here: the same edit with a no-op
    /// deletion in the body, which forces the general path).
    #[test]
    fn single_header_edit_matches_the_general_path() {
        let m = msg();
        let body = m.body_offset();
        let at = m.header(HeaderName::MaxForwards).unwrap().range;
        for k in 0..4 {
            let mut one = Edits::new();
            match k {
                0 => one.insert(at.start, b"X-N: 1\r\n"),
                1 => one.insert_first(0, b"pre"),
                2 => one.delete(at.clone()),
                _ => one.replace(at.start..body + 1, b"X"),
            }
            let mut general = one.clone();
            general.replace(body + 2..body + 3, b"c");
            assert_eq!(one.apply(&m), general.apply(&m), "{k}");
        }
    }

    #[test]
    fn ruri_max_forwards_remove_and_add() {
        let m = msg();
        let mut e = Edits::new();
        e.set_ruri(&m, b"sip:bob@192.0.2.9:5080");
        let mf = m.header(HeaderName::MaxForwards).unwrap();
        e.set_header_value(&mf, b"69");
        let xa = m.header_named(b"X-A").unwrap();
        e.remove_header(&xa);
        e.add_header(&m, b"X-B: 2");
        // The message still shows the original headers.
        assert!(m.has_header_named(b"X-A"));
        let out = text(e.apply(&m).unwrap());
        assert!(out.starts_with("INVITE sip:bob@192.0.2.9:5080 SIP/2.0\r\n"));
        assert!(out.contains("Max-Forwards: 69\r\n"));
        assert!(!out.contains("X-A"));
        assert!(out.ends_with("Content-Length: 3\r\nX-B: 2\r\n\r\nabc"));
        assert!(Message::parse(out.into_bytes()).is_ok());
    }

    #[test]
    fn inserts_keep_queue_order_and_precede_cuts() {
        let m = msg();
        let xa = m.header_named(b"X-A").unwrap();
        let mut e = Edits::new();
        e.add_header_before(&xa, b"X-1: a");
        e.remove_header(&xa);
        e.add_header_before(&xa, b"X-2: b");
        e.insert_after(xa.range.clone(), b"X-3: c\r\n");
        let out = text(e.apply(&m).unwrap());
        assert!(out.contains("CSeq: 1 INVITE\r\nX-1: a\r\nX-2: b\r\nX-3: c\r\nContent-Length"));
    }

    #[test]
    fn insert_first_goes_above_earlier_inserts_and_truncate_forgets() {
        let m = msg();
        let mut e = Edits::new();
        e.add_header_first(&m, b"X-Script: 1");
        let mark = e.len();
        e.add_header_very_first(&m, b"Via: SIP/2.0/UDP us;branch=z9hG4bKx");
        e.insert_first(m.header_entries()[0].line.start as usize, b"X-Top: 0\r\n");
        let out = text(e.apply(&m).unwrap());
        assert!(out.starts_with(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP us;branch=z9hG4bKx\r\nX-Top: 0\r\nX-Script: 1\r\nVia: SIP/2.0/UDP 192.0.2.1"
        ));
        e.truncate(mark);
        assert_eq!(e.len(), 1);
        let out = text(e.apply(&m).unwrap());
        assert!(out.starts_with("INVITE sip:bob@example.com SIP/2.0\r\nX-Script: 1\r\nVia: "));
        e.clear();
        assert_eq!(e.apply(&m).unwrap(), MSG);
    }

    #[test]
    fn decimal_digits() {
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(70, &mut b), b"70");
        assert_eq!(
            decimal(usize::MAX, &mut b),
            usize::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn overlapping_deletions_merge_and_inner_edits_drop() {
        let m = msg();
        let xa = m.header_named(b"X-A").unwrap();
        let mut e = Edits::new();
        e.remove_header(&xa);
        e.remove_header(&xa);
        e.replace(xa.value_range.clone(), b"zzz");
        e.insert(xa.value_range.start, b"in");
        e.delete(xa.range.start + 2..xa.range.end + 4); // overlaps into Content-Length
        let out = text(e.apply(&m).unwrap());
        assert!(out.contains("CSeq: 1 INVITE\r\nent-Length: 3\r\n"));
        assert!(!out.contains("zzz") && !out.contains("in"));
    }

    #[test]
    fn same_range_replacements_later_wins_partial_overlap_errors() {
        let m = msg();
        let mut e = Edits::new();
        e.set_ruri(&m, b"sip:first@x");
        e.set_ruri(&m, b"sip:second@x");
        assert!(text(e.apply(&m).unwrap()).starts_with("INVITE sip:second@x SIP/2.0"));
        let r = m.ruri_span().range();
        let mut e = Edits::new();
        e.replace(r.start..r.start + 5, b"A");
        e.replace(r.start + 3..r.end, b"B");
        assert!(matches!(e.apply(&m), Err(EditError::Overlap { .. })));
        let mut e = Edits::new();
        e.insert(MSG.len() + 1, b"x");
        assert!(matches!(e.apply(&m), Err(EditError::OutOfBounds { .. })));
    }

    #[test]
    fn body_change_fixes_content_length() {
        let m = msg();
        let mut e = Edits::new();
        e.set_body(&m, b"v=0\r\nlonger\r\n");
        let out = text(e.apply(&m).unwrap());
        assert!(out.contains("Content-Length: 13\r\n\r\nv=0\r\nlonger\r\n"));
        let again = Message::parse(out.into_bytes()).unwrap();
        assert_eq!(again.body(), b"v=0\r\nlonger\r\n");
        // Appending to the body also counts.
        let mut e = Edits::new();
        e.insert(m.as_bytes().len(), b"de");
        assert!(text(e.apply(&m).unwrap()).contains("Content-Length: 5\r\n\r\nabcde"));
    }

    #[test]
    fn body_change_adds_missing_content_length() {
        let raw = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n";
        let m = Message::parse(raw.to_vec()).unwrap();
        let mut e = Edits::new();
        e.set_body(&m, b"hi");
        let out = text(e.apply(&m).unwrap());
        assert!(out.ends_with("CSeq: 1 MESSAGE\r\nContent-Length: 2\r\n\r\nhi"));
    }
}
