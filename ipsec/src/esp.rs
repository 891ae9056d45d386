//! The ESP packet format (RFC 4303 §2) for the transport mode IMS uses:
//! building a packet from a payload (`seal`) and checking and decrypting one
//! (`open_verified`), with the padding rules of §2.4 and the ICV of §2.8.
//!
//! ```text
//! | SPI (4) | Seq (4) | IV (0/8/16) | payload | padding | pad len | next hdr | ICV (12) |
//!                                   \______________ encrypted ______________/
//! \___________________________ covered by the ICV ___________________________/
//! ```
//!
//! Replay protection and SA selection live in `sa.rs`; this file only knows
//! keys and bytes.

use std::ops::Range;

use crate::algorithm::ICV_LEN;
use crate::crypto::{CipherKey, IntegrityKey};
use crate::error::EspError;

/// SPI + sequence number.
pub const ESP_HEADER_LEN: usize = 8;
/// Pad Length + Next Header.
pub const ESP_TRAILER_LEN: usize = 2;
/// Next Header value of a dummy packet (RFC 4303 §2.6).
pub const NEXT_HEADER_NO_NEXT: u8 = 59;
/// Largest packet this crate builds: an IP datagram cannot be larger.
pub const MAX_ESP_LEN: usize = 65_535;

/// SPI and sequence number read from the front of an ESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspHeader {
    /// Security Parameters Index (RFC 4303 §2.1).
    pub spi: u32,
    /// Sequence number (RFC 4303 §2.2), low 32 bits.
    pub seq: u32,
}

impl EspHeader {
    /// Reads the header; `None` if fewer than 8 bytes.
    pub fn parse(esp: &[u8]) -> Option<Self> {
        let head: &[u8; 8] = esp.get(..ESP_HEADER_LEN)?.try_into().ok()?;
        Some(Self {
            spi: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            seq: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        })
    }
}

/// The result of opening a packet: where the inner payload sits in the
/// (now decrypted) buffer and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The packet's SPI and sequence number.
    pub header: EspHeader,
    /// Protocol of the payload (RFC 4303 §2.7): 17 UDP, 6 TCP, 4/41 for tunnel mode.
    pub next_header: u8,
    /// Byte range of the payload inside the buffer given to `open_verified`.
    pub payload: Range<usize>,
}

/// Length of the ESP packet that `seal` makes for a payload of `payload_len`.
pub fn sealed_len(cipher: &CipherKey, payload_len: usize) -> usize {
    let alg = cipher.algorithm();
    let block = alg.block_len();
    let unpadded = payload_len + ESP_TRAILER_LEN;
    let padded = unpadded.div_ceil(block) * block;
    ESP_HEADER_LEN + alg.iv_len() + padded + ICV_LEN
}

