//! ESP keys from the IMS AKA keys, TS 33.203 Annex I: IK_esp from IK_im and
//! CK_esp from CK_im, for each negotiated algorithm.
//!
//! | algorithm | ESP key |
//! |---|---|
//! | hmac-sha-1-96 | IK ‖ 32 zero bits (160 bits) |
//! | hmac-md5-96 | IK (128 bits) |
//! | aes-cbc | CK (128 bits) |
//! | des-ede3-cbc | CK1 ‖ CK2 ‖ CK1, where CK = CK1 ‖ CK2 (192 bits) |
//! | null | no key |
//!
//! The 3DES expansion is the one Kamailio and Wireshark users apply (see
//! ims-ipsec.md §1.5 for the OpenSIPS variant that zero-pads instead).

use crate::algorithm::{EncryptionAlgorithm, IntegrityAlgorithm};

/// CK and IK as the S-CSCF sends them in the 401 (`ck="…"`, `ik="…"`), 128 bits each.
#[derive(Clone, PartialEq, Eq)]
pub struct ImsKeys {
    /// Cipher key CK.
    pub ck: [u8; 16],
    /// Integrity key IK.
    pub ik: [u8; 16],
}

impl std::fmt::Debug for ImsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImsKeys { .. }")
    }
}

/// The keys one ESP SA uses.
#[derive(Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// Authentication key for the integrity algorithm.
    pub auth_key: Vec<u8>,
    /// Encryption key for the cipher (empty for NULL).
    pub enc_key: Vec<u8>,
}

impl std::fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EspKeys {{ auth_key: {} bytes, enc_key: {} bytes }}",
            self.auth_key.len(),
            self.enc_key.len()
        )
    }
}

/// Derives the ESP keys of TS 33.203 Annex I.
pub fn derive_esp_keys(
    keys: &ImsKeys,
    integrity: IntegrityAlgorithm,
    encryption: EncryptionAlgorithm,
) -> EspKeys {
    let auth_key = match integrity {
        IntegrityAlgorithm::HmacSha196 => {
            let mut k = keys.ik.to_vec();
            k.extend_from_slice(&[0; 4]);
            k
        }
        IntegrityAlgorithm::HmacMd596 => keys.ik.to_vec(),
    };
    let enc_key = match encryption {
        EncryptionAlgorithm::AesCbc => keys.ck.to_vec(),
        EncryptionAlgorithm::DesEde3Cbc => {
            let mut k = keys.ck.to_vec();
            k.extend_from_slice(&keys.ck[..8]);
            k
        }
        EncryptionAlgorithm::Null => Vec::new(),
    };
    EspKeys { auth_key, enc_key }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TS 35.208 Milenage test set 1: the CK/IK a real UE derives.
    fn test_set_1() -> ImsKeys {
        let mut ck = [0u8; 16];
        let mut ik = [0u8; 16];
        hex::decode_to_slice("b40ba9a3c58b2a05bbf0d987b21bf8cb", &mut ck).unwrap();
        hex::decode_to_slice("f769bcd751044604127672711c6d3441", &mut ik).unwrap();
        ImsKeys { ck, ik }
    }

    #[test]
    fn annex_i_expansions() {
        let k = test_set_1();
        let sha_aes = derive_esp_keys(
            &k,
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::AesCbc,
        );
        assert_eq!(
            hex::encode(&sha_aes.auth_key),
            "f769bcd751044604127672711c6d344100000000"
        );
        assert_eq!(
            hex::encode(&sha_aes.enc_key),
            "b40ba9a3c58b2a05bbf0d987b21bf8cb"
        );
        let md5_3des = derive_esp_keys(
            &k,
            IntegrityAlgorithm::HmacMd596,
            EncryptionAlgorithm::DesEde3Cbc,
        );
        assert_eq!(
            hex::encode(&md5_3des.auth_key),
            "f769bcd751044604127672711c6d3441"
        );
        assert_eq!(
            hex::encode(&md5_3des.enc_key),
            "b40ba9a3c58b2a05bbf0d987b21bf8cbb40ba9a3c58b2a05"
        );
        let null = derive_esp_keys(
            &k,
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::Null,
        );
        assert!(null.enc_key.is_empty());
    }

    #[test]
    fn derived_keys_fit_their_algorithms() {
        for i in IntegrityAlgorithm::ALL {
            for e in EncryptionAlgorithm::ALL {
                let k = derive_esp_keys(&test_set_1(), i, e);
                assert_eq!(k.auth_key.len(), i.key_len());
                assert_eq!(k.enc_key.len(), e.key_len());
            }
        }
    }
}
