//! The ESP ciphers of IMS: AES-128-CBC (RFC 3602), DES-EDE3-CBC (RFC 2451)
//! and NULL (RFC 2410), encrypting and decrypting whole blocks in place. The
//! ESP layer pads; this file only chains blocks.

use aes::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit,
};
use aes::Aes128;
use des::TdesEde3;

use crate::algorithm::EncryptionAlgorithm;
use crate::error::{EspError, KeyLengthError};

#[derive(Clone)]
enum Keyed {
    Null,
    Aes(Aes128),
    TripleDes(TdesEde3),
}

/// A cipher key with its schedule expanded.
#[derive(Clone)]
pub struct CipherKey {
    algorithm: EncryptionAlgorithm,
    keyed: Keyed,
}

impl std::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl CipherKey {
    /// Expands `key`; it must have the algorithm's length exactly (16 bytes
    /// for AES-128, 24 for 3DES, empty for NULL).
    pub fn new(algorithm: EncryptionAlgorithm, key: &[u8]) -> Result<Self, KeyLengthError> {
        let wrong = || KeyLengthError {
            algorithm: algorithm.name(),
            expected: algorithm.key_len(),
            found: key.len(),
        };
        if key.len() != algorithm.key_len() {
            return Err(wrong());
        }
        let keyed = match algorithm {
            EncryptionAlgorithm::Null => Keyed::Null,
            EncryptionAlgorithm::AesCbc => {
                Keyed::Aes(Aes128::new_from_slice(key).map_err(|_| wrong())?)
            }
            EncryptionAlgorithm::DesEde3Cbc => {
                Keyed::TripleDes(TdesEde3::new_from_slice(key).map_err(|_| wrong())?)
            }
        };
        Ok(Self { algorithm, keyed })
    }

    /// The algorithm this key is for.
    pub fn algorithm(&self) -> EncryptionAlgorithm {
        self.algorithm
    }

    /// CBC-encrypts `buf` in place with `iv`. `buf` must be whole blocks and
    /// `iv` one block (both empty-or-anything for NULL).
    pub fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), EspError> {
        self.check(iv, buf)?;
        match &self.keyed {
            Keyed::Null => {}
            Keyed::Aes(cipher) => cbc_encrypt(cipher, iv, buf)?,
            Keyed::TripleDes(cipher) => cbc_encrypt(cipher, iv, buf)?,
        }
        Ok(())
    }

    /// CBC-decrypts `buf` in place with `iv`; same shape rules as encrypt.
    pub fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), EspError> {
        self.check(iv, buf)?;
        match &self.keyed {
            Keyed::Null => {}
            Keyed::Aes(cipher) => cbc_decrypt(cipher, iv, buf)?,
            Keyed::TripleDes(cipher) => cbc_decrypt(cipher, iv, buf)?,
        }
        Ok(())
    }

    fn check(&self, iv: &[u8], buf: &[u8]) -> Result<(), EspError> {
        let expected = self.algorithm.iv_len();
        if iv.len() != expected {
            return Err(EspError::BadIvLength {
                expected,
                found: iv.len(),
            });
        }
        let block = self.algorithm.block_len();
        if !buf.len().is_multiple_of(block) {
            return Err(EspError::Misaligned {
                len: buf.len(),
                block,
            });
        }
        Ok(())
    }
}

fn cbc_encrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), EspError>
where
    C: BlockCipherEncrypt + Clone,
{
    let iv = <&Array<u8, C::BlockSize>>::try_from(iv).map_err(|_| EspError::BadIvLength {
        expected: size_of::<Array<u8, C::BlockSize>>(),
        found: iv.len(),
    })?;
    let (blocks, _tail) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(buf);
    cbc::Encryptor::<C>::inner_iv_init(cipher.clone(), iv).encrypt_blocks(blocks);
    Ok(())
}

fn cbc_decrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), EspError>
where
    C: BlockCipherDecrypt + Clone,
{
    let iv = <&Array<u8, C::BlockSize>>::try_from(iv).map_err(|_| EspError::BadIvLength {
        expected: size_of::<Array<u8, C::BlockSize>>(),
        found: iv.len(),
    })?;
    let (blocks, _tail) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(buf);
    cbc::Decryptor::<C>::inner_iv_init(cipher.clone(), iv).decrypt_blocks(blocks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 3602 §4, Case #1 and Case #2 (AES-128-CBC).
    #[test]
    fn rfc3602_cases_1_and_2() {
        let cases = [
            (
                "06a9214036b8a15b512e03d534120006",
                "3dafba429d9eb430b422da802c9fac41",
                hex::encode(b"Single block msg"),
                "e353779c1079aeb82708942dbe77181a",
            ),
            (
                "c286696d887c9aa0611bbb3e2025a45a",
                "562e17996d093d28ddb3ba695a2e6f58",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".to_owned(),
                "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
            ),
        ];
        for (key, iv, plain, ct) in cases {
            let k = CipherKey::new(EncryptionAlgorithm::AesCbc, &h(key)).unwrap();
            let mut buf = h(&plain);
            k.encrypt_in_place(&h(iv), &mut buf).unwrap();
            assert_eq!(hex::encode(&buf), ct);
            k.decrypt_in_place(&h(iv), &mut buf).unwrap();
            assert_eq!(hex::encode(&buf), plain);
        }
    }

    /// 3DES-CBC against `openssl enc -des-ede3-cbc -nopad` with the same
    /// key and IV (an implementation no one here wrote).
    #[test]
    fn triple_des_cbc_matches_openssl() {
        let key = h("0123456789abcdeffedcba987654321089abcdef01234567");
        let iv = h("1234567890abcdef");
        let plain = b"Now is the time for all ".to_vec();
        let k = CipherKey::new(EncryptionAlgorithm::DesEde3Cbc, &key).unwrap();
        let mut buf = plain.clone();
        k.encrypt_in_place(&iv, &mut buf).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "204011f986e35647199e47af391620c5bb9a5bcfc86db0bb"
        );
        k.decrypt_in_place(&iv, &mut buf).unwrap();
        assert_eq!(buf, plain);
    }

    #[test]
    fn shape_errors_are_reported() {
        let k = CipherKey::new(EncryptionAlgorithm::AesCbc, &[0u8; 16]).unwrap();
        assert_eq!(
            k.encrypt_in_place(&[0u8; 8], &mut [0u8; 16]),
            Err(EspError::BadIvLength {
                expected: 16,
                found: 8
            })
        );
        assert_eq!(
            k.decrypt_in_place(&[0u8; 16], &mut [0u8; 15]),
            Err(EspError::Misaligned { len: 15, block: 16 })
        );
        assert!(CipherKey::new(EncryptionAlgorithm::DesEde3Cbc, &[0u8; 16]).is_err());
        let null = CipherKey::new(EncryptionAlgorithm::Null, &[]).unwrap();
        let mut buf = *b"abcd";
        null.encrypt_in_place(&[], &mut buf).unwrap();
        assert_eq!(&buf, b"abcd");
    }
}
