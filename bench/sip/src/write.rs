//! `Out`: writes a message into a caller-owned buffer without allocating.
//! Every generated datagram (requests, responses) goes through it.

/// The buffer was too small for the message being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message does not fit in the send buffer")
    }
}

/// A write cursor over a fixed buffer.
pub struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Out<'a> {
    /// Starts writing at the beginning of `buf`.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Self {
        Out { buf, len: 0 }
    }

    /// Bytes written so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before anything is written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    #[inline]
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends raw bytes.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) -> Result<&mut Self, Overflow> {
        let end = self.len + bytes.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(Overflow)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(self)
    }

    /// Appends a decimal number.
    #[inline]
    pub fn num(&mut self, mut n: u64) -> Result<&mut Self, Overflow> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[i..])
    }

    /// Appends `bytes` as lowercase hex.
    #[inline]
    pub fn hex(&mut self, bytes: &[u8]) -> Result<&mut Self, Overflow> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            self.put(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])?;
        }
        Ok(self)
    }

    /// Appends a line followed by CRLF.
    #[inline]
    pub fn line(&mut self, bytes: &[u8]) -> Result<&mut Self, Overflow> {
        self.put(bytes)?.put(b"\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_overflows() {
        let mut b = [0u8; 12];
        let mut o = Out::new(&mut b);
        o.put(b"CSeq: ").unwrap().num(4096).unwrap();
        assert_eq!(o.written(), b"CSeq: 4096");
        assert!(o.put(b"abc").is_err());
        assert_eq!(o.len(), 10);
    }

    #[test]
    fn hex() {
        let mut b = [0u8; 4];
        let mut o = Out::new(&mut b);
        o.hex(&[0x0f, 0xa0]).unwrap();
        assert_eq!(o.written(), b"0fa0");
        assert!(o.hex(&[1]).is_err());
    }
}
