//! HMAC-SHA-1-96 (RFC 2404) and HMAC-MD5-96 (RFC 2403): the 12-byte ICV over
//! SPI ‖ sequence number ‖ IV ‖ ciphertext (RFC 4303 §2.8), and its
//! constant-time check.
//!
//! SHA-1 has two backends behind the same type. RustCrypto `sha1` uses the
//! CPU's SHA extensions when present and is the default; `ring`'s SHA-1 is
//! portable code. `docs/benchmarks-esp.md` has the figures behind the choice.

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::algorithm::{IntegrityAlgorithm, ICV_LEN};
use crate::error::KeyLengthError;

/// Which implementation computes HMAC-SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sha1Backend {
    /// RustCrypto `hmac` + `sha1` (SHA-NI when the CPU has it). The default.
    #[default]
    RustCrypto,
    /// `ring::hmac` with `HMAC_SHA1_FOR_LEGACY_USE_ONLY` (portable SHA-1).
    Ring,
}

#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha1Ring(ring::hmac::Key),
    Md5(Hmac<Md5>),
}

/// An integrity key, expanded into its inner/outer HMAC state.
#[derive(Clone)]
pub struct IntegrityKey {
    algorithm: IntegrityAlgorithm,
    keyed: Keyed,
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("IntegrityKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl IntegrityKey {
    /// Expands `key` for `algorithm` with the default SHA-1 backend. The key
    /// must have exactly the algorithm's length (20 bytes for SHA-1, 16 for MD5).
    pub fn new(algorithm: IntegrityAlgorithm, key: &[u8]) -> Result<Self, KeyLengthError> {
        Self::with_sha1_backend(algorithm, key, Sha1Backend::default())
    }

    /// As [`IntegrityKey::new`], choosing the SHA-1 implementation.
    pub fn with_sha1_backend(
        algorithm: IntegrityAlgorithm,
        key: &[u8],
        backend: Sha1Backend,
    ) -> Result<Self, KeyLengthError> {
        if key.len() != algorithm.key_len() {
            return Err(invalid_length(algorithm, key.len()));
        }
        let keyed = match (algorithm, backend) {
            (IntegrityAlgorithm::HmacSha196, Sha1Backend::RustCrypto) => Keyed::Sha1(
                <Hmac<Sha1> as Mac>::new_from_slice(key)
                    .map_err(|_| invalid_length(algorithm, key.len()))?,
            ),
            (IntegrityAlgorithm::HmacSha196, Sha1Backend::Ring) => Keyed::Sha1Ring(
                ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key),
            ),
            (IntegrityAlgorithm::HmacMd596, _) => Keyed::Md5(
                <Hmac<Md5> as Mac>::new_from_slice(key)
                    .map_err(|_| invalid_length(algorithm, key.len()))?,
            ),
        };
        Ok(Self { algorithm, keyed })
    }

    /// The algorithm this key is for.
    pub fn algorithm(&self) -> IntegrityAlgorithm {
        self.algorithm
    }

    /// The first 96 bits of HMAC(key, `data`) (RFC 2404 §2, RFC 2403 §2).
    pub fn icv(&self, data: &[u8]) -> [u8; ICV_LEN] {
        let mut icv = [0u8; ICV_LEN];
        match &self.keyed {
            Keyed::Sha1(state) => {
                let mut mac = state.clone();
                mac.update(data);
                icv.copy_from_slice(&mac.finalize().into_bytes()[..ICV_LEN]);
            }
            Keyed::Sha1Ring(key) => {
                icv.copy_from_slice(&ring::hmac::sign(key, data).as_ref()[..ICV_LEN]);
            }
            Keyed::Md5(state) => {
                let mut mac = state.clone();
                mac.update(data);
                icv.copy_from_slice(&mac.finalize().into_bytes()[..ICV_LEN]);
            }
        }
        icv
    }

    /// Whether `icv` is the ICV of `data`, compared in constant time
    /// (RFC 4303 §3.4.4). An ICV of the wrong length never verifies.
    pub fn verify(&self, data: &[u8], icv: &[u8]) -> bool {
        icv.len() == ICV_LEN && bool::from(self.icv(data).ct_eq(icv))
    }
}

fn invalid_length(algorithm: IntegrityAlgorithm, found: usize) -> KeyLengthError {
    KeyLengthError {
        algorithm: algorithm.name(),
        expected: algorithm.key_len(),
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 2404 §3 cites the RFC 2202 HMAC-SHA-1 cases; HMAC-SHA-1-96 is
    /// their first 12 bytes. Cases 1 (20-byte 0x0b key, "Hi There") and
    /// 2 ("Jefe", which is not 20 bytes and so is exercised through ring and
    /// RustCrypto directly below).
    #[test]
    fn rfc2404_hmac_sha1_96_case1_both_backends() {
        let key = [0x0bu8; 20];
        let expect = h("b617318655057264e28bc0b6");
        for backend in [Sha1Backend::RustCrypto, Sha1Backend::Ring] {
            let k = IntegrityKey::with_sha1_backend(IntegrityAlgorithm::HmacSha196, &key, backend)
                .unwrap();
            assert_eq!(k.icv(b"Hi There").to_vec(), expect, "{backend:?}");
            assert!(k.verify(b"Hi There", &expect));
        }
    }

    /// RFC 2202 case 3: 20 bytes of 0xaa, 50 bytes of 0xdd.
    #[test]
    fn rfc2404_hmac_sha1_96_case3() {
        let key = [0xaau8; 20];
        let data = [0xddu8; 50];
        let expect = h("125d7342b9ac11cd91a39af4");
        for backend in [Sha1Backend::RustCrypto, Sha1Backend::Ring] {
            let k = IntegrityKey::with_sha1_backend(IntegrityAlgorithm::HmacSha196, &key, backend)
                .unwrap();
            assert_eq!(k.icv(&data).to_vec(), expect);
        }
    }

    /// RFC 2403 §5 cites the RFC 2104 HMAC-MD5 cases; case 1 is a 16-byte
    /// 0x0b key over "Hi There".
    #[test]
    fn rfc2403_hmac_md5_96_case1() {
        let k = IntegrityKey::new(IntegrityAlgorithm::HmacMd596, &[0x0bu8; 16]).unwrap();
        assert_eq!(k.icv(b"Hi There").to_vec(), h("9294727a3638bb1c13f48ef8"));
    }

    #[test]
    fn a_flipped_bit_or_short_icv_does_not_verify() {
        let k = IntegrityKey::new(IntegrityAlgorithm::HmacSha196, &[7u8; 20]).unwrap();
        let mut icv = k.icv(b"payload");
        assert!(k.verify(b"payload", &icv));
        icv[11] ^= 1;
        assert!(!k.verify(b"payload", &icv));
        assert!(!k.verify(b"payload", &k.icv(b"payload")[..11]));
    }

    #[test]
    fn wrong_key_length_is_an_error() {
        let e = IntegrityKey::new(IntegrityAlgorithm::HmacSha196, &[0u8; 16]).unwrap_err();
        assert_eq!((e.expected, e.found), (20, 16));
    }
}
