//! SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random
//! function for short inputs, used to authenticate the nonces this process
//! hands out. A nonce's tag is two of them over the same 8 bytes under
//! independent keys, so forging one means guessing 96 secret-dependent
//! bits; it costs a few hundred instructions where HMAC-SHA-256 costs
//! about five thousand.

/// A 128-bit SipHash key.
#[derive(Clone, Copy)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// The key whose bytes are `k` (little-endian halves, as the paper).
    pub fn new(k: &[u8; 16]) -> SipKey {
        let (a, b) = k.split_at(8);
        SipKey {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
        }
    }

    /// SipHash-2-4 of `msg` under this key.
    pub fn hash(&self, msg: &[u8]) -> u64 {
        let mut s = State {
            v0: self.k0 ^ 0x736f_6d65_7073_6575,
            v1: self.k1 ^ 0x646f_7261_6e64_6f6d,
            v2: self.k0 ^ 0x6c79_6765_6e65_7261,
            v3: self.k1 ^ 0x7465_6462_7974_6573,
        };
        let mut blocks = msg.chunks_exact(8);
        for b in &mut blocks {
            s.absorb(u64::from_le_bytes(b.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let tail = blocks.remainder();
        last[..tail.len()].copy_from_slice(tail);
        s.absorb(u64::from_le_bytes(last) | (msg.len() as u64) << 56);
        s.v2 ^= 0xff;
        for _ in 0..4 {
            s.round();
        }
        s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}

struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    fn absorb(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.round();
        self.v0 ^= m;
    }

    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_key() -> SipKey {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        SipKey::new(&k)
    }

    #[test]
    fn paper_vectors() {
        // the SipHash paper's appendix A: key 00..0f, message 00..0e
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(paper_key().hash(&msg), 0xa129_ca61_49be_45e5);
        // the reference implementation's vectors for the empty message
        // and 00..07 (one full block)
        assert_eq!(paper_key().hash(&[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..8).collect();
        assert_eq!(paper_key().hash(&msg), 0x93f5_f579_9a93_2462);
    }

    #[test]
    #[allow(deprecated)]
    fn same_as_std_siphasher_for_every_length() {
        use std::hash::Hasher;
        let key = SipKey::new(b"0123456789abcdef");
        let k0 = u64::from_le_bytes(*b"01234567");
        let k1 = u64::from_le_bytes(*b"89abcdef");
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for n in 0..data.len() {
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&data[..n]);
            assert_eq!(key.hash(&data[..n]), h.finish(), "length {n}");
        }
    }
}
