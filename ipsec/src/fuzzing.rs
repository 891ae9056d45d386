//! Entry points shared by the fuzz targets in `ipsec/fuzz/` and the test
//! that replays their seed corpus (`tests/fuzz_corpus.rs`). Each must return
//! for every input without panicking.

use crate::algorithm::{EncryptionAlgorithm, IntegrityAlgorithm};
use crate::sa::{Direction, SaParams, SecurityAssociation};
use crate::sec_agree::{choose, parse_sec_header, take_ck_ik, AlgorithmPolicy};
use crate::transport;

/// ESP decapsulation of untrusted bytes. The first byte picks the cipher
/// (bits 0-1: AES-CBC, 3DES, NULL), the integrity algorithm (bit 2: SHA-1,
/// MD5) and the path (bits 3-4: ESP only, IP packet, UDP-encapsulated IP
/// packet); the rest is the packet. Keys are 0x11… and 0x22…. A bad ICV is the expected outcome; a panic is a bug.
pub fn esp_decapsulate(data: &[u8]) -> usize {
    let Some((&selector, packet)) = data.split_first() else {
        return 0;
    };
    let encryption = EncryptionAlgorithm::ALL[usize::from((selector & 3) % 3)];
    let integrity = IntegrityAlgorithm::ALL[usize::from((selector >> 2) & 1)];
    let params = SaParams {
        spi: 0x1001,
        direction: Direction::Inbound,
        local: "10.0.0.1:6100".parse().expect("literal address"),
        remote: "10.0.0.2:5060".parse().expect("literal address"),
        integrity,
        auth_key: vec![0x11; integrity.key_len()],
        encryption,
        enc_key: vec![0x22; encryption.key_len()],
        expires_at_ms: u64::MAX,
    };
    let iv = crate::crypto::IvGenerator::from_seed(&[0; 24]);
    let Ok(sa) = SecurityAssociation::with_iv_generator(params, iv, Default::default()) else {
        return 0;
    };
    let mut buf = packet.to_vec();
    let mut out = Vec::new();
    let ok = match ((selector >> 3) & 3) % 3 {
        0 => sa.open(&mut buf).is_ok(),
        1 => transport::unprotect(&sa, &mut buf, false, &mut out).is_ok(),
        _ => transport::unprotect(&sa, &mut buf, true, &mut out).is_ok(),
    };
    usize::from(ok) + out.len()
}

/// The Security-Client path of a REGISTER: parse, choose, and the 401's
/// WWW-Authenticate key extraction, on untrusted text.
pub fn security_client(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let mut n = 0;
    if let Ok(mechanisms) = parse_sec_header(text) {
        n += mechanisms.len();
        for m in &mechanisms {
            n += m.to_string().len();
        }
        if let Ok(agreement) = choose(&mechanisms, &AlgorithmPolicy::default()) {
            n += agreement.ue.port_s as usize;
        }
    }
    if let Ok(stripped) = take_ck_ik(text) {
        n += stripped.header.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_garbage() {
        for len in 0..64usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            esp_decapsulate(&data);
            security_client(&data);
        }
    }

    #[test]
    fn a_valid_offer_goes_all_the_way() {
        let n = security_client(
            b"ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=1;spi-s=2;port-c=3;port-s=4",
        );
        assert!(n > 4, "the offer was parsed and chosen");
    }
}
