//! `Small`: a fixed-size, allocation-free copy of a short byte string
//! (a To tag, a challenge parameter, a dialog's route), for state kept per
//! call.

/// A fixed-size copy of a byte string (challenge parameters, To tag).
#[derive(Clone, Copy)]
pub struct Small<const N: usize> {
    bytes: [u8; N],
    len: u16,
}

impl<const N: usize> Default for Small<N> {
    fn default() -> Self {
        Small { bytes: [0; N], len: 0 }
    }
}

impl<const N: usize> Small<N> {
    /// Copies `s`; `false` (and empty) if it does not fit.
    #[inline]
    pub fn set(&mut self, s: &[u8]) -> bool {
        if s.len() > N || s.len() > usize::from(u16::MAX) {
            self.len = 0;
            return false;
        }
        self.bytes[..s.len()].copy_from_slice(s);
        self.len = s.len() as u16;
        true
    }

    /// The stored bytes.
    #[inline]
    pub fn get(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}
