//! The header index: one [`HeaderEntry`] of byte ranges per header line,
//! and [`HeaderRef`], the borrowed view handed to callers.

use std::ops::Range;

use super::header_name::HeaderName;
use super::lex::{split_commas, trim};
use super::span::Span;

/// One header line in the index. Ranges point into the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    pub name: HeaderName,
    /// The name as written (before the colon, trailing LWS trimmed).
    pub name_span: Span,
    /// The value, trimmed; may contain folded line breaks.
    pub value: Span,
    /// The whole header: from the name through the final line break,
    /// continuation lines included (what removing the header deletes).
    pub line: Span,
}

/// A header as seen by callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub name: HeaderName,
    pub name_bytes: &'a [u8],
    pub value: &'a [u8],
    /// The whole header line including its CRLF (for removal).
    pub range: Range<usize>,
    /// Where `value` lies in the buffer (for replacing it).
    pub value_range: Range<usize>,
    /// Position of this header in the message's header list.
    pub index: usize,
}

impl<'a> HeaderRef<'a> {
    pub(crate) fn new(buf: &'a [u8], index: usize, e: &HeaderEntry) -> HeaderRef<'a> {
        HeaderRef {
            name: e.name,
            name_bytes: e.name_span.of(buf),
            value: e.value.of(buf),
            range: e.line.range(),
            value_range: e.value.range(),
            index,
        }
    }

    /// The comma-separated elements of the value (RFC 3261 §7.3.1), commas
    /// inside quotes and `<>` ignored. Not meaningful for headers whose
    /// grammar allows bare commas (Date, WWW-Authenticate, ...). An
    /// unbalanced quote or bracket yields the rest as one last element.
    pub fn values(&self) -> Values<'a> {
        Values::new(self.value)
    }
}

/// Iterator over the comma-separated elements of one header value.
pub struct Values<'a> {
    whole: &'a [u8],
    inner: super::lex::CommaSplit<'a>,
    consumed: usize,
    done: bool,
}

impl<'a> Values<'a> {
    pub fn new(value: &'a [u8]) -> Values<'a> {
        Values {
            whole: value,
            inner: split_commas(value),
            consumed: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        match self.inner.next()? {
            Ok(v) => {
                let end = super::span::offset_in(self.whole, v).map_or(0, |r| r.end);
                self.consumed = end;
                Some(v)
            }
            Err(_) => {
                self.done = true;
                let rest = trim(self.whole.get(self.consumed..).unwrap_or(&[]));
                let rest = rest.strip_prefix(b",").map_or(rest, trim);
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_and_recover() {
        let v: Vec<_> = Values::new(b"a, \"b,c\", <d,e>;x").collect();
        assert_eq!(v, vec![&b"a"[..], b"\"b,c\"", b"<d,e>;x"]);
        let v: Vec<_> = Values::new(b"a, \"open, x").collect();
        assert_eq!(v, vec![&b"a"[..], b"\"open, x"]);
    }
}