/// Appends to `out` the ESP packet carrying `payload` (RFC 4303 §3.3):
/// header, IV, payload ‖ padding 1, 2, 3, ... ‖ pad length ‖ next header,
/// encrypted, then the ICV over everything before it.
#[allow(clippy::too_many_arguments)]
pub fn seal(
    integrity: &IntegrityKey,
    cipher: &CipherKey,
    spi: u32,
    seq: u32,
    iv: &[u8],
    next_header: u8,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EspError> {
    let alg = cipher.algorithm();
    if iv.len() != alg.iv_len() {
        return Err(EspError::BadIvLength {
            expected: alg.iv_len(),
            found: iv.len(),
        });
    }
    let total = sealed_len(cipher, payload.len());
    if total > MAX_ESP_LEN {
        return Err(EspError::TooLarge { len: payload.len() });
    }
    let pad_len = total - ESP_HEADER_LEN - iv.len() - ICV_LEN - ESP_TRAILER_LEN - payload.len();
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&spi.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(iv);
    let body = out.len();
    out.extend_from_slice(payload);
    // RFC 4303 §2.4: the default padding is 1, 2, 3, ...; pad_len < 256.
    out.extend((1..=pad_len).map(|i| i as u8));
    out.push(pad_len as u8);
    out.push(next_header);
    cipher.encrypt_in_place(iv, &mut out[body..])?;
    let icv = integrity.icv(&out[start..]);
    out.extend_from_slice(&icv);
    Ok(())
}

/// Checks the shape of an ESP packet and returns its header, without keys.
pub fn check_shape(cipher: &CipherKey, esp: &[u8]) -> Result<EspHeader, EspError> {
    let alg = cipher.algorithm();
    let min = ESP_HEADER_LEN + alg.iv_len() + alg.block_len().max(ESP_TRAILER_LEN) + ICV_LEN;
    if esp.len() < min {
        return Err(EspError::Truncated {
            len: esp.len(),
            min,
        });
    }
    let encrypted = esp.len() - ESP_HEADER_LEN - alg.iv_len() - ICV_LEN;
    if !encrypted.is_multiple_of(alg.block_len()) {
        return Err(EspError::Misaligned {
            len: encrypted,
            block: alg.block_len(),
        });
    }
    EspHeader::parse(esp).ok_or(EspError::Truncated {
        len: esp.len(),
        min,
    })
}

/// Verifies the ICV of `esp` in constant time (RFC 4303 §3.4.4).
pub fn verify_icv(integrity: &IntegrityKey, esp: &[u8], header: EspHeader) -> Result<(), EspError> {
    let split = esp.len() - ICV_LEN;
    if integrity.verify(&esp[..split], &esp[split..]) {
        Ok(())
    } else {
        Err(EspError::IntegrityFailure {
            spi: header.spi,
            seq: header.seq,
        })
    }
}

/// Decrypts a packet whose ICV has already been verified and checks its
/// trailer (RFC 4303 §3.4.4.1, §2.4). The payload is left in place.
pub fn decrypt_verified(
    cipher: &CipherKey,
    esp: &mut [u8],
    header: EspHeader,
) -> Result<Opened, EspError> {
    let iv_len = cipher.algorithm().iv_len();
    let body = ESP_HEADER_LEN + iv_len;
    let end = esp.len() - ICV_LEN;
    let (head, rest) = esp.split_at_mut(body);
    cipher.decrypt_in_place(&head[ESP_HEADER_LEN..], &mut rest[..end - body])?;
    let pad_len = usize::from(esp[end - 2]);
    let next_header = esp[end - 1];
    let bad_padding = EspError::BadPadding {
        spi: header.spi,
        seq: header.seq,
    };
    let payload_end = (end - ESP_TRAILER_LEN)
        .checked_sub(pad_len)
        .filter(|&e| e >= body)
        .ok_or(bad_padding)?;
    let padding = &esp[payload_end..end - ESP_TRAILER_LEN];
    if !padding
        .iter()
        .enumerate()
        .all(|(i, &b)| usize::from(b) == i + 1)
    {
        return Err(bad_padding);
    }
    if next_header == NEXT_HEADER_NO_NEXT {
        return Err(EspError::DummyPacket { spi: header.spi });
    }
    Ok(Opened {
        header,
        next_header,
        payload: body..payload_end,
    })
}

/// Shape check, ICV check, then decryption, with no replay window: for
/// tools and for callers that keep their own window.
pub fn open_verified(
    integrity: &IntegrityKey,
    cipher: &CipherKey,
    esp: &mut [u8],
) -> Result<Opened, EspError> {
    let header = check_shape(cipher, esp)?;
    verify_icv(integrity, esp, header)?;
    decrypt_verified(cipher, esp, header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{EncryptionAlgorithm, IntegrityAlgorithm};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn keys(e: EncryptionAlgorithm, ekey: &[u8]) -> (IntegrityKey, CipherKey) {
        (
            IntegrityKey::new(IntegrityAlgorithm::HmacSha196, &[0x11; 20]).unwrap(),
            CipherKey::new(e, ekey).unwrap(),
        )
    }

    /// RFC 3602 §4 Case #5 and #6: ESP packets with AES-CBC. The RFC's
    /// packets carry no ICV; everything before ours must match byte for byte.
    #[test]
    fn rfc3602_esp_cases_5_and_6() {
        let cases = [
            (
                1u32,
                "e96e8c08ab465763fd098d45dd3ff893",
                "08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
                "0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6",
            ),
            (
                8,
                "69d08df7d203329db093fc4924e5bd80",
                "0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
                "000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
            ),
        ];
        let (ik, ck) = keys(
            EncryptionAlgorithm::AesCbc,
            &h("90d382b410eeba7ad938c46cec1a82bf"),
        );
        for (seq, iv, payload, expect) in cases {
            let mut out = Vec::new();
            seal(&ik, &ck, 0x4321, seq, &h(iv), 1, &h(payload), &mut out).unwrap();
            assert_eq!(hex::encode(&out[..out.len() - ICV_LEN]), expect);
            let opened = open_verified(&ik, &ck, &mut out).unwrap();
            assert_eq!(opened.next_header, 1);
            assert_eq!(hex::encode(&out[opened.payload]), payload);
        }
    }

    #[test]
    fn padding_aligns_to_the_block_for_each_cipher() {
        for (alg, key) in [
            (EncryptionAlgorithm::AesCbc, vec![1u8; 16]),
            (EncryptionAlgorithm::DesEde3Cbc, vec![2u8; 24]),
            (EncryptionAlgorithm::Null, vec![]),
        ] {
            let (ik, ck) = keys(alg, &key);
            let iv = vec![9u8; alg.iv_len()];
            for len in 0..40 {
                let payload: Vec<u8> = (0..len as u8).collect();
                let mut out = vec![0xee; 3]; // seal appends
                seal(&ik, &ck, 7, 1, &iv, 17, &payload, &mut out).unwrap();
                let esp = &mut out[3..];
                assert_eq!(esp.len(), sealed_len(&ck, len));
                let enc = esp.len() - 8 - alg.iv_len() - ICV_LEN;
                assert_eq!(enc % alg.block_len(), 0);
                assert!(enc - len - 2 < alg.block_len());
                let o = open_verified(&ik, &ck, esp).unwrap();
                assert_eq!(&esp[o.payload], &payload[..]);
            }
        }
    }

    #[test]
    fn any_flipped_bit_fails_the_icv() {
        let (ik, ck) = keys(EncryptionAlgorithm::AesCbc, &[3u8; 16]);
        let mut good = Vec::new();
        seal(
            &ik,
            &ck,
            0x1000,
            5,
            &[4u8; 16],
            17,
            b"REGISTER sip:x",
            &mut good,
        )
        .unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            let e = open_verified(&ik, &ck, &mut bad).unwrap_err();
            assert!(
                matches!(e, EspError::IntegrityFailure { .. }),
                "byte {i}: {e:?}"
            );
        }
    }

    #[test]
    fn bad_trailer_after_a_valid_icv_is_bad_padding() {
        // NULL cipher: forge a trailer and recompute the ICV with the key.
        let (ik, ck) = keys(EncryptionAlgorithm::Null, &[]);
        let mut esp = h("0000100000000001");
        esp.extend_from_slice(&[0xaa, 0xbb, 9, 17]); // pad_len 9 > available
        let icv = ik.icv(&esp);
        esp.extend_from_slice(&icv);
        assert!(matches!(
            open_verified(&ik, &ck, &mut esp),
            Err(EspError::BadPadding { .. })
        ));
        let mut esp = h("0000100000000001");
        esp.extend_from_slice(&[0xaa, 7, 1, 17]); // padding byte 7, not 1
        let icv = ik.icv(&esp);
        esp.extend_from_slice(&icv);
        assert!(matches!(
            open_verified(&ik, &ck, &mut esp),
            Err(EspError::BadPadding { .. })
        ));
    }

    #[test]
    fn short_and_misaligned_packets_are_rejected_before_crypto() {
        let (ik, ck) = keys(EncryptionAlgorithm::AesCbc, &[3u8; 16]);
        assert!(matches!(
            open_verified(&ik, &ck, &mut [0u8; 20]),
            Err(EspError::Truncated { .. })
        ));
        assert!(matches!(
            open_verified(&ik, &ck, &mut [0u8; 8 + 16 + 17 + 12]),
            Err(EspError::Misaligned { .. })
        ));
        assert_eq!(EspHeader::parse(&[0u8; 7]), None);
    }

    #[test]
    fn dummy_packets_are_reported() {
        let (ik, ck) = keys(EncryptionAlgorithm::Null, &[]);
        let mut out = Vec::new();
        seal(&ik, &ck, 1, 1, &[], NEXT_HEADER_NO_NEXT, b"", &mut out).unwrap();
        assert_eq!(
            open_verified(&ik, &ck, &mut out),
            Err(EspError::DummyPacket { spi: 1 })
        );
    }
}
