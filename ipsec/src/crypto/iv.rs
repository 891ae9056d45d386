//! Per-packet IVs for CBC (RFC 3602 §3: the IV MUST be unpredictable; RFC
//! 4303 §3.3.2). Drawing from the OS for every packet costs a syscall, so each
//! SA draws a random 128-bit key and salt once and derives the IV of packet
//! `seq` as AES-128(iv_key, seq ‖ salt): unpredictable without the key,
//! never repeated within an SA because sequence numbers are never reused.
//! This is the construction of Linux's `seqiv`-style generators.

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use ring::rand::{SecureRandom, SystemRandom};

/// Derives the IV of each outbound packet from its sequence number.
#[derive(Clone)]
pub struct IvGenerator {
    key: Aes128,
    salt: [u8; 8],
}

impl std::fmt::Debug for IvGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IvGenerator { .. }")
    }
}

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomUnavailable;

impl std::fmt::Display for RandomUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RandomUnavailable {}

impl IvGenerator {
    /// A generator keyed from the system's random source.
    pub fn random() -> Result<Self, RandomUnavailable> {
        let mut seed = [0u8; 24];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| RandomUnavailable)?;
        Ok(Self::from_seed(&seed))
    }

    /// A generator from a fixed 24-byte seed (16 bytes of key, 8 of salt).
    /// Only for tests and reproducible tooling.
    pub fn from_seed(seed: &[u8; 24]) -> Self {
        let key = Aes128::new(&Array::from([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7], seed[8],
            seed[9], seed[10], seed[11], seed[12], seed[13], seed[14], seed[15],
        ]));
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&seed[16..]);
        Self { key, salt }
    }

    /// Writes the IV for sequence number `seq` into `iv` (at most 16 bytes).
    pub fn fill(&self, seq: u64, iv: &mut [u8]) {
        let mut block = Array::<u8, _>::default();
        block[..8].copy_from_slice(&seq.to_be_bytes());
        block[8..].copy_from_slice(&self.salt);
        self.key.encrypt_block(&mut block);
        let n = iv.len().min(16);
        iv[..n].copy_from_slice(&block[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivs_differ_per_sequence_number_and_per_key() {
        let a = IvGenerator::from_seed(&[1u8; 24]);
        let b = IvGenerator::from_seed(&[2u8; 24]);
        let (mut a1, mut a2, mut b1) = ([0u8; 16], [0u8; 16], [0u8; 16]);
        a.fill(1, &mut a1);
        a.fill(2, &mut a2);
        b.fill(1, &mut b1);
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
        let mut again = [0u8; 16];
        a.fill(1, &mut again);
        assert_eq!(a1, again);
    }

    #[test]
    fn random_generators_differ() {
        let (x, y) = (
            IvGenerator::random().unwrap(),
            IvGenerator::random().unwrap(),
        );
        let (mut ix, mut iy) = ([0u8; 8], [0u8; 8]);
        x.fill(1, &mut ix);
        y.fill(1, &mut iy);
        assert_ne!(ix, iy);
    }
}
