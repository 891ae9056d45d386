//! Script values and Kamailio's typing rules for them (`src/core/rvalue.c`):
//! a value is null, an integer or a string; comparisons and `+` take the
//! type of the left operand, converting the right one.

use std::borrow::Cow;
use std::cmp::Ordering;

/// A value while an expression is evaluated; strings borrow when they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Str(Cow<'a, [u8]>),
}

/// A value kept beyond one expression (`$var`, `$avp`, constants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedVal {
    Null,
    Int(i64),
    Str(Vec<u8>),
}

impl OwnedVal {
    pub fn as_val(&self) -> Val<'_> {
        match self {
            OwnedVal::Null => Val::Null,
            OwnedVal::Int(i) => Val::Int(*i),
            OwnedVal::Str(s) => Val::Str(Cow::Borrowed(s)),
        }
    }
}

/// Parses a decimal integer with optional sign and surrounding blanks.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(s).ok()?.trim();
    t.parse().ok()
}

impl<'a> Val<'a> {
    pub fn str(s: &'a [u8]) -> Val<'a> {
        Val::Str(Cow::Borrowed(s))
    }

    pub fn into_owned(self) -> OwnedVal {
        match self {
            Val::Null => OwnedVal::Null,
            Val::Int(i) => OwnedVal::Int(i),
            Val::Str(s) => OwnedVal::Str(s.into_owned()),
        }
    }

    /// Integer value: strings are parsed (0 when not a number), null is 0.
    pub fn to_int(&self) -> i64 {
        match self {
            Val::Null => 0,
            Val::Int(i) => *i,
            Val::Str(s) => parse_int(s).unwrap_or(0),
        }
    }

    /// String value: integers in decimal, null empty.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Val::Null => Cow::Borrowed(b""),
            Val::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Val::Str(s) => Cow::Borrowed(s),
        }
    }

    /// Truth in a condition: non-zero integers and non-empty strings.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Int(i) => *i != 0,
            Val::Str(s) => !s.is_empty(),
        }
    }

    /// Kamailio equality: null equals only null; an integer on either side
    /// compares as integers when the other side is numeric, else as text.
    pub fn equals(&self, other: &Val<'_>) -> bool {
        match (self, other) {
            (Val::Null, Val::Null) => true,
            (Val::Null, _) | (_, Val::Null) => false,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Int(a), Val::Str(s)) | (Val::Str(s), Val::Int(a)) => match parse_int(s) {
                Some(b) => *a == b,
                None => false,
            },
            (Val::Str(a), Val::Str(b)) => a == b,
        }
    }

    /// Ordering for `< > <= >=`: numeric when both are numbers, else
    /// byte-wise. None when a side is null.
    pub fn compare(&self, other: &Val<'_>) -> Option<Ordering> {
        match (self, other) {
            (Val::Null, _) | (_, Val::Null) => None,
            (Val::Int(a), b) => Some(a.cmp(&b.to_int())),
            (a, Val::Int(b)) => Some(a.to_int().cmp(b)),
            (Val::Str(a), Val::Str(b)) => match (parse_int(a), parse_int(b)) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => Some(a.as_ref().cmp(b.as_ref())),
            },
        }
    }

    /// `+`: integer addition when the left side is an integer, else
    /// string concatenation.
    pub fn plus(self, other: Val<'_>) -> Val<'static> {
        match self {
            Val::Int(a) => Val::Int(a.wrapping_add(other.to_int())),
            Val::Null => Val::Str(Cow::Owned(other.to_bytes().into_owned())),
            Val::Str(a) => {
                let mut s = a.into_owned();
                s.extend_from_slice(&other.to_bytes());
                Val::Str(Cow::Owned(s))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamailio_typing() {
        assert!(Val::Int(404).equals(&Val::str(b"404")));
        assert!(Val::str(b" 404").equals(&Val::Int(404)));
        assert!(!Val::str(b"abc").equals(&Val::Int(0)));
        assert!(!Val::Null.equals(&Val::str(b"")));
        assert!(Val::Null.equals(&Val::Null));
        assert_eq!(
            Val::str(b"10").compare(&Val::str(b"9")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Val::str(b"b").compare(&Val::str(b"a")),
            Some(Ordering::Greater)
        );
        assert_eq!(Val::Int(1).plus(Val::str(b"2")), Val::Int(3));
        assert_eq!(Val::str(b"sip:").plus(Val::Int(2)), Val::str(b"sip:2"));
        assert!(!Val::str(b"").truthy());
        assert!(Val::Int(-1).truthy());
    }
}
